"""An open loop at the outage's own rate: every waiting caller's wait document once per 20 s (N/20 a second)
and 20 new callers a second, for --open-seconds.

wrk2 is not in Debian, so this is a small driver: the requests are signed beforehand and given out to a
few processes (on the load generator's core) of many threads, each with a keep-alive connection. Request i
is due at a fixed time; a thread sends it at that time or, if every connection was busy, as soon as one
is free, and its latency counts from when it was due, not from when it could be sent (no coordinated
omission). Twilio waits 15 s for a webhook: a request not answered 15 s after it was due is a failure (it
is not sent at all if it could not be sent in time), as is an answer other than a 200 with the expected
document.
"""

from __future__ import annotations

import multiprocessing as mp
import random
import threading
import time

from bench.harness import Client, percentile
from ivr.render import PATHS

ARRIVALS_PER_SECOND = 20
WAIT_EVERY_SECONDS = 20  # Twilio re-fetches each wait document when the last has played (hold audio ~20 s)
TWILIO_GIVES_UP = 15.0
PROCESSES = 2
THREADS = 32  # per process: connections that may be waiting on the server at once


def schedule(outage, seconds: float) -> list[tuple[float, str, tuple]]:
    """(due offset, kind, signed request) for the run, in due order."""
    items = []
    for i in range(int(ARRIVALS_PER_SECOND * seconds)):
        request = outage.twilio.sign(PATHS["arrive"], outage.twilio.new_call())
        items.append((i / ARRIVALS_PER_SECOND, "arrive", request))
    if outage.line:
        count = int(len(outage.line) / WAIT_EVERY_SECONDS * seconds)
        order = [i % len(outage.line) for i in range(count)]
        random.Random(7).shuffle(order)
        for j, index in enumerate(order):
            path, params = outage.wait_request(index)
            params["QueueTime"] = str(int(params["QueueTime"]) + int(j * WAIT_EVERY_SECONDS / len(outage.line)))
            items.append((j * WAIT_EVERY_SECONDS / len(outage.line), "wait", outage.twilio.sign(path, params)))
    items.sort(key=lambda item: item[0])
    return items


def expected(kind: str, status: int, text: str) -> bool:
    if status != 200:
        return False
    if kind == "arrive":
        return "<Gather" in text
    return "Someone will be with you as soon as possible" not in text and "<Response" in text


def drive(port: int, items: list, ready, start_at, out) -> None:
    """One load process: THREADS threads take the next request due, send it at its time, time it."""
    ready.put(True)
    start = start_at.get()
    next_item, lock, results = iter(range(len(items))), threading.Lock(), []

    def loop() -> None:
        client = Client(port)
        while True:
            with lock:
                i = next(next_item, None)
            if i is None:
                break
            offset, kind, (path, body, headers) = items[i]
            due = start + offset
            if (wait := due - time.monotonic()) > 0:
                time.sleep(wait)
            left = due + TWILIO_GIVES_UP - time.monotonic()
            if left <= 0:
                results.append((kind, None, False))  # Twilio would have given up before it was sent
                continue
            status, text, _ = client.post(path, body, headers, timeout=left)
            latency = time.monotonic() - due
            results.append((kind, latency, expected(kind, status, text) and latency <= TWILIO_GIVES_UP))
        client.close()

    threads = [threading.Thread(target=loop) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(results)


def run(outage, seconds: float) -> dict:
    """Run the open loop against OUTAGE's service; answered, p50, p99, max, and failures (overall and per kind)."""
    items = schedule(outage, seconds)
    ctx = mp.get_context("spawn")
    ready, start_at, out = ctx.Queue(), ctx.Queue(), ctx.Queue()
    shares = [items[p::PROCESSES] for p in range(PROCESSES)]
    procs = [ctx.Process(target=drive, args=(outage.port, share, ready, start_at, out)) for share in shares]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get()
    start = time.monotonic() + 0.5
    for _ in procs:
        start_at.put(start)
    results = [r for _ in procs for r in out.get()]
    for p in procs:
        p.join()
    return summary(results, len(items), seconds)


def summary(results: list, sent: int, seconds: float) -> dict:
    answered = sorted(lat for _, lat, ok in results if ok)
    per_kind = {}
    for kind in ("arrive", "wait"):
        mine = sorted(lat for k, lat, ok in results if ok and k == kind)
        per_kind[kind] = {
            "sent": sum(1 for k, *_ in results if k == kind),
            "p99": percentile(mine, 99),
            "failed": sum(1 for k, _, ok in results if k == kind and not ok),
        }
    return {
        "rate": sent / seconds,
        "sent": sent,
        "answered": len(answered),
        "p50": percentile(answered, 50),
        "p99": percentile(answered, 99),
        "max": max((lat for _, lat, _ in results if lat is not None), default=float("nan")),
        "failed": sum(1 for _, _, ok in results if not ok),
        "kinds": per_kind,
    }
