"""`ivr serve`: the Procfile's web (and worker) commands beside a local Redis, stopped cleanly however it ends.

Each child runs in its own session, so the terminal's Ctrl-C (SIGINT to the whole foreground process group)
reaches only this process, which then stops the children in order: a graceful SIGTERM to each, a bounded
wait, then SIGKILL to whatever is left of each child's process group (a gunicorn worker stuck in its own
shutdown included), and Redis last, since the web process may still be answering until it stops.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
STOP_SECONDS = 10  # a graceful stop gets this long before everything left is killed
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def procfile_command(kind: str) -> str | None:
    """The Procfile's KIND line: the one in this folder, else the project's own (ivr serve from anywhere)."""
    procfile = Path("Procfile") if Path("Procfile").exists() else PROJECT / "Procfile"
    if not procfile.exists():
        raise FileNotFoundError("no Procfile here or beside the project; run this from the project folder")
    for line in procfile.read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == kind:
            return command.strip()
    return None


def interrupt(*_) -> None:
    """SIGTERM and SIGHUP stop `ivr serve` the way Ctrl-C does, wherever it is (starting Redis included)."""
    raise KeyboardInterrupt


def ignore_stop_signals() -> None:
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


class Children:
    """The processes `ivr serve` started, each the leader of its own session and process group."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen] = []

    def start(self, command: str, env: dict) -> subprocess.Popen:
        process = subprocess.Popen(["bash", "-c", f"exec {command}"], env=env, start_new_session=True)
        self.processes.append(process)
        return process

    def terminate(self, *_) -> None:
        """Ask every child to stop (gunicorn: finish the requests in flight, then exit)."""
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()

    def stop(self, seconds: float = STOP_SECONDS) -> None:
        """Stop them all and leave nothing behind: a second Ctrl-C cannot interrupt this half-way."""
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in STOP_SIGNALS}
        try:
            self.terminate()
            for process in self.processes:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=seconds)
            for process in self.processes:  # whatever is left in its group, the leader gone or not
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
