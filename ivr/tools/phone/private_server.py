"""The private server started for one run: its own Redis in a temporary folder plus the Procfile's web command,
so callers start fresh on every run."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

import requests

from ivr.store.embedded_redis import EmbeddedRedis, free_port
from ivr.store.sealed import new_key
from ivr.tools.phone.errors import ServerError

SERVER_START_TIMEOUT = 30


class PrivateServer:
    """Its own Redis in a temporary folder plus the Procfile's web command on a free port, for one run."""

    def __init__(self, web_command: str, flows: Path, audio_cache: Path | None = None):
        self.web_command = web_command
        self.flows = flows
        self.audio_cache = audio_cache
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.folder: Path | None = None
        self.redis: EmbeddedRedis | None = None
        self.process: subprocess.Popen | None = None
        self.log: deque[str] = deque(maxlen=40)  # the server's own output, kept in memory for errors only
        self._reader: threading.Thread | None = None

    def start(self) -> PrivateServer:
        self.folder = Path(tempfile.mkdtemp(prefix="ivr-call-"))
        self.redis = EmbeddedRedis(self.folder / "redis", persist=False).start()
        env = {
            k: v
            for k, v in os.environ.items()
            if k
            not in (
                "REDIS_URL",
                "PUBLIC_URL",
                "TWILIO_AUTH_TOKEN",
                "IVR_INSECURE_SKIP_TWILIO_SIGNATURE",
                "TWILIO_ACCOUNT_SID",
                "AGENT_API_TOKEN",
            )
        }
        env.update(
            PORT=str(self.port),
            FLOWS_DIR=str(self.flows),
            WEB_CONCURRENCY="1",
            REDIS_URL=self.redis.url,
            TWILIO_AUTH_TOKEN=self.token,
            DATA_KEYS=new_key(),
            IVR_HOME=str(self.folder),
            AUDIO_CACHE=str(self.audio_cache or self.folder / "audio-cache"),
        )
        # gunicorn lives beside this Python, whether or not the virtual env is activated
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        self.process = subprocess.Popen(
            ["bash", "-c", f"exec {self.web_command}"],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # Ctrl-C reaches the phone, which stops it
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        self._wait_healthy()
        return self

    def _read_log(self) -> None:
        for line in self.process.stdout:
            self.log.append(line.rstrip())

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        with requests.Session() as session:
            session.trust_env = False
            while True:
                try:
                    if session.get(self.url + "/health", timeout=1).status_code == 200:
                        return
                except requests.RequestException:
                    pass
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    tail = "\n".join(self.log) or "(no output)"
                    raise ServerError(f"the private server did not start; its last words:\n{tail}")
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            if self._reader is not None:
                self._reader.join(timeout=5)
            self.process.stdout.close()
            self.process = None
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self) -> PrivateServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
