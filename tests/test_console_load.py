"""The console never takes the webhooks' threads: with 50 console screens open, polling their live part every
second as the browser does, Twilio's webhooks on the same web server keep their latency."""

from __future__ import annotations

import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
import requests
from prometheus_client.parser import text_string_to_metric_families

from ivr.store import accounts
from ivr.store.embedded_redis import EmbeddedRedis, free_port
from tests.support import AUTH_TOKEN, DATA_KEYS, PUBLIC_URL, ROOT, wait_for_health
from tests.test_several_hosts import Reply
from tests.twilio_sim import Twilio

CONSOLES = 50
CALLS = 40  # new calls timed before, and again while the consoles poll ...
SPACING = 0.1  # ... one every 100 ms: 4 seconds, in which the 50 consoles poll about 200 times


class Host:
    """Posts webhooks to one real web server, as Twilio would."""

    def __init__(self, base: str):
        self.base = base
        self.session = requests.Session()

    def post(self, path: str, data: dict, headers: dict) -> Reply:
        return Reply(self.session.post(self.base + path, data=data, headers=headers, timeout=15))


@pytest.fixture
def web(tmp_path):
    """Redis and the Procfile's web command (gunicorn, its default workers and threads)."""
    with EmbeddedRedis(tmp_path / "redis", persist=False) as server:
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "WEB_CONCURRENCY", "WEB_THREADS")}
        port = free_port()
        env.update(
            REDIS_URL=server.url,
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            DATA_KEYS=DATA_KEYS,
            PUBLIC_URL=PUBLIC_URL,
            SECRET_KEY="load-test-secret",
            METRICS_TOKEN="scrape-secret",
            FLOWS_DIR=str(ROOT / "flows"),
            AUDIO_CACHE=str(tmp_path / "audio-cache"),
            PORT=str(port),
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        )
        command = next(x for x in (ROOT / "Procfile").read_text().splitlines() if x.startswith("web:"))[4:].strip()
        with (tmp_path / "web.log").open("w") as log:
            process = subprocess.Popen(
                ["bash", "-c", f"exec {command}"], cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True
            )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for_health(base, process)
            yield base, redis.Redis.from_url(server.url, decode_responses=True)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)


def signed_in(base: str, r) -> requests.Session:
    accounts.set_password(r, "rosa", "a long enough password")
    session = requests.Session()
    page = session.get(base + "/console/sign-in", timeout=5).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = {"agent": "rosa", "password": "a long enough password", "csrf_token": token}
    assert session.post(base + "/console/sign-in", data=form, timeout=5, allow_redirects=False).status_code == 302
    return session


def new_call_latencies(twilio: Twilio) -> list[float]:
    took = []
    for _ in range(CALLS):
        started = time.perf_counter()
        call = twilio.call().start()
        took.append(time.perf_counter() - started)
        assert call.gather() is not None
        time.sleep(SPACING)
    return took


def test_fifty_open_consoles_leave_the_webhooks_their_latency(web):
    base, r = web
    twilio = Twilio(Host(base), AUTH_TOKEN, PUBLIC_URL)
    new_call_latencies(twilio)  # warm up: scripts loaded, connections made
    before = new_call_latencies(twilio)

    cookies = signed_in(base, r).cookies
    stop = threading.Event()
    polls: list[int] = []

    def console() -> None:
        """One open supervisor's screen: the live part every second, with If-None-Match, as live.js does."""
        session = requests.Session()
        session.cookies.update(cookies)
        etag = None
        while not stop.is_set():
            response = session.get(
                base + "/console/line/live", headers={"If-None-Match": etag} if etag else {}, timeout=15
            )
            polls.append(response.status_code)
            etag = response.headers.get("ETag", etag)
            stop.wait(1.0)

    screens = [threading.Thread(target=console, daemon=True) for _ in range(CONSOLES)]
    for screen in screens:
        screen.start()
    try:
        deadline = time.monotonic() + 20
        while len(polls) < 2 * CONSOLES:  # every screen is up and polling
            assert time.monotonic() < deadline, f"the consoles did not poll: {len(polls)} answers"
            time.sleep(0.05)
        polled_before = len(polls)
        during = new_call_latencies(twilio)
        polled_during = len(polls) - polled_before
    finally:
        stop.set()
        for screen in screens:
            screen.join(timeout=20)

    assert set(polls) <= {200, 304}, f"console answers: {sorted(set(polls))}"
    p50_before, p50_during = statistics.median(before), statistics.median(during)
    worst = max(during)
    report = f"new call p50 {p50_before * 1000:.1f} ms alone, {p50_during * 1000:.1f} ms with {CONSOLES} consoles"
    unchanged = f"{polls.count(304)} of {len(polls)} answered 304"
    print(f"{report}; slowest {worst * 1000:.1f} ms; {polled_during} polls meanwhile; {unchanged}")
    assert polled_during >= 2 * CONSOLES, "the consoles were polling while the calls were timed"
    assert p50_during <= 3 * p50_before + 0.025, report
    assert worst < 1.0, f"{report}; the slowest took {worst * 1000:.0f} ms: a webhook waited for a thread"


def test_the_web_processes_counters_add_up_across_gunicorn_workers(web):
    """prometheus_client's multiprocess mode, its folder set by the Procfile's gunicorn settings."""
    base, _ = web
    twilio = Twilio(Host(base), AUTH_TOKEN, PUBLIC_URL)
    for _ in range(20):
        assert twilio.call().start().gather() is not None
    scraped = requests.get(base + "/metrics", headers={"Authorization": "Bearer scrape-secret"}, timeout=10)
    assert scraped.status_code == 200
    calls = next(
        s.value
        for family in text_string_to_metric_families(scraped.text)
        for s in family.samples
        if s.name == "ivr_calls_total" and s.labels.get("line") == "riverlink-support"
    )
    assert calls == 20, "every worker's calls, summed"
