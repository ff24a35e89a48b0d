"""Durable by default: kill -9 of the Redis that `ivr serve` runs loses no promise made to a caller."""

from __future__ import annotations

import redis

from ivr.call import presence
from ivr.store import keys, presence_records
from ivr.store.embedded_redis import EmbeddedRedis
from tests.support import AUTH_TOKEN, PUBLIC_URL, put_presence
from tests.twilio_sim import Twilio


def test_kill_9_of_the_local_redis_keeps_callbacks_memory_presence_and_the_queue(make_app, tmp_path, clock):
    folder = tmp_path / "redis"
    server = EmbeddedRedis(folder).start()  # as `ivr serve` runs it: persist is the default
    try:
        app = make_app(REDIS_URL=server.url)
        twilio = Twilio(app.test_client(), AUTH_TOKEN, PUBLIC_URL)
        r = redis.Redis.from_url(server.url, decode_responses=True)

        helped = twilio.call("+14155550150").start()  # talks to someone: remembered
        helped.press("3")
        helped.agent_answers()
        helped.hangup()
        away = "priya"
        presence_records.set_status(r, away, presence.AWAY, clock.now)
        for person in ("alex", "mei"):  # the moving team is on other calls
            busy = presence.Presence(presence.BUSY, 0, clock.now + 3600, "CAx")
            put_presence(r, person, busy)

        asking = twilio.call("+14155550142").start()  # waits, then asks to be called back
        asking.press("3")
        assert asking.enqueued()
        clock.advance(seconds=5)
        waiting = twilio.call().start()  # still waiting when Redis dies
        waiting.press("3")
        asking.wait(seconds=65)
        asking.press_while_waiting("1")
        asking.left_queue("leave")
        asking.press("1")
        assert "keep your place" in asking.heard()
        before = r.zrange(keys.queue(), 0, -1, withscores=True)
        assert before[0][0] == f"cb:{asking.sid}" and before[1][0] == waiting.sid

        server.process.kill()  # kill -9: no shutdown save
        server.process.wait()
        r.close()
        server = EmbeddedRedis(folder, port=server.port).start()  # `ivr serve` started again
        r = redis.Redis.from_url(server.url, decode_responses=True)

        assert r.zrange(keys.queue(), 0, -1, withscores=True) == before, "the line keeps its order"
        assert r.hget(keys.callback(asking.sid), "status") == "waiting"
        assert presence_records.read_all(r)[away].status == presence.AWAY, "away stays away"
        again = twilio.call("+14155550150").start()
        assert "who helped you last time" in again.heard(), "the caller is still remembered"
        r.close()
    finally:
        server.stop()


def test_the_local_redis_writes_an_append_only_file_synced_every_second(tmp_path):
    with EmbeddedRedis(tmp_path / "redis") as server:
        r = redis.Redis.from_url(server.url, decode_responses=True)
        config = {**r.config_get("appendonly"), **r.config_get("appendfsync"), **r.config_get("save")}
        r.close()
    assert config["appendonly"] == "yes" and config["appendfsync"] == "everysec"
    assert config["save"], 'snapshots too, not `save ""`'


def test_a_redis_that_keeps_nothing_is_named_at_start(make_app, redis_server, tmp_path, caplog):
    make_app()  # the tests' own Redis saves nothing
    assert "keeps nothing across a restart" in caplog.text
    caplog.clear()
    with EmbeddedRedis(tmp_path / "redis") as durable:
        make_app(REDIS_URL=durable.url)
    assert "keeps nothing" not in caplog.text
