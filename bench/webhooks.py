"""Benchmark the voice webhooks: the framework's ceiling, then the line in an outage, N waiting by M people.

Run from the repository root (needs wrk: `apt-get install -y wrk`):

    .venv/bin/python bench/webhooks.py                 # full matrix, about 12 minutes on 2 cores
    .venv/bin/python bench/webhooks.py --quick         # N = 0,1000, M = 6, shorter runs: about 3 minutes
    .venv/bin/python bench/webhooks.py --waiting 0,1000,10000 --people 6,1000 --no-baseline

What it measures, everything on 127.0.0.1, the servers (gunicorn, Redis, the worker) pinned to one core and
the load generator to the other when there are two:
1. Baseline: wrk (16 connections) sends POST /voice, every request a new call with a valid signature (from
   a pool signed beforehand, bench/wrk_arrivals.lua), alternately to a bare Flask app (bench/bare_app.py,
   gunicorn's default sync workers, as many, no access log) and to the service run with the Procfile's
   `web:` command. Requests/s, the ratio service/bare (goal 0.6), and CPU per request: the gunicorn group's
   utime+stime from /proc, Redis's from INFO cpu.
2. For each N waiting and M people (bench/outage.py): new caller, 0 to the queue, wait document, 0 to a Dial
   on one connection (p50, p99, server and Redis CPU and Redis bytes per request); the worker's time from a
   person made available to the redirect, and for 30 at once; an open loop at the outage's rate
   (bench/open_loop.py). One markdown table per kind of measurement, rows N x M.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
# Run as a script, this folder would come first on sys.path and this file would shadow the `webhooks`
# package it measures: put the repository root there instead (spawned processes inherit it).
if sys.path and Path(sys.path[0] or ".").resolve() == BENCH:
    sys.path[0] = str(BENCH.parent)

from bench.harness import (  # noqa: E402
    ROOT,
    Neighbours,
    Process,
    RedisCounters,
    Twilio,
    busy_elsewhere,
    clean_env,
    cores,
    free_port,
    load_average,
    markdown,
    pin,
    procfile_web,
    start_service,
    taskset,
)

GOAL_RATIO = 0.6
QUICK = {"waiting": "0,1000", "people": "6", "samples": 100, "cap": 8.0, "burst_rounds": 1, "open_seconds": 10.0}
QUICK |= {"rounds": 1, "seconds": 5.0}
FULL = {"waiting": "0,1000,10000", "people": "6,1000", "samples": 300, "cap": 20.0, "burst_rounds": 3}
FULL |= {"open_seconds": 20.0, "rounds": 2, "seconds": 10.0}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    quick = ", ".join(f"{k}={v}" for k, v in QUICK.items())
    p.add_argument("--quick", action="store_true", help=f"a short run: {quick}")
    p.add_argument("--waiting", help="callers waiting, a comma-separated list (0,1000,10000)")
    p.add_argument("--people", help="people in agents.yaml, a list (6,1000); 6 is the shipped file")
    p.add_argument("--samples", type=int, help="requests per one-connection measurement (300)")
    p.add_argument("--cap", type=float, help="seconds at most per one-connection measurement (20)")
    p.add_argument("--handovers", type=int, default=30, help="single hand-overs timed (30)")
    p.add_argument("--burst-rounds", type=int, help="rounds of 30 people made available at once (3)")
    p.add_argument("--open-seconds", type=float, help="seconds of the open loop (20)")
    p.add_argument("--connections", type=int, default=16, help="wrk connections (16)")
    p.add_argument("--rounds", type=int, help="baseline rounds, bare then service (2)")
    p.add_argument("--seconds", type=float, help="measured seconds per wrk run (10)")
    p.add_argument("--warmup", type=float, default=2.0, help="wrk warm-up seconds before each run (2)")
    p.add_argument("--no-baseline", action="store_true", help="skip the wrk baseline")
    p.add_argument("--baseline-only", action="store_true", help="only the wrk baseline")
    args = p.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.waiting = [int(v) for v in args.waiting.split(",") if v.strip()]
    args.people = [int(v) for v in args.people.split(",") if v.strip()]
    return args


# --------------------------------------------------------------------------- 1. the baseline, with wrk


def write_pool(twilio: Twilio, count: int, path: Path) -> Path:
    """COUNT signed arrivals, each a new call: "signature<TAB>body" a line, for bench/wrk_arrivals.lua."""
    with open(path, "w") as out:
        for _ in range(count):
            _, body, headers = twilio.sign("/voice", twilio.new_call())
            out.write(f"{headers['X-Twilio-Signature']}\t{body.decode()}\n")
    return path


def wrk(args, port: int, pool: Path, seconds: float, load: str | None) -> dict:
    command = taskset(load) + ["wrk", "-t", "2", "-c", str(args.connections), "-d", f"{seconds:g}s"]
    command += ["--timeout", "15s", "-s", str(BENCH / "wrk_arrivals.lua"), f"http://127.0.0.1:{port}/voice"]
    done = subprocess.run([*command, "--", str(pool), "2", "<Gather"], capture_output=True, text=True, check=False)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise SystemExit(f"wrk failed: {done.stdout}\n{done.stderr}")
    return {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}


def baseline(args, tmp: Path, cpus: str | None, load: str | None) -> list[dict]:
    from ivr.store.embedded_redis import EmbeddedRedis

    logdir = tmp / "baseline"
    logdir.mkdir()
    store = EmbeddedRedis(logdir / "redis", persist=False).start()
    servers: list[Process] = []
    runs = []
    try:
        pin(store.process.pid, cpus)
        service, port, public_url = start_service("service", logdir, store.url, ROOT / "flows", cpus)
        servers.append(service)
        bare_port = free_port()
        gunicorn = ["gunicorn", "--bind", f"127.0.0.1:{bare_port}", "--workers", "2", "bench.bare_app:app"]
        bare = Process("bare", taskset(cpus) + gunicorn, clean_env(), logdir).start()
        servers.append(bare)
        bare.wait_http(bare_port)
        counters = RedisCounters(store.port)
        counters.calibrate()
        twilio = Twilio(public_url)
        rate = {"bare": 4000.0, "service": 2000.0}  # a first guess; then what was measured
        for r in range(args.rounds):
            for name, server, at in (("bare", bare, bare_port), ("service", service, port)):
                warm = write_pool(twilio, int(rate[name] * args.warmup * 2) + 500, tmp / "pool")
                wrk(args, at, warm, args.warmup, load)
                pool = write_pool(twilio, int(rate[name] * args.seconds * 1.5) + 1000, tmp / "pool")
                cpu0, redis0 = server.cpu_seconds(), counters.read()
                out = wrk(args, at, pool, args.seconds, load)
                cpu, (_, redis_cpu) = server.cpu_seconds() - cpu0, counters.since(redis0)
                done = max(1, out["requests"])
                rate[name] = out["requests"] / out["duration_us"] * 1e6
                errors = sum(out[k] for k in ("bad", "connect", "read", "write", "timeout", "reused"))
                runs.append(
                    {
                        "round": r + 1,
                        "app": name,
                        "requests": out["requests"],
                        "rps": rate[name],
                        "p50": out["p50_us"] / 1000,
                        "p99": out["p99_us"] / 1000,
                        "cpu_us": cpu / done * 1e6,
                        "redis_us": redis_cpu / done * 1e6,
                        "errors": errors,
                        "detail": out,
                    }
                )
                print(
                    f"  wrk round {r + 1} {name:<7} {rate[name]:7.0f} req/s, {cpu / done * 1e6:5.0f} µs CPU "
                    f"(+{redis_cpu / done * 1e6:.0f} Redis), errors {errors}",
                    flush=True,
                )
    finally:
        for server in servers:
            server.stop()
        store.stop()
    return runs


def baseline_tables(args, runs: list[dict]) -> str:
    rows = [
        [
            str(x["round"]),
            x["app"],
            f"{x['requests']:,}",
            f"{x['rps']:,.0f}",
            f"{x['p50']:.1f}",
            f"{x['p99']:.1f}",
            f"{x['cpu_us']:,.0f}",
            f"{x['redis_us']:,.0f}",
            str(x["errors"]),
        ]
        for x in runs
    ]
    text = markdown(
        f"Baseline: POST /voice (every request a new call), wrk {args.connections} connections, "
        f"{args.seconds:g} s a run",
        ["round", "app", "requests", "req/s", "p50 ms", "p99 ms", "server CPU µs/req", "Redis CPU µs/req", "errors"],
        rows,
    )

    def pooled(app: str, key: str) -> float:
        mine = [x for x in runs if x["app"] == app]
        if key == "rps":
            return sum(x["rps"] for x in mine) / len(mine)
        return sum(x[key] * x["requests"] for x in mine) / max(1, sum(x["requests"] for x in mine))

    ratio = pooled("service", "rps") / pooled("bare", "rps")
    text += (
        f"\n\nratio service/bare: **{ratio:.2f}** (goal >= {GOAL_RATIO}: {'PASS' if ratio >= GOAL_RATIO else 'MISS'}); "
        f"CPU per request: bare {pooled('bare', 'cpu_us'):,.0f} µs, service {pooled('service', 'cpu_us'):,.0f} µs "
        f"+ Redis {pooled('service', 'redis_us'):,.0f} µs. Latencies are wrk's, closed loop at "
        f"{args.connections} connections (queueing at saturation, not what a caller meets)."
    )
    return text


# --------------------------------------------------------------------------- 2. the outage matrix


def ms(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds * 1000:,.1f}"


def outage_tables(args, results: list[dict]) -> str:
    parts = []
    titles = {
        "arrive": "New caller: POST /voice, a new CallSid each",
        "queue": "0 at the menu, everyone away: into the line (the line grows by the samples during it)",
        "wait": "Wait document (POST /voice/queue/wait) of callers spread across the line",
        "dial": "0 at the menu with up to 4 people of the operator's group available: a Dial (freed after each)",
    }
    head = ["waiting", "people", "samples", "p50 ms", "p99 ms", "server CPU µs/req", "Redis CPU µs/req"]
    head += ["Redis bytes out/req", "errors"]
    for kind, title in titles.items():
        rows = []
        for res in results:
            n, m, x = res["setting"]["waiting"], res["setting"]["people"], res.get(kind)
            if not x:
                rows.append([f"{n:,}", f"{m:,}", "-", "-", "-", "-", "-", "-", "-"])
                continue
            samples = f"{x['samples']}" + (f" (capped at {args.cap:g} s)" if x["capped"] else "")
            rows.append(
                [f"{n:,}", f"{m:,}", samples, ms(x["p50"]), ms(x["p99"]), f"{x['server_us']:,.0f}"]
                + [f"{x['redis_us']:,.0f}", f"{x['redis_bytes']:,.0f}", str(x["errors"])]
            )
        parts.append(markdown(f"{title}; one connection, one request after another", head, rows))
    rows = []
    for res in results:
        h, b = res["handover"], res["burst"]
        rounds = ", ".join(ms(s) for s in b["rounds"]) or "-"
        rows.append(
            [f"{res['setting']['waiting']:,}", f"{res['setting']['people']:,}", str(h["samples"]), ms(h["p50"])]
            + [ms(h["p99"]), str(h["missed"]), str(b["people"]), rounds, str(b["incomplete"])]
        )
    parts.append(
        markdown(
            "Worker: a person made available until the REST stand-in receives the redirect; "
            "and several at once, the stand-in answering each after 50 ms",
            ["waiting", "people", "samples", "p50 ms", "p99 ms", "missed"]
            + ["at once", "all redirected ms", "incomplete"],
            rows,
        )
        + "\n\nAt once: the people of the operator's group, 30 at most (the shipped agents.yaml has 3); one figure a "
        "round. With N = 0, a caller is put in line before each hand-over, and as many as the people before a round."
        + "".join(
            f" N = {r['setting']['waiting']:,}, M = {r['setting']['people']:,}: the web service was restarted before"
            " these (still busy 10 s after the open loop with requests Twilio had given up on)."
            for r in results
            if r["open"].get("restarted")
        )
    )
    rows = []
    for res in results:
        o = res["open"]
        k = o["kinds"]
        rows.append(
            [f"{res['setting']['waiting']:,}", f"{res['setting']['people']:,}", f"{o['rate']:,.0f}", f"{o['sent']:,}"]
            + [f"{o['answered']:,}", ms(o["p50"]), ms(o["p99"]), ms(o["max"]), f"{o['failed']:,}"]
            + [ms(k["wait"]["p99"]), ms(k["arrive"]["p99"])]
        )
    parts.append(
        markdown(
            f"Open loop at the outage's rate: N/20 wait documents + 20 new callers a second, {args.open_seconds:g} s, "
            "latency from each request's due time",
            ["waiting", "people", "req/s", "sent", "answered", "p50 ms", "p99 ms", "max ms", ">15 s or failed"]
            + ["wait doc p99 ms", "new caller p99 ms"],
            rows,
        )
        + "\n\nAnswered: a 200 with the right document within 15 s of its due time (Twilio waits 15 s); a request "
        "that could not even be sent by then is failed unsent. The worker runs, everyone is away."
    )
    return "\n".join(parts)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not shutil.which("wrk") and not args.no_baseline:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (or run with --no-baseline)")
    from bench.outage import Outage, flows_folder

    cpus, load = cores()
    if load is not None:
        os.sched_setaffinity(0, {int(load)})  # this process, and the load generators it starts
    commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True)
    print(f"bench/webhooks.py {' '.join(sys.argv[1:])}  ({time.strftime('%Y-%m-%d %H:%M')}, {commit.stdout.strip()})")
    print(f"web: {procfile_web()}  (WEB_CONCURRENCY=2)")
    print(
        f"{os.cpu_count()} CPUs; servers on CPU {cpus}, load generator on CPU {load}; load average {load_average()}"
        if load
        else "one CPU: nothing pinned"
    )
    lock = open(Path(tempfile.gettempdir()) / "ivr-bench.lock", "w")  # noqa: SIM115 - held until exit
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"another run holds {lock.name}: waiting for it to end (two runs would share the cores)", flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
    if (busy := busy_elsewhere()) > 0.1:
        print(f"WARNING: {busy:.0%} of the CPUs were busy before the bench started: other work disturbs its figures")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers on kill too
    began = time.monotonic()
    output: list[str] = []
    others: list[str] = []
    neighbours = Neighbours()
    with tempfile.TemporaryDirectory(prefix="ivr-bench-") as tmp:
        tmp = Path(tmp)
        if not args.no_baseline:
            print("baseline (wrk):", flush=True)
            mark = neighbours.mark()
            output.append(baseline_tables(args, baseline(args, tmp, cpus, load)))
            others.append(f"baseline {neighbours.share(mark):.0%}")
        if not args.baseline_only:
            results = []
            for people in args.people:
                agents, operator = flows_folder(tmp / f"flows-{people}", people)
                for waiting in args.waiting:
                    mark = neighbours.mark()
                    outage = Outage(args, waiting, people, tmp, cpus, tmp / f"flows-{people}", agents, operator)
                    results.append(outage.run())
                    others.append(f"N = {waiting:,} M = {people:,} {neighbours.share(mark):.0%}")
                    outage.say(f"other processes used {neighbours.share(mark):.0%} of a core meanwhile")
            output.append(outage_tables(args, results))
    print("\n".join(output))
    print(
        "\nCPU used by processes outside this run (a share of one core; over 5% disturbs the figures): "
        + ", ".join(others)
    )
    print(f"\ntook {time.monotonic() - began:.0f} s; load average now {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
