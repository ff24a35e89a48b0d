"""Fixtures: a real Redis started for the session, the app wired to it, and a Twilio stand-in.

Shared constants and helpers live in tests/support.py: tests import from there, never from here."""

from __future__ import annotations

import pytest
import redis

from ivr.call import presence
from ivr.dispatcher.worker import Worker
from ivr.store.embedded_redis import EmbeddedRedis
from tests.support import AUTH_TOKEN, DATA_KEYS, PUBLIC_URL, ROOT, Clock, TwimlCheckingClient, put_presence
from tests.twilio_rest_stub import TwilioRestStub
from tests.twilio_sim import Twilio
from webhooks import create_app


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    with EmbeddedRedis(tmp_path_factory.mktemp("redis"), persist=False) as server:
        yield server


@pytest.fixture
def r(redis_server):
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def make_app(redis_server, r, clock, tmp_path_factory):
    audio_cache = tmp_path_factory.mktemp("audio-cache")

    def make(**overrides):
        config = {
            "REDIS_URL": redis_server.url,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "DATA_KEYS": DATA_KEYS,
            "PUBLIC_URL": PUBLIC_URL,
            "FLOWS_DIR": str(ROOT / "flows"),
            "CLOCK": clock,
            "AGENT_API_TOKEN": "agent-secret",
            "SECRET_KEY": "test-secret-key-for-console-sessions",
            "FALLBACK_NUMBER": "",
            "TESTING": True,
            "AUDIO_CACHE": str(audio_cache),
            "RELOAD_SECONDS": 0,
        }
        config.update(overrides)
        app = create_app(config)
        app.test_client_class = TwimlCheckingClient  # every TwiML answer of every test: checked by the XSD
        return app

    return make


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def twilio(client):
    return Twilio(client, AUTH_TOKEN, PUBLIC_URL)


@pytest.fixture
def rest():
    """The stand-in for Twilio's REST API (tests/twilio_rest_stub.py), accepting calls to any number."""
    with TwilioRestStub(auth_token="rest-token", accept_any_call=True) as stub:
        yield stub


@pytest.fixture
def worker(app, r, rest, clock):
    """A dispatcher on the app's flows and Redis, talking to the REST stand-in, run a round at a time."""
    return Worker(app.extensions["ivr"].catalogs, r, rest.client(), PUBLIC_URL, clock=clock)


@pytest.fixture
def moving_busy(r, clock):
    """Both people of the moving team are on other calls."""
    for agent in ("alex", "mei"):
        put_presence(r, agent, presence.Presence(presence.BUSY, 0, clock.now + 3600, "CAx"))
