"""What the tests share: the project's folder, the test credentials, a clock tests move, and the test client
through which every answer of the app is checked against Twilio's XSD."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

from flask.testing import FlaskClient

from ivr.call.presence import Presence
from ivr.store import keys, scripts
from ivr.store.presence_index import PresenceIndex
from ivr.store.sealed import Sealer
from tests.twilio_sim import assert_valid_twiml

ROOT = Path(__file__).resolve().parents[1]
AUTH_TOKEN = "test-auth-token-5f1c"
PUBLIC_URL = "https://ivr.example.com"
DATA_KEYS = "mMZDZ8m3QXdYw0Kp1n9p6bUuW0o1nJYwC9v7qYV8sQk="  # a Fernet key for the tests' sealed numbers
SEALER = Sealer(DATA_KEYS)


class Clock:
    """The time the app sees; tests move it forward instead of sleeping."""

    def __init__(self):
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, hours: float = 0, seconds: float = 0) -> None:
        self.now += hours * 3600 + seconds


class TwimlCheckingClient(FlaskClient):
    """The app's test client: every TwiML answer, from any test, is validated against Twilio's XSD here."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        if response.mimetype == "text/xml":
            assert_valid_twiml(response.get_data(as_text=True))
        return response


def wait_until(condition, seconds: float = 20, what: str = "the condition", not_yet: tuple = ()):
    """Poll CONDITION until it is truthy and return its value; fail naming WHAT after SECONDS. Exceptions of
    the types in NOT_YET count as "not yet" (a server still starting, say)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            value = condition()
        except not_yet:
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.05)


def wait_for_health(base: str, server: subprocess.Popen, seconds: float = 30) -> dict:
    """Wait until a real server answers GET /health; its report. Fails if the server exits first."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(base + "/health", timeout=1) as response:
                return json.loads(response.read())
        except OSError:
            assert server.poll() is None, "the server exited before it answered"
            assert time.monotonic() < deadline, f"the server did not answer /health within {seconds} s"
            time.sleep(0.2)


def put_presence(r, agent: str, record: Presence, now: float | None = None) -> None:
    """Set a person's presence as the line does: the record and its indexes together."""
    PresenceIndex(r).put(agent, record, time.time() if now is None else now)


def put_raw_presence(r, agent: str, raw: str, now: float | None = None) -> None:
    """Store a record as given (a damaged one, say), through the same script that keeps the indexes."""
    scripts.Registered(r).call("put", [keys.presence()], [agent, raw, time.time() if now is None else now])


def put_in_line(r, entry, now: float | None = None) -> None:
    """Put a queue entry in line as the line does (the queue, its entries and the lines it waits in)."""
    from ivr.call.queueing import request_id_of

    own = keys.callback(request_id_of(entry.id)) if entry.is_callback else keys.call(entry.id)
    scripts.Registered(r).call(
        "enqueue",
        [keys.queue(), keys.queue_entries(), own, keys.presence()],
        [
            entry.id,
            entry.since,
            entry.to_json(),
            "0" if entry.is_callback else "1",
            time.time() if now is None else now,
        ],
    )


def bearer(r, agent: str) -> dict:
    """The Authorization header of a new API token for that person (as `ivr agents token` makes)."""
    from ivr.store import accounts

    return {"Authorization": f"Bearer {accounts.new_token(r, agent)}"}
