"""The line in an outage, for N callers waiting and M people, driven through the webhooks only.

For each (N, M): a fresh Redis and the Procfile's web server on a copy of flows/ whose agents.yaml has M
people (M = 6: the shipped one); every person set away (ivr.store.presence_records.set_status); N callers
put in line as Twilio would (POST /voice, then 0 at the menu, each answer checked for <Enqueue>). Then, on
one connection, one request after another: a new caller's /voice, 0 pressed reaching the queue, the wait
document, and 0 pressed reaching a Dial (a few people of the operator's group made available for it, and
freed again after each call). Then the worker (`python -m ivr.dispatcher`) is started against a stand-in
for Twilio's REST API (bench/twilio_rest.py) and, everyone still away, an open loop runs at the outage's
own rate (bench/open_loop.py). Last, once the service is idle again: the time from a person made available
to the stand-in receiving the redirect of a waiting caller, and from 30 people made available at once to
the last of their 30 redirects, the stand-in answering each after 50 ms.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis
import yaml

from bench import open_loop
from bench.harness import (
    ROOT,
    TOKEN,
    Client,
    Process,
    RedisCounters,
    Twilio,
    attribute,
    clean_env,
    percentile,
    pin,
    start_service,
    taskset,
)
from bench.twilio_rest import TwilioRest
from ivr.call.presence import AVAILABLE, AWAY, Presence
from ivr.render import PATHS
from ivr.store import wake
from ivr.store.embedded_redis import EmbeddedRedis
from ivr.store.presence_index import PresenceIndex
from ivr.store.presence_records import set_status

GROUPS = ("billing", "technical", "outages", "moving", "cancellations", "general")
STILL_WAITING = "Someone will be with you as soon as possible"  # the wait document when the store failed
DEGRADED = "connecting you to a person now"  # every supervisor rung: our machinery failed
QUEUE_SID = "QU" + "0" * 32
DIAL_PEOPLE = 4  # people of the operator's group available for the Dial measurement
BURST = 30  # people made available at once


def flows_folder(dest: Path, people: int) -> tuple[list[dict], str]:
    """Copy flows/ to DEST with M people in agents.yaml; (the people, the operator's group)."""
    shutil.copytree(ROOT / "flows", dest)
    if people != 6:
        shipped = (ROOT / "flows" / "agents.yaml").read_text().splitlines()
        lines = shipped[: shipped.index("agents:") + 1]
        for i in range(people):
            groups = (GROUPS[i % 6], GROUPS[(i + 1 + (i // 6) % 5) % 6])
            lines += [
                f"  - id: p{i:04d}",
                f"    name: Person {i}",
                f'    number: "+1500555{i:04d}"',
                f"    role: {'supervisor' if i % 20 == 0 else 'agent'}",  # 5% supervisors
                f"    groups: [{', '.join(groups)}]",
                "",
            ]
        (dest / "agents.yaml").write_text("\n".join(lines[:-1]) + "\n")
    agents = yaml.safe_load((dest / "agents.yaml").read_text())["agents"]
    operator = yaml.safe_load((dest / "support.yaml").read_text())["settings"]["operator"]["group"]
    return agents, operator


class Outage:
    """One (N, M): its servers, its callers in line, and what was measured."""

    def __init__(self, args, waiting: int, people: int, tmp: Path, cpus: str | None, flows: Path, agents, operator):
        self.args, self.waiting, self.people, self.cpus = args, waiting, people, cpus
        self.tmp = tmp / f"n{waiting}-m{people}"
        self.tmp.mkdir()
        self.flows, self.agents = flows, [a["id"] for a in agents]
        self.operators = [a["id"] for a in agents if operator in (a.get("groups") or [])]
        self.line: list[dict] = []
        self.results: dict[str, dict] = {"setting": {"waiting": waiting, "people": people}}

    def run(self) -> dict:
        store = EmbeddedRedis(self.tmp / "redis", persist=False).start()
        service = worker = rest = None
        try:
            pin(store.process.pid, self.cpus)
            self.redis_url = store.url
            self.r = redis.Redis.from_url(store.url, decode_responses=True)
            service, port, public_url = start_service("service", self.tmp, store.url, self.flows, self.cpus)
            self.service, self.port, self.public_url = service, port, public_url
            self.twilio = Twilio(public_url)
            self.client = Client(port)
            self.counters = RedisCounters(store.port)
            self.counters.calibrate()
            for agent in self.agents:
                set_status(self.r, agent, "away", time.time())
            began = time.monotonic()
            self.line = self.put_in_line(self.waiting, connections=8)
            self.results["fill"] = {"seconds": time.monotonic() - began, "in_line": len(self.line)}
            self.say(f"{len(self.line)} in line in {self.results['fill']['seconds']:.0f} s")
            self.results["arrive"] = self.measure_arrivals()
            self.results["queue"] = self.measure_press_to_queue()
            self.results["wait"] = self.measure_wait_documents()
            self.results["dial"] = self.measure_press_to_dial()
            rest = TwilioRest()
            worker = self.start_worker(rest)
            self.results["open"] = open_loop.run(self, self.args.open_seconds)
            self.say(
                f"open loop: {self.results['open']['answered']}/{self.results['open']['sent']} answered, "
                f"p99 {self.results['open']['p99'] * 1000:.0f} ms"
            )
            if not self.settle():
                # abandoned requests still queued in gunicorn would compete with the worker for the core: the
                # web process keeps nothing, so a new one takes over (Redis and the worker run on)
                self.say("the service still works off the open loop's abandoned requests: restarted")
                self.results["open"]["restarted"] = True
                service.stop()
                service, self.port, public_url = start_service("service", self.tmp, store.url, self.flows, self.cpus)
                self.service, self.twilio.public_url = service, public_url
            self.results["handover"] = self.measure_handovers(rest)
            self.results["burst"] = self.measure_burst(rest)
        finally:
            for closing in ("client", "counters"):
                if hasattr(self, closing):
                    getattr(self, closing).close()
            for process in (worker, service):
                if process is not None:
                    process.stop()
            if rest is not None:
                rest.close()
            store.stop()
        return self.results

    def say(self, text: str) -> None:
        print(f"  [N={self.waiting} M={self.people}] {text}", flush=True)

    # ------------------------------------------------------------------ callers, as Twilio makes them

    def arrive(self, client: Client) -> tuple[dict, str] | None:
        """A new call answered with the menu: (its parameters from now on, the menu's Gather action)."""
        call = self.twilio.new_call()
        status, text, _ = client.post(*self.twilio.sign(PATHS["arrive"], call))
        action = attribute(text, "Gather", "action") if status == 200 else None
        return ({**call, "CallStatus": "in-progress"}, action) if action else None

    def put_in_line(self, count: int, connections: int) -> list[dict]:
        """COUNT new callers who press 0 at the menu and are told to wait (several connections at once)."""
        local, clients = threading.local(), []

        def one(_) -> dict | None:
            if not hasattr(local, "client"):
                local.client = Client(self.port)
                clients.append(local.client)
            arrived = self.arrive(local.client)
            if arrived is None:
                return None
            call, action = arrived
            status, text, _ = local.client.post(*self.twilio.sign(action, {**call, "Digits": "0"}))
            if status != 200 or "<Enqueue" not in text:
                return None
            return {"params": call, "since": time.time(), "wait": attribute(text, "Enqueue", "waitUrl")}

        with ThreadPoolExecutor(connections) as pool:
            line = [c for c in pool.map(one, range(count)) if c]
        for client in clients:
            client.close()
        if len(line) < count:
            self.say(f"WARNING: {count - len(line)} of {count} callers were not put in line")
        return line

    # ------------------------------------------------------------------ one request after another

    def sequential(self, requests, expect, after=None) -> dict:
        """One connection, one request after another, until done or --cap seconds: latencies, and per
        request the servers' CPU (/proc), Redis's CPU and the bytes Redis sent (INFO)."""
        latencies, errors, why = [], 0, ""
        cpu0, redis0 = self.service.cpu_seconds(), self.counters.read()
        began, capped = time.monotonic(), False
        for path, params in requests:
            if time.monotonic() - began > self.args.cap:
                capped = True
                break
            status, text, seconds = self.client.post(*self.twilio.sign(path, params))
            latencies.append(seconds)
            if status != 200 or not expect(text):
                errors += 1
                why = why or f"{status} {text[:160]}"
            if after is not None:
                after(text)
        cpu = self.service.cpu_seconds() - cpu0
        out, redis_cpu = self.counters.since(redis0)
        n = len(latencies) or 1
        latencies.sort()
        return {
            "samples": len(latencies),
            "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99),
            "server_us": cpu / n * 1e6,
            "redis_us": redis_cpu / n * 1e6,
            "redis_bytes": out / n,
            "errors": errors,
            "capped": capped,
            "why": why,
        }

    def measure_arrivals(self) -> dict:
        calls = ((PATHS["arrive"], self.twilio.new_call()) for _ in range(self.args.samples))
        result = self.sequential(calls, lambda text: "<Gather" in text)
        self.say(f"new caller: p50 {result['p50'] * 1000:.1f} ms, {result['server_us']:.0f} µs CPU")
        return result

    def at_menu(self, count: int) -> list[tuple[dict, str]]:
        return [a for a in (self.arrive(self.client) for _ in range(count)) if a]

    def measure_press_to_queue(self) -> dict:
        """0 pressed with everyone away: into the line (N grows by the samples; they hang up afterwards)."""
        callers = self.at_menu(self.args.samples)
        result = self.sequential(((a, {**c, "Digits": "0"}) for c, a in callers), lambda t: "<Enqueue" in t)
        for call, _ in callers[: result["samples"]]:
            self.client.post(*self.twilio.sign(PATHS["status"], {**call, "CallStatus": "completed"}))
        self.say(f"0 to the queue: p50 {result['p50'] * 1000:.1f} ms")
        return result

    def wait_request(self, index: int) -> tuple[str, dict]:
        """Twilio's request for the wait document of the caller at INDEX in line."""
        caller = self.line[index]
        waited = str(int(time.time() - caller["since"]))
        params = {
            **caller["params"],
            "QueueTime": waited,
            "AvgQueueTime": waited,
            "QueuePosition": str(index + 1),
            "CurrentQueueSize": str(len(self.line)),
            "QueueSid": QUEUE_SID,
        }
        return caller["wait"] or PATHS["queue_wait"], params

    def measure_wait_documents(self) -> dict | None:
        if not self.line:
            return None
        n, k = len(self.line), min(self.args.samples, len(self.line))
        spread = (self.wait_request(i * (n - 1) // max(1, k - 1)) for i in range(k))
        result = self.sequential(spread, lambda text: STILL_WAITING not in text and "<Response" in text)
        self.say(f"wait document: p50 {result['p50'] * 1000:.1f} ms")
        return result

    def measure_press_to_dial(self) -> dict:
        """0 pressed with a few of the operator's group available: a Dial; the person is freed after each."""
        people = self.operators[:DIAL_PEOPLE]
        for agent in people:
            set_status(self.r, agent, "available", time.time())
        callers = self.at_menu(self.args.samples)

        def free_again(text: str) -> None:
            """The ring ends as the line ends it (a click of 'available' never overrides a call that holds them)."""
            agent = (attribute(text, "Dial", "action") or "").partition("agent=")[2]
            if agent:
                with self.counters.excluding():
                    PresenceIndex(self.r).put(agent, Presence(AVAILABLE, time.time()), time.time())

        def dialled(text: str) -> bool:
            return "<Dial" in text and "agent=" in text and DEGRADED not in text

        result = self.sequential(((a, {**c, "Digits": "0"}) for c, a in callers), dialled, after=free_again)
        for agent in people:
            set_status(self.r, agent, "away", time.time())
        result["people"] = len(people)
        self.say(f"0 to a Dial: p50 {result['p50'] * 1000:.1f} ms")
        return result

    # ------------------------------------------------------------------ the worker

    def start_worker(self, rest) -> Process:
        env = clean_env(
            REDIS_URL=self.redis_url,
            TWILIO_ACCOUNT_SID=self.twilio.account,
            TWILIO_AUTH_TOKEN=TOKEN,
            TWILIO_API_BASE=rest.url,
            PUBLIC_URL=self.public_url,
            FLOWS_DIR=str(self.flows),
            AUDIO_CACHE=str(self.tmp.parent / "audio-cache"),
        )
        worker = Process("worker", taskset(self.cpus) + [sys.executable, "-m", "ivr.dispatcher"], env, self.tmp)
        worker.start().wait_log("worker started")
        return worker

    def settle(self, most: float = 10.0) -> bool:
        """Whether the service works off what the open loop left queued within MOST seconds (CPU quiet for 1 s)."""
        deadline = time.monotonic() + most
        while time.monotonic() < deadline:
            before = self.service.cpu_seconds()
            time.sleep(1.0)
            if self.service.cpu_seconds() - before < 0.05:
                return True
        return False

    def top_up(self, count: int) -> None:
        """With no one waiting (N = 0), callers for the worker to hand over are put in line first."""
        if self.waiting == 0:
            self.put_in_line(count, connections=min(count, 8))

    def reset(self, agent: str, status: str) -> None:
        """Put a person's record as the line leaves it when their ring ends: a click of 'available' or 'away'
        never overrides a call that holds them, and the person rung for the last hand-over still rings."""
        PresenceIndex(self.r).put(agent, Presence(status, time.time()), time.time())
        if status == AVAILABLE:  # as the line's release does: the worker is nudged at once
            pipe = self.r.pipeline(transaction=False)
            wake.nudge(pipe, "available")
            pipe.execute()

    def measure_handovers(self, rest) -> dict:
        """A person made available, one at a time: seconds until the stand-in receives the redirect (its twilio
        client's first request imports the REST API's modules, 50 ms: one hand-over before warms it up)."""
        seconds, missed = [], 0
        for i in range(-1, self.args.handovers):  # the first warms the worker's REST client up: not counted
            self.top_up(1)
            agent = self.operators[i % len(self.operators)]
            mark = len(rest.redirects)
            began = time.monotonic()
            self.reset(agent, AVAILABLE)
            got = rest.wait_redirects(mark, 1, timeout=10)
            self.reset(agent, AWAY)
            if got and i >= 0:
                seconds.append(got[0][0] - began)
            elif i >= 0:
                missed += 1
            time.sleep(0.1)
        seconds.sort()
        self.say(f"hand-over: p50 {percentile(seconds, 50) * 1000:.0f} ms, {missed} missed")
        p50, p99 = percentile(seconds, 50), percentile(seconds, 99)
        return {"samples": len(seconds), "p50": p50, "p99": p99, "missed": missed}

    def measure_burst(self, rest) -> dict:
        """BURST people of the operator's group made available at once, the stand-in answering each redirect
        after 50 ms: seconds from the first set_status until every one of them has a redirect."""
        people = self.operators[:BURST]
        rounds, incomplete = [], 0
        rest.delay = 0.05
        for _ in range(self.args.burst_rounds):
            self.top_up(len(people))
            mark = len(rest.redirects)
            began = time.monotonic()
            for agent in people:
                self.reset(agent, AVAILABLE)
            got = rest.wait_redirects(mark, len(people), timeout=30)
            for agent in people:
                self.reset(agent, AWAY)
            if len(got) >= len(people):
                rounds.append(got[len(people) - 1][0] - began)
            else:
                incomplete += 1
            time.sleep(1.0)
        rest.delay = 0.0
        rounds.sort()
        self.say(f"{len(people)} at once: all redirected in {[f'{s * 1000:.0f} ms' for s in rounds]}")
        return {"people": len(people), "rounds": rounds, "incomplete": incomplete}
