"""Ctrl-C on `ivr serve`, N times over: does anything stay running? Run by hand, not a timed test.

    .venv/bin/python bench/serve_stop.py [TRIES] [SIGNAL]

Each try starts `ivr serve` in a fresh folder with the example flows and every default, in its own process
group as a terminal does, waits for /health, records every process below it, sends the signal to the whole
group (as the terminal's Ctrl-C does), and counts what is still alive 5 s after `ivr serve` exits.
"""

from __future__ import annotations

import http.client
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ivr.store.embedded_redis import free_port
from tests import process_tree
from tests.support import wait_for_health
from tests.test_serve import start_serve


def one_try(sig: signal.Signals) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        server = start_serve(Path(folder), port)
        wait_for_health(f"http://127.0.0.1:{port}", server)
        # as after real use: connections kept alive in the workers' threads while the signal arrives
        idle = [http.client.HTTPConnection("127.0.0.1", port, timeout=5) for _ in range(4)]
        for connection in idle:
            connection.request("GET", "/health")
            connection.getresponse().read()
        started = process_tree.descendants(server.pid)
        began = time.monotonic()
        os.killpg(server.pid, sig)
        try:
            server.wait(timeout=60)
        except Exception:
            os.killpg(server.pid, signal.SIGKILL)
        took = time.monotonic() - began
        for connection in idle:
            connection.close()
        left = process_tree.still_alive_after(started)
        for pid in left:  # clean up after a failed try, so the next one starts clear
            os.kill(pid, signal.SIGKILL)
        return len(left), took


def main() -> None:
    tries = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    sig = signal.Signals[sys.argv[2]] if len(sys.argv) > 2 else signal.SIGINT
    clean, times = 0, []
    for n in range(1, tries + 1):
        left, took = one_try(sig)
        clean += left == 0
        times.append(took)
        print(f"try {n:2}: {'clean' if left == 0 else f'{left} process(es) left running'}, stopped in {took:.2f} s")
    times.sort()
    median, worst = times[len(times) // 2], times[-1]
    print(f"{clean}/{tries} clean after {sig.name}; stop time median {median:.2f} s, max {worst:.2f} s")


if __name__ == "__main__":
    main()
