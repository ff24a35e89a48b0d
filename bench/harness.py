"""What the benchmark's measurements share: processes started in their own group and pinned to their cores,
their CPU read from /proc, Redis's own counters read from INFO, Twilio's signed requests, one HTTP client."""

from __future__ import annotations

import html
import http.client
import itertools
import math
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlencode

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

TOKEN = "bench-auth-token-0c9d6e"
LINE = "+15005550006"
FORM = "application/x-www-form-urlencoded"
TICK = os.sysconf("SC_CLK_TCK")
_numbers = itertools.count(1)  # every caller of a run has a number of its own: +1555 and seven digits


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cores() -> tuple[str | None, str | None]:
    """(the servers' CPUs, the load generator's CPU) as taskset lists; (None, None) with a single CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return ",".join(map(str, cpus[:-1])), str(cpus[-1])


def taskset(cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus] if cpus else []


def pin(pid: int, cpus: str | None) -> None:
    """Pin every thread of a running process (`taskset -a -p`): for Redis, started by the project's own code."""
    if not cpus:
        return
    mask = {int(c) for c in cpus.split(",")}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with suppress(OSError):  # a thread that has just ended
            os.sched_setaffinity(int(tid), mask)


def clean_env(**settings: str) -> dict[str, str]:
    """The bench's environment without any of the project's settings, then exactly the ones given."""
    from ivr.settings import ENV_NAMES

    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # the venv's gunicorn
    env.update(settings)
    return env


class Process:
    """A command in its own process group, logging to a file; its CPU is that of the whole group."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logdir: Path):
        self.name, self.argv, self.env = name, argv, env
        self.log = logdir / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> Process:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def wait_http(self, port: int, timeout: float = 60.0) -> None:
        """Until both gunicorn workers answer (any answer: a 404 or 405 means it serves)."""
        deadline, answered = time.monotonic() + timeout, 0
        while answered < 2:
            self._check(deadline)
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/")
                conn.getresponse().read()
                conn.close()
                answered += 1
            except OSError:
                time.sleep(0.1)
        time.sleep(0.5)  # the other worker finishes booting

    def wait_log(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log.read_text(errors="replace"):
            self._check(deadline)
            time.sleep(0.1)

    def _check(self, deadline: float) -> None:
        if self.process.poll() is not None:
            raise SystemExit(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")
        if time.monotonic() > deadline:
            raise SystemExit(f"{self.name} was not ready in time:\n{self.tail()}")

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def cpu_seconds(self) -> float:
        """utime + stime of every process in the group, and of the children they reaped, from /proc."""
        total = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == self.process.pid:  # fields[2] is the process group
                total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
        return total / TICK

    def stop(self) -> None:
        if self.process is None:
            return
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.process.pid, sig)
                self.process.wait(timeout=wait)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        self.process = None


class RedisCounters:
    """Redis's total_net_output_bytes and CPU (used_cpu_sys + used_cpu_user) from `INFO stats` and `INFO cpu`,
    read over a socket of its own. The bytes of its own replies are known exactly and taken out; the CPU one
    reading costs is measured (calibrate) and taken out; commands the bench itself sends inside a measured
    window are bracketed by `excluding()` and taken out too."""

    ASK = b"*2\r\n$4\r\nINFO\r\n$5\r\nstats\r\n*2\r\n$4\r\nINFO\r\n$3\r\ncpu\r\n"

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.file = self.sock.makefile("rb")
        self.own_bytes = 0  # bytes of every INFO reply read so far
        self.reads = 0
        self.read_cpu = 0.0  # CPU seconds one reading costs Redis
        self.excluded_bytes = 0
        self.excluded_cpu = 0.0

    def _reply(self) -> str:
        header = self.file.readline()
        data = self.file.read(int(header[1:]) + 2)
        self.own_bytes += len(header) + len(data)
        return data.decode()

    def read(self) -> dict:
        """A reading: Redis's counters, and the bench's own share so far (its INFO replies before this one)."""
        snap = {"own": self.own_bytes, "reads": self.reads}
        snap |= {"ex_bytes": self.excluded_bytes, "ex_cpu": self.excluded_cpu}
        self.sock.sendall(self.ASK)
        # Redis counts its output bytes when it runs INFO stats, before this reading's own replies are written
        value = dict(re.findall(r"^(\w+):([\d.]+)\r?$", self._reply() + self._reply(), re.M))
        self.reads += 1
        snap["out"] = int(value["total_net_output_bytes"])
        snap["cpu"] = float(value["used_cpu_sys"]) + float(value["used_cpu_user"])
        return snap

    def calibrate(self, n: int = 200) -> None:
        first = last = self.read()
        for _ in range(n):
            last = self.read()
        self.read_cpu = (last["cpu"] - first["cpu"]) / n

    def since(self, start: dict) -> tuple[float, float]:
        """(Redis output bytes, Redis CPU seconds) since the reading `start`, the bench's own taken out."""
        end = self.read()
        out = end["out"] - start["out"] - (end["own"] - start["own"]) - (end["ex_bytes"] - start["ex_bytes"])
        cpu = end["cpu"] - start["cpu"] - (end["reads"] - start["reads"]) * self.read_cpu
        return out, cpu - (end["ex_cpu"] - start["ex_cpu"])

    @contextmanager
    def excluding(self):
        """Bracket commands the bench sends to Redis inside a measured window: they are not the service's."""
        before = self.read()
        yield
        after = self.read()
        self.excluded_bytes += after["out"] - before["out"] - (after["own"] - before["own"])
        self.excluded_cpu += after["cpu"] - before["cpu"] - self.read_cpu

    def close(self) -> None:
        self.sock.close()


class Twilio:
    """Twilio's side of the webhooks: new calls and signed requests for the service at PUBLIC_URL."""

    def __init__(self, public_url: str):
        from twilio.request_validator import RequestValidator

        self.validator = RequestValidator(TOKEN)
        self.public_url = public_url.rstrip("/")
        self.account = "AC" + secrets.token_hex(16)

    def new_call(self) -> dict[str, str]:
        """What Twilio sends with a new inbound call: a new CallSid (CA + 32 hex), from a new number."""
        number = f"+1555{next(_numbers):07d}"
        return {
            "CallSid": "CA" + secrets.token_hex(16),
            "AccountSid": self.account,
            "From": number,
            "Caller": number,
            "To": LINE,
            "CallStatus": "ringing",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }

    def sign(self, path: str, params: dict[str, str]) -> tuple[str, bytes, dict[str, str]]:
        """(path, body, headers) with X-Twilio-Signature over the full URL and the form's parameters."""
        signature = self.validator.compute_signature(self.public_url + path, params)
        return path, urlencode(params).encode(), {"Content-Type": FORM, "X-Twilio-Signature": signature}


class Client:
    """One keep-alive HTTP/1.1 connection; post() gives (status, body, seconds), status 0 when it failed."""

    def __init__(self, port: int, timeout: float = 30.0):
        self.port, self.timeout = port, timeout
        self.conn: http.client.HTTPConnection | None = None

    def post(self, path: str, body: bytes, headers: dict[str, str], timeout: float | None = None):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout or self.timeout)
        elif timeout is not None and self.conn.sock is not None:
            self.conn.sock.settimeout(timeout)
        start = time.perf_counter()
        try:
            self.conn.request("POST", path, body, headers)
            response = self.conn.getresponse()
            text = response.read().decode()
            return response.status, text, time.perf_counter() - start
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return 0, f"{type(exc).__name__}: {exc}", time.perf_counter() - start

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def attribute(twiml: str, element: str, name: str) -> str | None:
    """An attribute of the first such element of a TwiML answer, unescaped."""
    found = re.search(rf"<{element}\b[^>]*\b{name}=\"([^\"]*)\"", twiml)
    return html.unescape(found[1]) if found else None


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not values:
        return float("nan")
    return values[min(len(values) - 1, max(0, math.ceil(p / 100 * len(values)) - 1))]


def markdown(title: str, headers: list[str], rows: list[list[str]]) -> str:
    lines = [f"\n#### {title}\n", "| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def procfile_web() -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line[len("web:") :].strip()
    raise SystemExit("no `web:` line in the Procfile")


_data_key: list[str] = []


def data_key() -> str:
    """A key for the numbers the service seals (what `ivr data-key` prints): one per run."""
    if not _data_key:
        from cryptography.fernet import Fernet

        _data_key.append(Fernet.generate_key().decode())
    return _data_key[0]


def start_service(name: str, logdir: Path, redis_url: str, flows: Path, cpus: str | None, workers: str = "2"):
    """The Procfile's `web:` command, exactly as written, run by `bash -c`: (process, port, PUBLIC_URL)."""
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    env = clean_env(
        PORT=str(port),
        REDIS_URL=redis_url,
        TWILIO_AUTH_TOKEN=TOKEN,
        PUBLIC_URL=public_url,
        FLOWS_DIR=str(flows),
        DATA_KEYS=data_key(),
        AUDIO_CACHE=str(logdir.parent / "audio-cache"),
        WEB_CONCURRENCY=workers,
    )
    service = Process(name, taskset(cpus) + ["bash", "-c", procfile_web()], env, logdir).start()
    service.wait_http(port)
    return service, port, public_url


def load_average() -> str:
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def busy_elsewhere(seconds: float = 1.0) -> float:
    """The share of all CPUs busy over SECONDS (from /proc/stat), measured before the bench starts anything."""

    def times() -> tuple[int, int]:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # all, idle + iowait

    total0, idle0 = times()
    time.sleep(seconds)
    total1, idle1 = times()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


class Neighbours:
    """CPU used by processes outside this bench's own tree (another run, a test suite), sampled every second
    from /proc, so a run disturbed by other work says so."""

    def __init__(self):
        self.seconds = 0.0  # other processes' CPU seconds so far
        self._last: dict[int, int] = {}
        self._was_mine: set[int] = set()
        self._stop = False
        threading.Thread(target=self._run, daemon=True, name="neighbours").start()

    def _sample(self) -> None:
        stats: dict[int, tuple[int, int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                stats[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
        mine, grew = {os.getpid()}, True
        while grew:
            grew = False
            for pid, (ppid, _) in stats.items():
                if ppid in mine and pid not in mine:
                    mine.add(pid)
                    grew = True
        ticks = {pid: cpu for pid, (_, cpu) in stats.items() if pid not in mine}
        if self._last:  # a process of ours that outlived its parent counts from now on only
            base = {pid: self._last.get(pid, cpu if pid in self._was_mine else 0) for pid, cpu in ticks.items()}
            self.seconds += sum(cpu - base[pid] for pid, cpu in ticks.items()) / TICK
        self._last, self._was_mine = ticks, mine

    def _run(self) -> None:
        while not self._stop:
            self._sample()
            time.sleep(1.0)

    def share(self, since: tuple[float, float]) -> float:
        """Other processes' CPU since `mark()` as a share of one core."""
        return (self.seconds - since[0]) / max(1e-9, time.monotonic() - since[1])

    def mark(self) -> tuple[float, float]:
        return self.seconds, time.monotonic()
