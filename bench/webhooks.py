"""Benchmark the voice webhooks the way Twilio drives them, as a ratio against a bare Flask app in the same run.

What it does, all on 127.0.0.1 and all stopped by itself at the end:

1. Starts a real Redis (ivr.store.embedded_redis.EmbeddedRedis, a temporary folder, no persistence).
2. Starts the service with the Procfile's `web:` command, run by `bash -c` exactly as written, with PORT,
   REDIS_URL, TWILIO_AUTH_TOKEN, PUBLIC_URL and FLOWS_DIR set (WEB_CONCURRENCY defaults to 2).
3. Starts the baseline, bench/bare_app.py, with the very same command but for the app it serves, so both
   have the same gunicorn workers, worker class, threads and access log.
4. Sends signed `POST /voice` arrivals, each from a new caller number (+1555...) with a new CallSid, over
   keep-alive HTTP/1.1 connections held by a separate pool of load processes (a few threads each, so the
   client's GIL does not cap the server). Every run is a warm-up and then a fixed measured window, and the
   runs alternate (bare, service, bare, service, ...) so the drift of a noisy machine hits both. A non-200
   answer, a failed request, or an answer from the service without a `<Gather` (the menu, proof that the
   real work ran) is an error. Two kinds of runs, closed loop first:

   - Closed loop, for throughput (--connections, --seconds, --rounds): each connection sends its next
     request when the previous answer arrives. A request counts if it starts and ends inside the window.
     This gives requests/s and the ratio service/bare. Its latency says little about a caller: with C
     connections the mean latency is C / throughput (Little's law), so at 16 connections a p99 under 15 ms
     would need well over 1,000 requests/s whatever the load Twilio really brings.
   - Open loop, for latency (--rate, --open-seconds, --open-rounds): requests are due at a fixed arrival
     rate (request i at start + i / rate), spread over up to --connections connections (each load process
     takes every procs-th request with its share of the connections). A free connection takes the earliest
     request not yet sent and sends it at its due time; a request that comes due while all the connections
     are busy waits for one, and its latency is counted from its due time, not from when it could be sent,
     so queueing is measured rather than hidden (no coordinated omission). Every request due inside the
     window is sent and awaited, even past the window's end. Reported: achieved rate (answered requests of
     the window over the time from the window's start to the last answer, at least the window), p50, p99,
     p99.9 (from 1,000 samples up), max, how many were sent over 1 ms late (queued in the client), errors.

   Over each measured window this process also reads the CPU time (utime + stime, and that of reaped
   children, from /proc/PID/stat) of every process in the server's process group (the gunicorn master and
   its workers) and of the Redis server, and divides it by the answers that came inside the window: CPU
   microseconds per request, for bare and service, and Redis's apart. The machine is CPU-bound (the load
   processes share its cores with the servers, the same for both), so this is where the ratio comes from.
5. Prints a table per kind of run, the ratio service/bare (closed loop), "CPU µs per request: bare X,
   service Y (+ Redis Z)" (closed loop), the closed-loop p99 at --connections (labelled as such), the
   open-loop service latencies at --rate, and the goals with PASS or MISS: ratio >= 0.6 on the closed loop,
   p99 < 15 ms on the open loop's service runs at --rate (all its rounds pooled).
6. Counts Redis round trips per webhook, in this process, for one call followed through its webhooks with
   the project's Twilio stand-in (tests/twilio_sim.py) and the app from webhooks.create_app() on the same
   Redis. create_app() builds its own redis client and offers no way to pass a connection class in, so the
   bench sets the redis-py pool's `connection_class` on that client (before it has opened any connection)
   to a Connection subclass that counts `send_packed_command` calls: redis-py makes exactly one such call
   per command or per pipeline, and reads all the replies before the next one, so one call is one round
   trip (a health-check PING, when due, is a round trip of its own and is counted). Nothing in the project
   is patched. As a cross-check, the Redis server's `INFO commandstats` gives the commands each webhook ran
   (MULTI and EXEC included, and the commands run inside Lua scripts too).

Run it from the repository root (a run with the defaults takes about 75 seconds: 4 closed-loop runs of
2 + 10 s, 2 open-loop runs of 2 + 6 s at 300 requests/s):

    .venv/bin/python bench/webhooks.py
    .venv/bin/python bench/webhooks.py --connections 8 --seconds 5 --rounds 3
    .venv/bin/python bench/webhooks.py --rate 600 --open-seconds 10 --open-rounds 2
    .venv/bin/python bench/webhooks.py --rate 0                      # closed loop only
    .venv/bin/python bench/webhooks.py --workers 2 --threads 8      # WEB_CONCURRENCY / WEB_THREADS
"""

from __future__ import annotations

import argparse
import http.client
import logging
import multiprocessing as mp
import os
import queue
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# Run as a script, this file's folder comes first on sys.path and this file would shadow the `webhooks`
# package it measures: put the repository root there instead (the spawned load processes inherit it).
if sys.path and Path(sys.path[0] or ".").resolve() == BENCH:
    sys.path[0] = str(ROOT)

from ivr.settings import ENV_NAMES  # noqa: E402

TOKEN = "bench-auth-token-0c9d6e"
DATA_KEY = "k2J0r1Q8bm6t0cV3yJ2rX8n1GqU5pW7sZ4aB9dE6fHs="  # a Fernet key for the numbers the bench's calls keep
LINE = "+15005550006"
BARE_APP = "bench.bare_app:app"
GOAL_RATIO = 0.6
GOAL_P99_MS = 15.0
OPEN_P999_MIN = 1000  # samples a run needs before its p99.9 is shown: at least one beyond it
NUMBER_SPACE = 10**7  # +1555 followed by seven digits


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark POST /voice under Twilio-like load, as a ratio against a bare Flask app "
        "served with the same gunicorn settings (everything on 127.0.0.1): closed-loop runs for "
        "throughput and CPU per request, then open-loop runs at a fixed arrival rate for latency."
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=16,
        help="concurrent keep-alive connections; in the open loop, the most it uses (16)",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per closed-loop run (10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds before each run (2)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of bare-then-service closed-loop runs (2)")
    parser.add_argument(
        "--rate",
        type=float,
        default=300.0,
        help="open-loop arrival rate, requests per second (300); 0 skips the open loop",
    )
    parser.add_argument("--open-seconds", type=float, default=6.0, help="measured seconds per open-loop run (6)")
    parser.add_argument("--open-rounds", type=int, default=1, help="rounds of bare-then-service open-loop runs (1)")
    parser.add_argument(
        "--procs",
        type=int,
        default=os.cpu_count() or 2,
        help="load-generator processes the connections are spread over (one per CPU)",
    )
    parser.add_argument("--workers", help="WEB_CONCURRENCY for both servers (default: env, else 2)")
    parser.add_argument("--threads", help="WEB_THREADS for both servers (default: env, else the Procfile's)")
    args = parser.parse_args(argv)
    if args.connections < 1 or args.rounds < 1 or args.procs < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("connections, rounds and procs must be at least 1, seconds above 0, warmup 0 or more")
    if args.rate < 0 or args.open_seconds <= 0 or args.open_rounds < 1:
        parser.error("rate must be 0 or more, open-seconds above 0, open-rounds at least 1")
    args.procs = min(args.procs, args.connections)
    return args


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def procfile_web() -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line[len("web:") :].strip()
    raise SystemExit("no `web:` line in the Procfile")


def bare_command(web: str) -> str:
    """The Procfile's web command with the bare app in place of the service: same gunicorn settings."""
    words = shlex.split(web)
    if not words or Path(words[0]).name != "gunicorn":
        raise SystemExit(f"the Procfile's web command is not gunicorn, cannot copy its settings: {web}")
    app = words[-1]
    for written in (f'"{app}"', f"'{app}'", app):
        at = web.rfind(written)
        if at >= 0:
            return web[:at] + BARE_APP + web[at + len(written) :]
    raise SystemExit(f"cannot find the app {app!r} in the Procfile's web command")


def server_env(port: int, extra: dict[str, str], args: argparse.Namespace) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # the venv's gunicorn
    env["PORT"] = str(port)
    env["WEB_CONCURRENCY"] = args.workers or os.environ.get("WEB_CONCURRENCY") or "2"
    if args.threads:
        env["WEB_THREADS"] = args.threads
    env.update(extra)
    return env


class Server:
    """A `bash -c` command in its own process group, logging to a file; stopped with the whole group."""

    def __init__(self, name: str, command: str, env: dict[str, str], logdir: Path):
        self.name, self.command, self.env = name, command, env
        self.port = int(env["PORT"])
        self.log = logdir / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> Server:
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                ["bash", "-c", self.command],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.request("GET", "/")
                conn.getresponse().read()  # any answer (a 404 or 405) means it serves
                conn.close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"{self.name} did not answer within {timeout:.0f} s:\n{self.tail()}") from None
                time.sleep(0.1)

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process is None:
            return
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        self.process = None


# --------------------------------------------------------------------------- load


def load_process(index: int, conn_ids: list[int], public_url: str, jobs, results) -> None:
    """One load-generator process: a thread per connection for each job, until it gets None."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(TOKEN)
    account = "AC" + secrets.token_hex(16)
    results.put(("ready", index, None))
    while (job := jobs.get()) is not None:
        outs: list[dict] = [{} for _ in conn_ids]
        if job["mode"] == "open":
            slots = Slots(first=index, step=job["procs"])
            threads = [
                threading.Thread(target=drive_open, args=(job, slots, validator, account, public_url, outs[i]))
                for i in range(len(conn_ids))
            ]
        else:
            threads = [
                threading.Thread(target=drive, args=(job, cid, validator, account, public_url, outs[i]))
                for i, cid in enumerate(conn_ids)
            ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        merged = empty_result()
        for out in outs:
            merge(merged, out)
        results.put(("done", index, merged))


def empty_result() -> dict:
    return {"latencies": array("d"), "ok": 0, "errors": Counter(), "completed": 0, "late": 0, "last": 0.0}


def merge(into: dict, out: dict) -> None:
    into["latencies"].extend(out["latencies"])
    into["ok"] += out["ok"]
    into["errors"].update(out["errors"])
    into["completed"] += out.get("completed", 0)
    into["late"] += out.get("late", 0)
    into["last"] = max(into["last"], out.get("last", 0.0))


def signed_arrival(validator, account: str, url: str, number: int) -> tuple[bytes, dict[str, str]]:
    """The body and headers Twilio sends for a new inbound call from +1555 and `number`."""
    params = {
        "CallSid": "CA" + secrets.token_hex(16),
        "AccountSid": account,
        "From": f"+1555{number:07d}",
        "To": LINE,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": validator.compute_signature(url, params),
        "User-Agent": "TwilioProxy/1.1",
        "Accept": "*/*",
    }
    return urlencode(params).encode(), headers


def exchange(conn: http.client.HTTPConnection | None, job: dict, body: bytes, headers: dict[str, str]):
    """Send one POST /voice on the keep-alive connection (opened if need be): (problem or None, connection)."""
    problem = None
    try:
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", job["port"], timeout=15)
        conn.request("POST", "/voice", body, headers)
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            problem = f"HTTP {response.status}"
        elif job["expect"].encode() not in data:
            problem = f"no {job['expect']} in the answer"
        if response.will_close:
            conn.close()
            conn = None
    except (OSError, http.client.HTTPException) as exc:
        problem = type(exc).__name__
        if conn is not None:
            conn.close()
            conn = None
    return problem, conn


def drive(job: dict, conn_id: int, validator, account: str, public_url: str, out: dict) -> None:
    """Closed loop, one keep-alive connection: signed arrivals, each from a new number, back to back."""
    latencies, errors, ok, completed = array("d"), Counter(), 0, 0
    url = public_url.rstrip("/") + "/voice"
    first = job["number_base"] + conn_id * job["numbers_per_connection"]
    conn: http.client.HTTPConnection | None = None
    delay = job["start"] - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    for seq in range(job["numbers_per_connection"]):
        if time.monotonic() >= job["end"]:
            break
        body, headers = signed_arrival(validator, account, url, first + seq)
        t0 = time.monotonic()
        problem, conn = exchange(conn, job, body, headers)
        t1 = time.monotonic()
        if job["measure_from"] <= t1 <= job["end"]:
            completed += 1  # answers inside the window, whenever sent: the divisor of the CPU per request
        if t0 >= job["measure_from"] and t1 <= job["end"]:
            if problem:
                errors[problem] += 1
            else:
                ok += 1
            latencies.append((t1 - t0) * 1000.0)
    else:
        errors["ran out of distinct caller numbers"] += 1
    if conn is not None:
        conn.close()
    out.update(latencies=latencies, ok=ok, errors=errors, completed=completed)


class Slots:
    """This process's share of the open-loop schedule: slots first, first + step, ...; each taken once."""

    def __init__(self, first: int, step: int):
        self.next, self.step, self.lock = first, step, threading.Lock()

    def take(self) -> int:
        with self.lock:
            slot = self.next
            self.next += self.step
            return slot


def drive_open(job: dict, slots: Slots, validator, account: str, public_url: str, out: dict) -> None:
    """Open loop, one keep-alive connection: whenever it is free, take the earliest slot not yet taken, wait
    for its time (slot i is due at start + i / rate) and send it. A slot that comes due while every connection
    of the process is busy waits for the first to free up, and its latency still counts from its due time:
    the queueing a caller would see is measured, not hidden (no coordinated omission). Slots due inside the
    measured window are all sent and awaited, even when their answers come after the window's end."""
    latencies, errors, ok, completed, late, last = array("d"), Counter(), 0, 0, 0, 0.0
    url = public_url.rstrip("/") + "/voice"
    conn: http.client.HTTPConnection | None = None
    while True:
        slot = slots.take()
        due = job["start"] + slot / job["rate"]
        if due >= job["end"]:
            break
        if slot >= job["numbers_per_run"]:
            errors["ran out of distinct caller numbers"] += 1
            break
        body, headers = signed_arrival(validator, account, url, job["number_base"] + slot)
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sent = time.monotonic()
        problem, conn = exchange(conn, job, body, headers)
        t1 = time.monotonic()
        if job["measure_from"] <= t1 <= job["end"]:
            completed += 1
        if due >= job["measure_from"]:
            if problem:
                errors[problem] += 1
            else:
                ok += 1
            if sent - due > 0.001:
                late += 1
            latencies.append((t1 - due) * 1000.0)
            last = max(last, t1)
    if conn is not None:
        conn.close()
    out.update(latencies=latencies, ok=ok, errors=errors, completed=completed, late=late, last=last)


class LoadPool:
    """Load-generator processes, started once and given one job per run."""

    def __init__(self, connections: int, procs: int, public_url: str):
        ctx = mp.get_context("spawn")
        self.results = ctx.Queue()
        self.jobs = [ctx.Queue() for _ in range(procs)]
        spread = [list(range(connections))[i::procs] for i in range(procs)]
        self.processes = [
            ctx.Process(target=load_process, args=(i, spread[i], public_url, self.jobs[i], self.results), daemon=True)
            for i in range(procs)
        ]

    def start(self, timeout: float = 30.0) -> LoadPool:
        for p in self.processes:
            p.start()
        for _ in self.processes:
            self._get("ready", time.monotonic() + timeout)
        return self

    def run(self, job: dict) -> dict:
        job = {**job, "procs": len(self.processes)}
        for q in self.jobs:
            q.put(job)
        deadline = job["end"] + 30
        merged = empty_result()
        for _ in self.processes:
            merge(merged, self._get("done", deadline))
        return merged

    def _get(self, kind: str, deadline: float):
        while True:
            try:
                got, _, payload = self.results.get(timeout=0.5)
            except queue.Empty:
                dead = [p for p in self.processes if not p.is_alive()]
                if dead or time.monotonic() > deadline:
                    raise SystemExit(f"load generator {'died' if dead else 'timed out'} waiting for {kind}") from None
                continue
            if got == kind:
                return payload

    def stop(self) -> None:
        for q, p in zip(self.jobs, self.processes, strict=True):
            if p.is_alive():
                q.put(None)
        for p in self.processes:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)


# --------------------------------------------------------------------------- CPU of the servers

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name, or None: [0] is field 3 (state), so field N is
    at N - 3 (pgrp 5 at 2, utime 14 at 11, stime 15 at 12, cutime 16 at 13, cstime 17 at 14)."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return data[data.rindex(")") + 2 :].split()


def group_cpu_ticks(pgid: int) -> int:
    """CPU ticks, user and system, of every process in the process group: the gunicorn master (and the
    `bash -c` above it, if bash did not exec it) and its workers, all their threads. The reaped children's
    time (cutime, cstime) is counted too, so a worker that exits inside a window stays counted."""
    total = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (fields := proc_stat(int(entry.name))) and int(fields[2]) == pgid:
            total += sum(int(f) for f in fields[11:15])
    return total


def pid_cpu_ticks(pid: int) -> int:
    fields = proc_stat(pid)
    return sum(int(f) for f in fields[11:15]) if fields else 0


class CpuWindow(threading.Thread):
    """Samples the servers' CPU time at the measured window's start and end, from this (otherwise idle) process."""

    def __init__(self, start: float, end: float, probes: dict[str, object]):
        super().__init__(daemon=True)
        self.start_at, self.end_at, self.probes = start, end, probes
        self.seconds: dict[str, float] = {name: float("nan") for name in probes}

    def run(self) -> None:
        def sample_at(when: float) -> dict[str, int]:
            delay = when - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            return {name: probe() for name, probe in self.probes.items()}

        before = sample_at(self.start_at)
        after = sample_at(self.end_at)
        self.seconds = {name: (after[name] - before[name]) / CLOCK_TICKS for name in self.probes}


def run_measured(pool: LoadPool, job: dict, target: Server, store) -> tuple[dict, dict[str, float]]:
    """One run of the load pool with the CPU of the target's processes and of Redis sampled over its window."""
    pgid = target.process.pid  # start_new_session: the `bash -c` leads the group gunicorn runs in
    window = CpuWindow(
        job["measure_from"],
        job["end"],
        {"server": lambda: group_cpu_ticks(pgid), "redis": lambda: pid_cpu_ticks(store.process.pid)},
    )
    window.start()
    out = pool.run(job)
    window.join(timeout=5)
    return out, window.seconds


def percentile(sorted_values, q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, int(-(-q * len(sorted_values) // 100)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarise(name: str, round_no: int, out: dict, seconds: float, cpu: dict[str, float]) -> dict:
    lat = sorted(out["latencies"])
    errors = sum(out["errors"].values())
    return {
        "name": name,
        "round": round_no,
        "requests": out["ok"] + errors,
        "ok": out["ok"],
        "errors": errors,
        "why": dict(out["errors"]),
        "rps": out["ok"] / seconds,
        "p50": percentile(lat, 50),
        "p99": percentile(lat, 99),
        "latencies": lat,
        "completed": out["completed"],
        "cpu_server": cpu["server"],
        "cpu_redis": cpu["redis"],
    }


def summarise_open(name: str, round_no: int, out: dict, job: dict, cpu: dict[str, float]) -> dict:
    """Open-loop run: achieved rate is the answered slots of the window over the time from the window's start
    to the last of their answers (at least the window); p99.9 only from OPEN_P999_MIN samples up."""
    lat = sorted(out["latencies"])
    errors = sum(out["errors"].values())
    seconds = job["end"] - job["measure_from"]
    span = max(seconds, out["last"] - job["measure_from"])
    return {
        "name": name,
        "round": round_no,
        "requests": out["ok"] + errors,
        "ok": out["ok"],
        "errors": errors,
        "why": dict(out["errors"]),
        "rps": out["ok"] / span,
        "p50": percentile(lat, 50),
        "p99": percentile(lat, 99),
        "p999": percentile(lat, 99.9) if len(lat) >= OPEN_P999_MIN else None,
        "max": lat[-1] if lat else float("nan"),
        "late": out["late"],
        "latencies": lat,
        "completed": out["completed"],
        "cpu_server": cpu["server"],
        "cpu_redis": cpu["redis"],
    }


def cpu_us(runs: list[dict], key: str) -> float:
    """CPU microseconds per request, pooled over runs: CPU seconds in the windows / answers in the windows."""
    done = sum(x["completed"] for x in runs)
    return sum(x[key] for x in runs) / done * 1e6 if done else float("nan")


# --------------------------------------------------------------------------- Redis round trips


def count_round_trips(redis_url: str, public_url: str) -> list[tuple[str, int, str]]:
    """Follow one call through its webhooks in-process; per webhook: (what, round trips, commands)."""
    import redis

    from tests.twilio_sim import Twilio
    from webhooks import create_app

    class CountingConnection(redis.connection.Connection):
        """One send_packed_command is one command or one whole pipeline written: one round trip."""

        sends = 0

        def send_packed_command(self, command, check_health=True):
            type(self).sends += 1
            return super().send_packed_command(command, check_health)

    logging.basicConfig(level=logging.WARNING)  # before create_app, so its INFO lines stay quiet here
    app = create_app(
        {
            "REDIS_URL": redis_url,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "DATA_KEYS": DATA_KEY,
            "PUBLIC_URL": public_url,
            "FLOWS_DIR": str(ROOT / "flows"),
            "FALLBACK_NUMBER": "",
            "TESTING": True,
        }
    )
    pool = app.extensions["ivr"].redis.connection_pool
    pool.disconnect()  # the checks at start used a connection: drop it, so every later one is a counting one
    pool.reset()
    pool.connection_class = CountingConnection
    observer = redis.Redis.from_url(redis_url, decode_responses=True)
    twilio = Twilio(app.test_client(), TOKEN, public_url, line=LINE)
    rows: list[tuple[str, int, str]] = []

    def measure(what: str, action) -> None:
        before_stats, before_sends = observer.info("commandstats"), CountingConnection.sends
        action()
        sends = CountingConnection.sends - before_sends
        after = observer.info("commandstats")
        commands = Counter()
        for name, stats in after.items():
            if name != "cmdstat_info":
                calls = stats["calls"] - before_stats.get(name, {}).get("calls", 0)
                if calls:
                    commands[name.removeprefix("cmdstat_").upper()] = calls
        described = f"{sum(commands.values())}: " + " ".join(
            f"{c}x{n}" if n > 1 else c for c, n in sorted(commands.items())
        )
        rows.append((what, sends, described))

    def whole_call(call, record) -> None:
        steps = []
        steps.append(("POST /voice (new caller: menu)", call.start))
        steps.append(("POST /voice/gather Digits=0 (Dial a person)", lambda: call.press("0")))
        docs = {}

        def whisper():
            docs["whisper"] = call.whisper()[1]

        steps.append(("POST /voice/whisper (agent leg)", whisper))
        steps.append(("POST /voice/whisper/reply Digits=1 (bridge)", lambda: call.agent_presses(docs["whisper"], "1")))
        steps.append(("POST /voice/dialled completed, bridged", lambda: call.dial_result("completed", True, "120")))
        steps.append(("POST /voice/status completed", call.hangup))
        for what, action in steps:
            if record:
                measure(what, action)
            else:
                action()

    number = "+15559999001"
    whole_call(twilio.call(from_="+15559999000"), record=False)  # warm-up: connect, load the Lua scripts
    call = twilio.call(from_=number)
    whole_call(call, record=True)
    again = twilio.call(from_=number)
    measure("POST /voice (returning caller: their person)", again.start)
    if again.dial() is None:
        rows[-1] = (rows[-1][0] + " [no Dial!]", *rows[-1][1:])
    first = rows[0]
    if "<Gather" not in call.history[0]:
        rows[0] = (first[0] + " [no Gather!]", *first[1:])
    observer.close()
    app.extensions["ivr"].redis.close()
    return rows


# --------------------------------------------------------------------------- output


def show(title: str, headers: list[str], rows: list[list[str]]) -> None:
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, title_justify="left")
        for h in headers:
            table.add_column(h, justify="left" if h in ("round", "app", "webhook", "commands") else "right")
        for row in rows:
            table.add_row(*row)
        Console().print(table)
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks on kill too
    from ivr.store.embedded_redis import EmbeddedRedis

    web = procfile_web()
    service_port, bare_port = free_port(), free_port()
    public_url = f"http://127.0.0.1:{service_port}"
    open_rounds = args.open_rounds if args.rate > 0 else 0
    per_run = NUMBER_SPACE // (2 * args.rounds + 2 * open_rounds)
    servers: list[Server] = []
    pool: LoadPool | None = None
    runs: list[dict] = []
    open_runs: list[dict] = []
    round_trips: list[tuple[str, int, str]] = []
    with tempfile.TemporaryDirectory(prefix="ivr-bench-") as tmp:
        tmp = Path(tmp)
        store = EmbeddedRedis(tmp / "redis", persist=False)
        try:
            store.start()
            service_env = server_env(
                service_port,
                {
                    "REDIS_URL": store.url,
                    "TWILIO_AUTH_TOKEN": TOKEN,
                    "DATA_KEYS": DATA_KEY,
                    "PUBLIC_URL": public_url,
                    "FLOWS_DIR": "flows",
                },
                args,
            )
            service = Server("service", web, service_env, tmp)
            bare = Server("bare", bare_command(web), server_env(bare_port, {}, args), tmp)
            servers = [service.start(), bare.start()]
            pool = LoadPool(args.connections, args.procs, public_url).start()
            for s in servers:
                s.wait_ready()
            threads = service_env.get("WEB_THREADS", "Procfile default")
            print(f"web: {web}")
            print(
                f"WEB_CONCURRENCY={service_env['WEB_CONCURRENCY']} WEB_THREADS={threads}; "
                f"{args.connections} connections from {args.procs} load processes; {os.cpu_count()} CPUs"
            )
            print(
                f"closed loop: {args.rounds} rounds of {args.warmup:g} s warm-up + {args.seconds:g} s; "
                + (
                    f"open loop at {args.rate:g} req/s: {open_rounds} rounds of {args.warmup:g} s warm-up + "
                    f"{args.open_seconds:g} s"
                    if open_rounds
                    else "no open loop (--rate 0)"
                )
            )
            for r in range(args.rounds):
                for target, expect in ((bare, "<Response"), (service, "<Gather")):
                    run_no = len(runs) + len(open_runs)
                    start = time.monotonic() + 0.2
                    job = {
                        "mode": "closed",
                        "port": target.port,
                        "expect": expect,
                        "start": start,
                        "measure_from": start + args.warmup,
                        "end": start + args.warmup + args.seconds,
                        "number_base": run_no * per_run,
                        "numbers_per_connection": per_run // args.connections,
                    }
                    out, cpu = run_measured(pool, job, target, store)
                    runs.append(summarise(target.name, r + 1, out, args.seconds, cpu))
                    last = runs[-1]
                    print(
                        f"  closed round {r + 1} {target.name:<7} {last['rps']:8.0f} req/s  "
                        f"p50 {last['p50']:6.1f} ms  p99 {last['p99']:6.1f} ms  errors {last['errors']}",
                        flush=True,
                    )
            for r in range(open_rounds):
                for target, expect in ((bare, "<Response"), (service, "<Gather")):
                    run_no = len(runs) + len(open_runs)
                    start = time.monotonic() + 0.2
                    job = {
                        "mode": "open",
                        "port": target.port,
                        "expect": expect,
                        "start": start,
                        "measure_from": start + args.warmup,
                        "end": start + args.warmup + args.open_seconds,
                        "rate": args.rate,
                        "number_base": run_no * per_run,
                        "numbers_per_run": per_run,
                    }
                    out, cpu = run_measured(pool, job, target, store)
                    open_runs.append(summarise_open(target.name, r + 1, out, job, cpu))
                    last = open_runs[-1]
                    print(
                        f"  open   round {r + 1} {target.name:<7} {last['rps']:8.0f} req/s  "
                        f"p50 {last['p50']:6.1f} ms  p99 {last['p99']:6.1f} ms  errors {last['errors']}",
                        flush=True,
                    )
            pool.stop()
            for s in servers:
                s.stop()
            round_trips = count_round_trips(store.url, public_url)
        finally:
            if pool is not None:
                pool.stop()
            for s in servers:
                s.stop()
            store.stop()

    def why(x: dict) -> str:
        return str(x["errors"]) + (f" {x['why']}" if x["why"] else "")

    def us(x: dict, key: str) -> str:
        return f"{x[key] / x['completed'] * 1e6:.0f}" if x["completed"] else "-"

    rows = [
        [
            str(x["round"]),
            x["name"],
            str(x["requests"]),
            f"{x['rps']:.0f}",
            f"{x['p50']:.1f}",
            f"{x['p99']:.1f}",
            us(x, "cpu_server"),
            us(x, "cpu_redis"),
            why(x),
        ]
        for x in runs
    ]
    show(
        f"Closed loop: POST /voice, {args.connections} keep-alive connections, {args.seconds:g} s per run",
        ["round", "app", "requests", "req/s", "p50 ms", "p99 ms", "CPU µs/req", "Redis µs/req", "errors"],
        rows,
    )
    bares = [x for x in runs if x["name"] == "bare"]
    services = [x for x in runs if x["name"] == "service"]
    per_round = [s["rps"] / b["rps"] if b["rps"] else 0.0 for b, s in zip(bares, services, strict=True)]
    ratio = (sum(s["rps"] for s in services) / sum(b["rps"] for b in bares)) if any(b["rps"] for b in bares) else 0.0
    closed_p99 = percentile(sorted(v for s in services for v in s["latencies"]), 99)
    print(f"\nratio service/bare req/s: {ratio:.2f} (per round: {', '.join(f'{v:.2f}' for v in per_round)})")
    print(
        f"CPU µs per request: bare {cpu_us(bares, 'cpu_server'):.0f}, service {cpu_us(services, 'cpu_server'):.0f} "
        f"(+ Redis {cpu_us(services, 'cpu_redis'):.0f})   [closed loop, gunicorn master + workers, "
        f"all rounds pooled; Redis during the bare runs: {cpu_us(bares, 'cpu_redis'):.0f}]"
    )
    print(
        f"closed loop: service p99 at {args.connections} connections: {closed_p99:.1f} ms "
        f"(all service rounds pooled; set by throughput through Little's law, not the goal figure)"
    )

    open_p99 = float("nan")
    if open_runs:
        rows = [
            [
                str(x["round"]),
                x["name"],
                str(x["requests"]),
                f"{x['rps']:.0f}",
                f"{x['p50']:.1f}",
                f"{x['p99']:.1f}",
                f"{x['p999']:.1f}" if x["p999"] is not None else "-",
                f"{x['max']:.1f}",
                str(x["late"]),
                us(x, "cpu_server"),
                us(x, "cpu_redis"),
                why(x),
            ]
            for x in open_runs
        ]
        show(
            f"Open loop: POST /voice at {args.rate:g} req/s offered, up to {args.connections} connections, "
            f"{args.open_seconds:g} s per run; latency from each request's scheduled send time",
            [
                "round",
                "app",
                "requests",
                "req/s",
                "p50 ms",
                "p99 ms",
                "p99.9 ms",
                "max ms",
                "sent >1 ms late",
                "CPU µs/req",
                "Redis µs/req",
                "errors",
            ],
            rows,
        )
        open_services = [x for x in open_runs if x["name"] == "service"]
        pooled = sorted(v for s in open_services for v in s["latencies"])
        open_p99 = percentile(pooled, 99)
        print(
            f"\nopen loop: service at {args.rate:g} req/s offered: p50 {percentile(pooled, 50):.1f} ms, "
            f"p99 {open_p99:.1f} ms, max {pooled[-1] if pooled else float('nan'):.1f} ms "
            f"({len(pooled)} requests, all service rounds pooled)"
        )
        slow = [x for x in open_runs if x["rps"] < 0.95 * args.rate]
        if slow:
            print(
                f"WARNING: an open-loop run achieved under 95% of {args.rate:g} req/s: the server (or the load "
                f"generator) did not keep up, so its latencies are those of a queue that kept growing."
            )

    errors = sum(x["errors"] for x in runs + open_runs)
    print(f"\ngoal ratio >= {GOAL_RATIO} (closed loop): {verdict(ratio >= GOAL_RATIO)}")
    if open_runs:
        print(
            f"goal p99 < {GOAL_P99_MS:g} ms (open loop, service at {args.rate:g} req/s): "
            f"{verdict(open_p99 < GOAL_P99_MS)} ({open_p99:.1f} ms)"
        )
    else:
        print(f"goal p99 < {GOAL_P99_MS:g} ms: not checked (no open loop)")
    if errors:
        print(f"WARNING: {errors} errors during the measured windows; the figures above are not a clean run.")
    show(
        "Redis round trips per webhook (one call, in-process, same Redis)",
        ["webhook", "round trips", "commands"],
        [[w, str(n), c] for w, n, c in round_trips],
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
