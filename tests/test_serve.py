"""The README's run command for real: `ivr serve` starts Redis and the Procfile's gunicorn, answers a
signed call over HTTP, and stops everything on exit."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.error import HTTPError

import pytest
from twilio.request_validator import RequestValidator

from ivr.flows.catalog import load_catalog
from ivr.store.embedded_redis import free_port
from ivr.tools import serve
from tests import process_tree
from tests.support import ROOT, wait_for_health
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
        health = wait_for_health(base, server)
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
        # A client reusing a keep-alive connection after an idle spell (Twilio's pool does): gunicorn's default
        # keepalive (2 s) closes it under the client's feet, and the request fails with a reset.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/health?probe=4155550177")
        assert connection.getresponse().read() and connection.sock is not None
        time.sleep(3)
        connection.request("GET", "/health")
        assert connection.getresponse().status == 200, "the idle connection was still open"
        connection.close()
        redis_url = (tmp_path / "home" / "redis.url").read_text()
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=20)
    assert "started a local Redis" in output and "4155550142" not in output
    assert '"GET /health HTTP/1.1" 200' in output, "the access log is on"
    assert "probe=" not in output and "4155550177" not in output, "without query strings"
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "the embedded Redis stops with the server"


def start_serve(folder: Path, port: int) -> subprocess.Popen:
    """`ivr serve` as a newcomer runs it: in a folder of their own with the example flows, every setting at
    its default (a relative AUDIO_CACHE among them), and in its own process group, as a terminal starts it."""
    shutil.copytree(ROOT / "flows", folder / "flows", dirs_exist_ok=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "TWILIO_AUTH_TOKEN", "AUDIO_CACHE", "FLOWS_DIR", "IVR_HOME", "PUBLIC_URL")
    }
    env["WEB_CONCURRENCY"] = "2"
    ivr = Path(sys.executable).parent / "ivr"
    return subprocess.Popen(
        [str(ivr), "serve", "--port", str(port)],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def test_hold_music_plays_on_a_default_install(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_serve(tmp_path, port)
    try:
        wait_for_health(base, server)
        hold = load_catalog(tmp_path / "flows", audio_cache=tmp_path / "scratch").audio["audio/hold.mp3"]
        with urllib.request.urlopen(base + hold, timeout=10) as response:
            body = response.read()
            assert response.status == 200 and response.headers["Content-Type"] == "audio/wav"
        assert body[:4] == b"RIFF" and body[8:12] == b"WAVE" and len(body) > 8000 * 2 * 5  # 8 s of 8 kHz audio
        assert (tmp_path / ".ivr" / "audio-cache" / hold.rsplit("/", 1)[1]).is_file(), "cached in the working folder"
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=30)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["ctrl-c", "term", "hangup"])
def test_stopping_ivr_serve_leaves_nothing_running(tmp_path, sig):
    """Ctrl-C reaches the whole foreground process group of a terminal: ivr serve must stop gunicorn, its
    workers and Redis, and leave the port free (bench/serve_stop.py tries it 20 times over)."""
    port = free_port()
    server = start_serve(tmp_path, port)
    started: set[int] = set()
    try:
        wait_for_health(f"http://127.0.0.1:{port}", server)
        deadline = time.monotonic() + 20  # /health is answered by the first worker up; the second may still boot
        while len(started := process_tree.descendants(server.pid)) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(started) >= 4, "bash-less gunicorn master, two workers and redis-server"
        own_group = process_tree.process_group(server.pid)
        assert all(process_tree.process_group(pid) != own_group for pid in started), (
            "a terminal's Ctrl-C must reach ivr serve alone, which then stops its children in order"
        )
        os.killpg(server.pid, sig)  # as the terminal does: the signal goes to the process group
        assert server.wait(timeout=30) == 0
        assert process_tree.still_alive_after(started) == set()
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, "nothing listens on the port"
    finally:  # a failed run must not leave a server behind for the rest of the suite
        for pid in process_tree.alive(started | {server.pid}):
            os.kill(pid, signal.SIGKILL)
        server.wait(timeout=10)


def test_a_child_that_ignores_sigterm_is_killed_with_everything_it_started():
    """The reported failure: a gunicorn worker stuck in its shutdown, ignoring SIGTERM, holding the port."""
    children = serve.Children()
    stubborn = children.start("sh -c 'trap \"\" TERM INT; sleep 300 & sleep 300'", dict(os.environ))
    deadline = time.monotonic() + 5
    while len(process_tree.descendants(stubborn.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    group = {stubborn.pid} | process_tree.descendants(stubborn.pid)
    assert len(group) == 3, "the shell and its two sleeps"
    began = time.monotonic()
    children.stop(seconds=0.5)
    assert time.monotonic() - began < 5
    assert process_tree.still_alive_after(group) == set()


def test_a_stop_request_while_redis_is_starting_still_stops_everything(tmp_path):
    """SIGTERM before the web server exists: ivr serve must not go on to serve, and Redis must not stay."""
    server = start_serve(tmp_path, free_port())
    deadline = time.monotonic() + 20
    while not (tmp_path / ".ivr" / "redis").exists():  # Redis is being started
        assert time.monotonic() < deadline and server.poll() is None
        time.sleep(0.01)
    os.killpg(server.pid, signal.SIGTERM)
    started = process_tree.descendants(server.pid)  # whatever it had started when the signal came
    server.wait(timeout=30)
    assert process_tree.still_alive_after(started) == set()
    assert not (tmp_path / ".ivr" / "redis.url").exists(), "no address left for a Redis that is gone"
    redis_log = tmp_path / ".ivr" / "redis" / "redis.log"
    assert (
        not redis_log.exists()
        or "ready to accept" not in redis_log.read_text()
        or "shutdown" in (redis_log.read_text().lower())
    ), "a Redis that got going was shut down"


def test_a_killed_local_redis_loses_nothing_across_a_restart_of_ivr_serve(tmp_path):
    """kill -9 of the Redis `ivr serve` runs, then `ivr serve` started again: what was set is still there."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    ivr = str(Path(sys.executable).parent / "ivr")
    server = start_serve(tmp_path, port)
    try:
        wait_for_health(base, server)
        subprocess.run([ivr, "agents", "away", "mei"], cwd=tmp_path, check=True, capture_output=True)
        redis_pid = next(p for p in process_tree.descendants(server.pid) if "redis-server" in _command(p))
        os.kill(redis_pid, signal.SIGKILL)
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=30)
    server = start_serve(tmp_path, port)
    try:
        wait_for_health(base, server)
        listing = subprocess.run([ivr, "agents"], cwd=tmp_path, check=True, capture_output=True, text=True).stdout
        mei = next(row for row in listing.splitlines() if " mei " in row)
        assert "away" in mei, listing
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=30)


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""
