"""Chaos soak: many concurrent simulated calls against the whole service while faults are injected, then a count
of what was lost, doubled or left stuck once the line has had a minute to heal. Run by hand, from the repository
root (it is a measurement, not a test: it exits 0 whatever it counts):

    .venv/bin/python bench/chaos_soak.py                      # 200 concurrent callers for 4 minutes
    .venv/bin/python bench/chaos_soak.py --calls 50 --minutes 1
    .venv/bin/python bench/chaos_soak.py --sentinel           # Redis behind Sentinel, with failovers

What it starts, all on 127.0.0.1, each in its own process group, and all stopped at the end (Ctrl-C too):
- Redis: ivr.store.embedded_redis.EmbeddedRedis in a temporary folder, durable (AOF every second). With
  --sentinel, a primary, a replica and three sentinels (tests/redis_sentinel.py) and a redis+sentinel:// URL.
- The REST stand-in for Twilio (tests/twilio_rest_stub.py), in this process: the dispatchers' hand-overs and
  callbacks go to it, and it answers as Twilio does (400/21220 for a call that has ended).
- Two web servers, each the Procfile's `web:` command (gunicorn, WEB_CONCURRENCY=2), on one Redis.
- Two dispatchers (`python -m ivr.dispatcher`), pointed at the stand-in.
- The simulated phone network (bench/soak_calls.py): --calls caller threads calling again and again (a pool of
  numbers, so some are repeat callers), each call's webhooks alternating between the two servers, and the
  people's phones (answering, declining, not answering; talking a few seconds: time is compressed).

The flows are a copy of flows/ in the temporary folder with shorter waits (hold limit 15 s, offers every
30 s, a returning caller waits 20 s for their own agent, a callback retried after 1 minute) so that callback
offers and retries happen within the soak; --flows-as-is uses flows/ unchanged.

Faults, at fixed fractions of the run: Redis SIGSTOP for 3 s; SIGKILL of one gunicorn worker; Redis SIGKILL
and restart after 2 s (with --sentinel: a failover, SIGKILL of the primary); SIGKILL of a dispatcher while it
is placing a callback (creates are held at the stand-in until one is in flight), restarted a second later;
with --sentinel, a second failover. After the last call ends, the line gets up to 60 s to heal; then it counts.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import ClassVar

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# Run as a script, this folder comes first on sys.path, and bench/webhooks.py would shadow the `webhooks`
# package: put the repository root there instead (so `tests` and `ivr` import from the checkout).
if sys.path and Path(sys.path[0] or ".").resolve() == BENCH:
    sys.path[0] = str(ROOT)

from bench import soak_calls as sim  # noqa: E402
from ivr.settings import ENV_NAMES  # noqa: E402
from ivr.store import client as store  # noqa: E402
from ivr.store import keys  # noqa: E402
from ivr.store.embedded_redis import EmbeddedRedis, free_port  # noqa: E402
from ivr.store.sealed import new_key  # noqa: E402
from tests import process_tree  # noqa: E402

TOKEN = "soak-auth-token-7e21b4"
HEAL_SECONDS = 60
BUSY_STATES = ("ringing", "busy")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="concurrent simulated callers (default 200)")
    parser.add_argument("--minutes", type=float, default=4, help="how long callers keep calling (default 4)")
    parser.add_argument("--sentinel", action="store_true", help="Redis behind Sentinel, with failovers as faults")
    parser.add_argument(
        "--redis-down", type=float, default=2.0, help="seconds Redis stays down after its SIGKILL (default 2)"
    )
    parser.add_argument("--flows-as-is", action="store_true", help="use flows/ unchanged (no shorter waits)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the call mix (default: random)")
    return parser.parse_args(argv)


# --- processes ---------------------------------------------------------------------------------------------


class Proc:
    """A child process in a process group of its own; its output goes to a log file."""

    groups: ClassVar[list[int]] = []  # every group ever started, for the final check that nothing is left running

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path):
        self.name = name
        self.log = log
        with log.open("ab") as out:
            self.popen = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        Proc.groups.append(self.popen.pid)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group, as a crash."""
        _killpg(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, grace: float = 10) -> None:
        """SIGTERM the group, then SIGKILL whatever is left after `grace` seconds."""
        if self.alive():
            _killpg(self.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=grace)
        _killpg(self.pid, signal.SIGKILL)  # the group's stragglers (gunicorn workers), if any
        if self.alive():
            self.popen.wait(timeout=10)


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_members(pgids: set[int]) -> set[int]:
    """Processes still running (not zombies) in any of these process groups."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) in pgids:
            found.add(int(stat.parent.name))
    return found


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if int(text[text.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(stat.parent.name))
    return sorted(found)


def pid_of_connection(local_port: int, pids: list[int]) -> int | None:
    """Which of PIDS holds the TCP socket whose local port is LOCAL_PORT (read from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == local_port:
                inodes.add(f"socket:[{fields[9]}]")
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    if os.readlink(fd) in inodes:
                        return pid
                except OSError:
                    continue
        except OSError:
            continue
    return None


def wait_healthy(port: int, proc: Proc, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited before it was healthy; see {proc.log}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.name} not healthy within {seconds} s; see {proc.log}")
        time.sleep(0.3)


class PlainRedis:
    """One durable Redis: SIGKILL and SIGSTOP faults, restarted on the same port and folder."""

    sentinel = False

    def __init__(self, folder: Path):
        self.server = self._start(EmbeddedRedis(folder, persist=True))

    @staticmethod
    def _start(server: EmbeddedRedis) -> EmbeddedRedis:
        try:
            server.start()
        except BaseException:
            server.stop()  # a redis-server that never answered is not left running
            raise
        Proc.groups.append(server.process.pid)
        return server

    @property
    def url(self) -> str:
        return self.server.url

    def primary_process(self) -> subprocess.Popen:
        return self.server.process

    def kill_and_restart(self, down_seconds: float, halt: threading.Event) -> str:
        self.server.process.kill()
        self.server.process.wait(timeout=10)
        halt.wait(down_seconds)
        self.server = self._start(EmbeddedRedis(self.server.folder, port=self.server.port, persist=True))
        return f"restarted on port {self.server.port} with its AOF"

    def pids(self) -> set[int]:
        return {self.server.process.pid} if self.server.process else set()

    def stop(self) -> None:
        self.server.stop()


class SentinelRedis:
    """A primary, a replica and three sentinels (tests/redis_sentinel.py); a failover is a fault."""

    sentinel = True

    def __init__(self, folder: Path):
        from tests import redis_sentinel

        self.module = redis_sentinel
        self.setup = redis_sentinel.SentinelSetup(folder)
        try:
            self.setup.start()
        except BaseException:
            self.stop()
            raise
        finally:
            Proc.groups.extend(self.setup.pids)

    @property
    def url(self) -> str:
        return self.setup.url

    def _nodes(self):
        return [self.setup.primary, self.setup.replica]

    def current_primary(self):
        """The data node every sentinel names as the primary (waiting up to 30 s for them to agree)."""
        port = self.module.wait_until(self.setup.master_port, 30, "the sentinels agree on a primary")
        return next(n for n in self._nodes() if n.port == port)

    def primary_process(self) -> subprocess.Popen:
        return self.current_primary().process

    def failover(self, halt: threading.Event) -> str:
        old = self.current_primary()
        new = next(n for n in self._nodes() if n is not old)
        old.kill()
        killed = time.monotonic()
        promoted = self.setup.wait_promoted(new, seconds=30)
        self.setup.restart(old)  # comes back believing it is the primary; the sentinels make it a replica
        Proc.groups.extend(self.setup.pids)
        return f"primary :{old.port} killed, :{new.port} promoted after {promoted - killed:.1f} s, old one restarted"

    def pids(self) -> set[int]:
        return set(self.setup.pids)

    def stop(self) -> None:
        try:
            self.setup.stop()
        except AssertionError as exc:
            print(f"warning: {exc}")


# --- the soak ----------------------------------------------------------------------------------------------


class Soak:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.run_dir = Path(tempfile.mkdtemp(prefix="chaos-soak-"))
        self.logs = self.run_dir / "logs"
        self.logs.mkdir()
        self.redis: PlainRedis | SentinelRedis | None = None
        self.stub: sim.SoakStub | None = None
        self.webs: list[Proc] = []
        self.web_ports: list[int] = []
        self.dispatchers: list[Proc | None] = [None, None]
        self.dispatcher_env: dict[str, str] = {}
        self.faults: list[tuple[str, float, float, str]] = []  # (fault, start s, end s, note)
        self.notes: list[str] = []
        self.held_request = ""  # the callback whose create was in flight when a dispatcher was killed
        self.t0 = time.monotonic()
        self.stats = sim.Stats(self.t0)
        self.net: sim.Network | None = None
        self.leg_threads: list[threading.Thread] = []
        self.leg_lock = threading.Lock()
        self.seed = args.seed if args.seed is not None else random.randrange(1_000_000)
        self.data_key = new_key()
        self.flows = self.run_dir / "flows"
        self.audio_cache = self.run_dir / "audio-cache"

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def say(self, text: str) -> None:
        print(f"[{self.elapsed():6.1f}s] {text}", flush=True)

    # --- setting up ---
    def prepare_flows(self) -> Path:
        if self.args.flows_as_is:
            self.notes.append("flows: flows/ as is (hold limit from the file)")
            return ROOT / "flows"
        shutil.copytree(ROOT / "flows", self.flows)
        line = self.flows / "support.yaml"
        text = line.read_text()
        shorter = (
            "  queue:\n    max_hold_seconds: 15\n    offer_every_seconds: 30\n    prior_agent_wait_seconds: 20\n"
            "  callbacks:\n    retry_minutes: 1\n"
        )
        edited, n = re.subn(r"  queue:\n    max_hold_seconds: \d+[^\n]*\n", shorter, text, count=1)
        if n != 1 or "\n  callbacks:" in text:
            self.notes.append("flows: could not shorten the waits in support.yaml; using it unchanged")
        else:
            line.write_text(edited)
            self.notes.append(
                f"flows: a copy of flows/ in {self.flows} with hold limit 15 s, offers every 30 s, own-agent wait "
                "20 s, callback retry after 1 min (the service runs on real time; the soak lasts minutes)"
            )
        return self.flows

    def base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def web_command(self) -> str:
        for line in (ROOT / "Procfile").read_text().splitlines():
            if line.startswith("web:"):
                return line.split(":", 1)[1].strip()
        raise RuntimeError("no web: line in the Procfile")

    def start(self) -> None:
        flows = self.prepare_flows()
        self.say(f"run folder {self.run_dir} (logs in {self.logs}); seed {self.seed}")
        if self.args.sentinel:
            self.redis = SentinelRedis(self.run_dir / "sentinel")
            self.say(f"Redis: primary, replica and 3 sentinels; REDIS_URL={self.redis.url}")
        else:
            self.redis = PlainRedis(self.run_dir / "redis")
            self.say(f"Redis: durable (AOF everysec) on {self.redis.url}")
        self.stub = sim.SoakStub(auth_token=TOKEN, on_create=self.on_create).start()
        self.say(f"Twilio REST stand-in on {self.stub.url}")
        command = self.web_command()
        common = {
            "REDIS_URL": self.redis.url,
            "PUBLIC_URL": sim.PUBLIC_URL,
            "FLOWS_DIR": str(flows),
            "AUDIO_CACHE": str(self.audio_cache),
            "DATA_KEYS": self.data_key,
        }
        for i in range(2):
            port = free_port()
            env = {
                **self.base_env(),
                **common,
                "PORT": str(port),
                "WEB_CONCURRENCY": "2",
                "TWILIO_AUTH_TOKEN": TOKEN,
                "LOG_LEVEL": "WARNING",
            }
            self.webs.append(Proc(f"web{i + 1}", ["bash", "-c", command], env, self.logs / f"web{i + 1}.log"))
            self.web_ports.append(port)
        for proc, port in zip(self.webs, self.web_ports, strict=True):
            wait_healthy(port, proc)
        self.say(f"web servers (Procfile web:, 2 workers each) on ports {self.web_ports}")
        self.dispatcher_env = {
            **self.base_env(),
            **common,
            "TWILIO_ACCOUNT_SID": self.stub.account_sid,
            "TWILIO_AUTH_TOKEN": self.stub.auth_token,
            "TWILIO_API_BASE": self.stub.url,
            "LOG_LEVEL": "INFO",
        }
        for slot in range(2):
            self.start_dispatcher(slot)
        self.say("dispatchers: 2 (python -m ivr.dispatcher)")

    def start_dispatcher(self, slot: int) -> Proc:
        proc = Proc(
            f"dispatcher{slot + 1}",
            [sys.executable, "-m", "ivr.dispatcher"],
            self.dispatcher_env,
            self.logs / f"dispatcher{slot + 1}.log",
        )
        self.dispatchers[slot] = proc
        return proc

    def on_create(self, record, sid: str) -> None:
        """The stand-in placed a call for a dispatcher: the person's phone rings (a thread per call)."""
        leg = sim.CallbackLeg(self.net, record, sid, random.Random(sid))
        thread = threading.Thread(target=leg.run, name=f"callback-{sid[-6:]}", daemon=True)
        with self.leg_lock:
            self.leg_threads.append(thread)
        thread.start()

    # --- faults ---
    def fault_schedule(self, seconds: float):
        plan = [
            (0.15, "Redis SIGSTOP 3 s", self.fault_redis_stop),
            (0.30, "gunicorn worker SIGKILL", self.fault_gunicorn),
            (0.45, "Redis SIGKILL + restart", self.fault_redis_kill),
            (0.60, "dispatcher SIGKILL mid-hand-over + restart", self.fault_dispatcher),
            (0.75, "Sentinel failover", self.fault_failover),
        ]
        return [(fraction * seconds, name, action) for fraction, name, action in plan]

    def run_faults(self, seconds: float) -> None:
        for at, name, action in self.fault_schedule(seconds):
            if self.net.halt.wait(max(0.0, at - self.elapsed())):
                return
            start = self.elapsed()
            try:
                note = action()
            except Exception as exc:
                note = f"FAILED: {type(exc).__name__}: {exc}"
            self.faults.append((name, start, self.elapsed(), note))
            self.say(f"fault: {name}: {note}")

    def fault_redis_stop(self) -> str:
        process = self.redis.primary_process()
        process.send_signal(signal.SIGSTOP)
        try:
            self.net.halt.wait(3)
        finally:
            process.send_signal(signal.SIGCONT)
        note = f"redis-server pid {process.pid} stopped, continued after 3 s"
        if self.redis.sentinel:
            self.net.halt.wait(3)
            now = self.redis.primary_process()
            note += "; the sentinels failed over meanwhile" if now is not process else "; still the primary"
        return note

    def fault_redis_kill(self) -> str:
        if self.redis.sentinel:
            return "(Sentinel mode) " + self.redis.failover(self.net.halt)
        down = self.args.redis_down
        return f"SIGKILL, down {down:g} s; " + self.redis.kill_and_restart(down, self.net.halt)

    def fault_failover(self) -> str:
        if not self.redis.sentinel:
            return "SKIPPED: Redis is not behind Sentinel in this run (use --sentinel)"
        return self.redis.failover(self.net.halt)

    def fault_gunicorn(self) -> str:
        web = self.webs[0]
        masters = [web.pid, *children(web.pid)]  # bash may exec gunicorn (then web.pid is the master)
        workers = [c for m in masters for c in children(m) if "gunicorn" in _cmdline(c)]
        if not workers:
            return "SKIPPED: no gunicorn worker found"
        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        return f"worker pid {victim} of web1 killed (gunicorn starts a new one)"

    def fault_dispatcher(self) -> str:
        """Hold callback creates at the stand-in until one is in flight, then SIGKILL the dispatcher making it."""
        stub = self.stub
        stub.hold_creates()
        victim_slot, how = 0, "no callback create came within 30 s: killed between hand-overs"
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not self.net.halt.is_set():
                creating = dict(stub.creating)
                if stub.held and creating:
                    pids = [p.pid for p in self.dispatchers if p is not None]
                    for port, request in creating.items():
                        pid = pid_of_connection(port, pids)
                        if pid is not None:
                            victim_slot = pids.index(pid)
                            self.held_request = request
                            how = (
                                f"while its create for callback {request[-6:]} was held at the stand-in (mid-hand-over)"
                            )
                            break
                    break
                time.sleep(0.05)
            victim = self.dispatchers[victim_slot]
            victim.kill()
        finally:
            stub.release_creates()
        self.net.halt.wait(1.0)
        fresh = self.start_dispatcher(victim_slot)
        return f"dispatcher{victim_slot + 1} (pid {victim.pid}) killed {how}; restarted as pid {fresh.pid}"

    # --- running ---
    def progress(self) -> None:
        stats, net = self.stats, self.net
        busy = net.phones.on_calls()
        with stats.lock:
            line = (
                f"calls {stats.calls} (live {len(net.live_calls)}, holding {net.queues.waiting()}), "
                f"webhooks {stats.webhooks}, non-200 {sum(stats.non_200.values())}, "
                f"invalid {sum(stats.invalid.values())}, degraded rings {len(stats.degraded_times)}, "
                f"people on calls {len(busy)}, callbacks confirmed {len(stats.confirmed)} "
                f"reached {sum(1 for v in stats.reached.values() if v)}"
            )
        self.say(line)

    def run(self) -> None:
        args = self.args
        seconds = args.minutes * 60
        self.t0 = time.monotonic()
        self.stats = sim.Stats(self.t0)
        self.net = sim.Network(
            self.stub,
            [f"http://127.0.0.1:{p}" for p in self.web_ports],
            TOKEN,
            self.flows_dir() / "agents.yaml",
            self.stats,
        )
        rng = random.Random(self.seed)
        numbers = sim.Numbers(max(2 * args.calls, 50), rng)
        callers = []
        for i in range(args.calls):
            thread = threading.Thread(
                target=sim.caller_loop,
                args=(self.net, numbers, random.Random(rng.random())),
                name=f"caller-{i}",
                daemon=True,
            )
            callers.append(thread)
        self.say(f"soak: {args.calls} concurrent callers for {args.minutes:g} min")
        faults = threading.Thread(target=self.run_faults, args=(seconds,), name="faults", daemon=True)
        faults.start()
        for i, thread in enumerate(callers):  # staggered over the first few seconds
            thread.start()
            if i % 20 == 19:
                time.sleep(0.5)
        while self.elapsed() < seconds:
            time.sleep(min(15.0, max(0.1, seconds - self.elapsed())))
            self.progress()
        self.net.ending.set()
        self.say("time is up: callers hang up at their next chance")
        faults.join(timeout=60)
        deadline = time.monotonic() + 90
        for thread in callers:
            thread.join(timeout=max(0.1, deadline - time.monotonic()))
        left = sum(t.is_alive() for t in callers)
        self.end = self.elapsed()
        self.say(f"last call ended{f' ({left} caller threads still busy)' if left else ''}; healing window")

    def flows_dir(self) -> Path:
        return ROOT / "flows" if self.args.flows_as_is else self.flows


# --- measuring ---------------------------------------------------------------------------------------------


def redis_client(url: str):
    return store.connect(url, timeout=3, connect_timeout=2, retry_once=True)


def live(stub, sid: str | None) -> bool:
    return sim.live_status(stub, sid) not in (*sim.ENDED, "unknown")


def stuck_people(r, stub) -> list[str]:
    """Presence records ringing or busy (and not expired) whose call is not live at the stand-in."""
    now = time.time()
    found = []
    for agent, raw in r.hgetall(keys.presence()).items():
        record = _json(raw)
        status, until, call = record.get("s"), float(record.get("until") or 0), record.get("call") or ""
        if status not in BUSY_STATES or (until and until < now):
            continue
        if call.startswith("cb:"):
            leg = r.hget(keys.callback(call[3:]), "leg")
            if leg and live(stub, leg):
                continue
            if not leg and r.hget(keys.callback(call[3:]), "status") in ("claimed", "placing"):
                continue  # the call to the person is being placed right now
            found.append(f"{agent} {status} on {call[:3]}...{call[-6:]} (callback leg {sim.live_status(stub, leg)})")
        elif not live(stub, call):
            found.append(f"{agent} {status} on ...{call[-6:]} ({sim.live_status(stub, call)})")
    return found


def ghosts(r, stub) -> list[str]:
    """Queue entries of callers (not callback requests) whose call has ended at the stand-in."""
    return [
        f"...{entry[-6:]} ({sim.live_status(stub, entry)})"
        for entry in r.zrange(keys.queue(), 0, -1)
        if not entry.startswith("cb:") and sim.live_status(stub, entry) in (*sim.ENDED, "unknown")
    ]


def _json(raw: str) -> dict:
    import json

    try:
        value = json.loads(raw)
        return value if isinstance(value, dict) else {}
    except ValueError:
        return {}


def heal(soak: Soak) -> dict:
    """Give the line up to HEAL_SECONDS to let go of ended calls; what is still stuck then."""
    r = redis_client(soak.redis.url)
    started = time.monotonic()
    first_clean, people, queue = None, ["?"], ["?"]
    while time.monotonic() - started < HEAL_SECONDS:
        try:
            people, queue = stuck_people(r, soak.stub), ghosts(r, soak.stub)
        except store.StoreError as exc:
            people, queue = [f"Redis error {type(exc).__name__}"], []
        if not people and not queue:
            first_clean = time.monotonic() - started
            break
        time.sleep(2)
    clean = f"clean after {first_clean:.0f} s" if first_clean is not None else f"NOT clean after {HEAL_SECONDS} s"
    soak.say(f"heal: {clean}; stuck people {len(people)}, ghost queue entries {len(queue)}")
    r.close()
    return {"people": people, "queue": queue, "clean_after": first_clean}


def callback_accounting(soak: Soak) -> dict:
    stats = soak.stats
    r = redis_client(soak.redis.url)
    result = Counter()
    lost, twice, again = [], [], []
    for rid in sorted(stats.confirmed):
        reached = stats.reached.get(rid, 0)
        pipe = r.pipeline(transaction=False)
        pipe.hgetall(keys.callback(rid))
        pipe.zscore(keys.queue(), f"cb:{rid}")
        pipe.zscore(keys.callbacks_for_supervisors(), f"cb:{rid}")
        pipe.zscore(keys.callbacks_claimed(), f"cb:{rid}")
        data, in_queue, with_supervisors, claimed = pipe.execute()
        status = data.get("status", "(no record)")
        if reached == 1:
            result["placed exactly once"] += 1
            if in_queue is not None or status == "waiting":
                again.append(f"{rid[-6:]}: reached once, but '{status}' and {'in' if in_queue else 'out of'} line")
        elif reached > 1:
            result["placed twice"] += 1
            times = ", ".join(f"{t:.0f}s" for t in stats.reached_at[rid])
            twice.append(f"{rid[-6:]}: customer reached {reached} times (at {times}); now '{status}'")
        elif in_queue is not None and status == "waiting":
            result["still waiting in line"] += 1
        elif with_supervisors is not None or status == "needs a supervisor":
            result["with the supervisors"] += 1
        elif claimed is not None:
            result["being placed at the end"] += 1
        else:
            result["lost"] += 1
            lost.append(
                f"{rid[-6:]}: confirmed at {stats.confirmed_at[rid]:.0f}s, dialled {stats.dialled.get(rid, 0)}x, "
                f"never reached; Redis status '{status}', not in line, not with supervisors"
            )
    unconfirmed = sorted(set(stats.dialled) - set(stats.confirmed))
    r.close()
    return {"counts": result, "lost": lost, "twice": twice, "again": again, "unconfirmed": unconfirmed}


def log_summary(logs: Path) -> list[str]:
    """Per log: how many ERROR/WARNING lines and tracebacks, and the commonest error messages."""
    lines = []
    for log in sorted(logs.glob("*.log")):
        levels = Counter()
        messages = Counter()
        for text in log.read_text(errors="replace").splitlines():
            for level in ("ERROR", "WARNING", "CRITICAL", "Traceback"):
                if level in text:
                    levels[level] += 1
                    if level != "WARNING" or "Redis" in text or "Twilio" in text:
                        messages[_normalise(text)] += 1
                    break
        if levels:
            common = "; ".join(f"{n}x {m}" for m, n in messages.most_common(4))
            lines.append(f"{log.name}: {dict(levels)}  {common}")
    return lines


def _normalise(line: str) -> str:
    line = re.sub(r"^\[?[0-9-]+[ T][0-9:,.]+\]? ?", "", line)
    line = re.sub(r"\[[0-9-]+ [0-9:]+ [+0-9]+\] ", "", line)
    line = re.sub(r"\.\.\.[0-9a-f]{6}|[0-9a-f]{6}\b", "…", line)
    line = re.sub(r"pid:? ?\d+", "pid N", line)
    return line.strip()[:160]


def report(soak: Soak, healed: dict, callbacks: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    stats = soak.stats
    console = Console(width=160)
    counts = callbacks["counts"]
    non_200 = sum(stats.non_200.values())
    invalid = sum(stats.invalid.values())
    title = f"chaos soak: {soak.args.calls} concurrent callers, {soak.args.minutes:g} min, seed {soak.seed}"
    table = Table(title=title)
    table.add_column("measure")
    table.add_column("count", justify="right")
    table.add_column("goal", justify="right")
    rows = [
        ("calls", f"{stats.calls} ({stats.repeat_calls} from numbers that called before)", ""),
        ("webhook requests", str(stats.webhooks), ""),
        ("non-200 answers (incl. no answer)", str(non_200), "0"),
        ("invalid TwiML", str(invalid), "0"),
        ("callers never offered a person", f"{len(stats.never_offered)} of {stats.wanted_person}", "0"),
        ("callbacks confirmed", str(len(stats.confirmed)), ""),
        ("  placed exactly once", str(counts["placed exactly once"]), ""),
        ("  lost", str(counts["lost"]), "0"),
        ("  placed twice", str(counts["placed twice"]), "0"),
        ("agents busy/ringing with no live call, after heal", str(len(healed["people"])), "0"),
        ("queue entries for ended calls, after heal", str(len(healed["queue"])), "0"),
    ]
    for row in rows:
        bad = row[2] == "0" and not row[1].startswith("0")
        table.add_row(row[0], f"[bold red]{row[1]}[/]" if bad else row[1], row[2])
    console.print(table)

    more = Table(title="details")
    more.add_column("measure")
    more.add_column("value")
    lat = stats.latencies
    more.add_row(
        "webhook latency",
        f"p50 {sim.percentile(lat, 0.5) * 1000:.1f} ms, p99 {sim.percentile(lat, 0.99) * 1000:.1f} ms, "
        f"max {max(lat or [0]) * 1000:.0f} ms",
    )
    more.add_row("line healed (no stuck person, no ghost) after the end", _clean(healed["clean_after"]))
    more.add_row(
        "callbacks not placed (not lost)",
        f"still waiting in line {counts['still waiting in line']}, with the supervisors "
        f"{counts['with the supervisors']}, being placed at the end {counts['being placed at the end']}",
    )
    more.add_row("callback calls created (to a person first)", f"{stats.callback_legs}: {dict(stats.leg_outcomes)}")
    more.add_row("customers dialled / reached", f"{sum(stats.dialled.values())} / {sum(stats.reached.values())}")
    more.add_row(
        "requests whose customer was dialled again after a no-answer (allowed)",
        str(sum(1 for rid, n in stats.dialled.items() if n > 1 and stats.reached.get(rid, 0) <= 1)),
    )
    many = sorted(((n, rid) for rid, n in stats.legs_for.items() if n > 3), reverse=True)
    more.add_row(
        "requests with more than 3 calls placed to people",
        f"{len(many)}" + (f"; most: {many[0][1][-6:]} x{many[0][0]}" if many else ""),
    )
    more.add_row("customer dialled at a number other than the one confirmed", str(len(stats.wrong_number)))
    more.add_row("reached once but back in line (would be called again)", str(len(callbacks["again"])))
    more.add_row("dialled for a request the sim never saw confirmed", str(len(callbacks["unconfirmed"])))
    more.add_row("a person rung while on a call the service knew of", str(len(stats.rung_busy)))
    more.add_row("REST redirects of calls not waiting in line", str(len(stats.stray_redirects)))
    more.add_row(
        "degraded ring-everyone answers",
        f"{len(stats.degraded_times)} ({_when(stats.degraded_times)})",
    )
    spans = stats.degraded_spans
    more.add_row(
        "calls that met the degraded ring",
        f"{len(spans)}; on it for up to {max((b - a for a, b in spans), default=0):.0f} s; last one at "
        f"{max((b for _, b in spans), default=0):.0f} s",
    )
    if soak.held_request:
        rid = soak.held_request
        more.add_row(
            "the callback in flight when a dispatcher was killed",
            f"{rid[-6:]}: creates {stats.legs_for.get(rid, 0)}, customer dialled {stats.dialled.get(rid, 0)}x, "
            f"reached {stats.reached.get(rid, 0)}x",
        )
    more.add_row("non-200 by webhook", ", ".join(f"{p} {s}: {n}" for (p, s), n in stats.non_200.most_common()) or "-")
    more.add_row("non-200 when", _when(stats.non_200_times))
    more.add_row("/voice failed, number's fallback URL used", str(stats.fallback_url_used))
    more.add_row("plans", ", ".join(f"{k} {v}" for k, v in stats.plans.most_common()))
    more.add_row("how calls ended", ", ".join(f"{k} {v}" for k, v in stats.outcomes.most_common()))
    more.add_row("other oddities", ", ".join(f"{k}: {v}" for k, v in stats.odd.most_common()) or "-")
    if stats.sim_errors:
        more.add_row("sim errors (bugs of the soak itself)", f"{len(stats.sim_errors)}: {stats.sim_errors[:3]}")
    console.print(more)

    faults = Table(title="faults (seconds from the first call)")
    faults.add_column("fault")
    faults.add_column("at", justify="right")
    faults.add_column("until", justify="right")
    faults.add_column("what happened")
    for name, start, end, note in soak.faults:
        faults.add_row(name, f"{start:.1f}", f"{end:.1f}", note)
    console.print(faults)

    for title, items in (
        ("invalid TwiML", stats.invalid_examples),
        ("callers never offered a person", stats.never_offered),
        ("lost callbacks", callbacks["lost"]),
        ("callbacks placed twice", callbacks["twice"]),
        ("reached once but back in line", callbacks["again"]),
        ("people rung while on a call", stats.rung_busy),
        (
            "calls placed to people for the callbacks placed most often",
            [
                f"{rid[-6:]} x{n}: " + "; ".join(stats.leg_log[rid][:8]) + (" ..." if n > 8 else "")
                for n, rid in sorted(((n, rid) for rid, n in stats.legs_for.items() if n > 3), reverse=True)[:3]
            ],
        ),
        ("REST redirects of calls not waiting in line", stats.stray_redirects),
        ("wrong numbers", stats.wrong_number),
        ("stuck people after heal", healed["people"]),
        ("ghost queue entries after heal", healed["queue"]),
    ):
        if items:
            console.print(f"[bold]{title}[/] ({len(items)}):")
            for item in items[:12]:
                console.print(f"  {item}", markup=False, highlight=False)
    console.print("[bold]logs[/] (" + str(soak.logs) + "):")
    for line in log_summary(soak.logs) or ["no errors or warnings logged"]:
        console.print(f"  {line}", markup=False, highlight=False)
    for note in soak.notes:
        console.print(f"note: {note}", markup=False, highlight=False)


def _clean(seconds: float | None) -> str:
    return f"{seconds:.0f} s" if seconds is not None else f"not within {HEAL_SECONDS} s"


def _when(times: list[float]) -> str:
    """Times grouped into runs (a gap of more than 5 s starts a new run): '36-41 s x12, 108 s x3'."""
    if not times:
        return "-"
    runs, start, last, n = [], times[0], times[0], 0
    for t in sorted(times):
        if t - last > 5:
            runs.append((start, last, n))
            start, n = t, 0
        last, n = t, n + 1
    runs.append((start, last, n))
    return ", ".join(f"{a:.0f}-{b:.0f} s x{n}" if b - a >= 1 else f"{a:.0f} s x{n}" for a, b, n in runs[:8])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.sentinel and not (ROOT / "tests" / "redis_sentinel.py").exists():
        print("--sentinel: tests/redis_sentinel.py is missing; running without Sentinel (that fault is skipped)")
        args.sentinel = False
    os.chdir(ROOT)

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGINT too: a background job starts ignoring it
        signal.signal(sig, interrupt)
    soak = Soak(args)
    try:
        soak.start()
        soak.run()
        healed = heal(soak)
        soak.say("stopping the dispatchers; waiting for the calls they placed to end")
        for proc in soak.dispatchers:
            if proc is not None:
                proc.stop()
        deadline = time.monotonic() + 45
        with soak.leg_lock:
            legs = list(soak.leg_threads)
        for thread in legs:
            thread.join(timeout=max(0.1, deadline - time.monotonic()))
        callbacks = callback_accounting(soak)
        report(soak, healed, callbacks)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything", flush=True)
    finally:
        shutdown(soak)
    return 0


def shutdown(soak: Soak) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # a second Ctrl-C must not cut the cleanup short
        signal.signal(sig, signal.SIG_IGN)
    if soak.net is not None:
        soak.net.halt.set()
        soak.net.ending.set()
    if soak.stub is not None:
        soak.stub.release_creates()
    procs = [p for p in (*soak.dispatchers, *soak.webs) if p is not None]
    threads = [threading.Thread(target=p.stop) for p in procs]  # in parallel: each may take its grace period
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if soak.redis is not None:
        soak.redis.stop()
    if soak.stub is not None:
        soak.stub.close()
    for pgid in Proc.groups:
        _killpg(pgid, signal.SIGKILL)
    left = process_tree.still_alive_after(group_members(set(Proc.groups)))
    print(f"stopped everything it started{'' if not left else f'; STILL RUNNING: {sorted(left)}'}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
