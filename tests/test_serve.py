"""The README's run command for real: `ivr serve` starts Redis and the Procfile's gunicorn, answers a
signed call over HTTP, and stops everything on exit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.error import HTTPError

from twilio.request_validator import RequestValidator

from ivr.store.embedded_redis import free_port
from tests.conftest import ROOT
from tests.twilio_sim import assert_valid_twiml, new_sid

TOKEN = "serve-test-token"


def post(url: str, params: dict, signature: str) -> tuple[int, str]:
    data = urllib.parse.urlencode(params).encode()
    request = urllib.request.Request(url, data=data, headers={"X-Twilio-Signature": signature})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except HTTPError as error:
        return error.code, ""


def test_ivr_serve_answers_a_signed_call_and_cleans_up(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "TWILIO_AUTH_TOKEN")}
    env.update(IVR_HOME=str(tmp_path / "home"), TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_URL=base, WEB_CONCURRENCY="1")
    ivr = Path(sys.executable).parent / "ivr"
    server = subprocess.Popen(
        [str(ivr), "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(base + "/health", timeout=1) as response:
                    health = json.loads(response.read())
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, server.stdout.read()
                time.sleep(0.2)
        assert health["redis"] == "ok" and list(health["lines"]) == ["riverlink-support"]
        params = {
            "CallSid": new_sid(),
            "AccountSid": new_sid("AC"),
            "From": "+14155550142",
            "To": "+15005550006",
            "CallStatus": "ringing",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }
        signature = RequestValidator(TOKEN).compute_signature(base + "/voice", params)
        status, body = post(base + "/voice", params, signature)
        assert status == 200 and "Riverlink" in body
        assert_valid_twiml(body)
        assert post(base + "/voice", params, "forged")[0] == 403
        redis_url = (tmp_path / "home" / "redis.url").read_text()
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=20)
    assert "started a local Redis" in output and "4155550142" not in output
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    import socket

    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "the embedded Redis stops with the server"
