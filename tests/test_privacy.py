"""No phone number at rest in plain text: not in Redis, not in its files, not in the logs."""

from __future__ import annotations

import json
import logging

import redis

from ivr.call import presence
from ivr.store import keys
from ivr.store.embedded_redis import EmbeddedRedis
from tests.support import AUTH_TOKEN, DATA_KEYS, PUBLIC_URL, SEALER, put_presence, wait_until
from tests.test_worker import agent_leg, post_doc
from tests.twilio_rest_stub import TwilioRestStub
from tests.twilio_sim import Twilio

CALLER, TYPED, TALKER = "4155550142", "4155550199", "4155550150"


def test_no_number_can_be_read_from_redis_its_files_or_the_logs(make_app, tmp_path, clock, caplog):
    caplog.set_level(logging.DEBUG)
    with EmbeddedRedis(tmp_path / "redis") as server:  # durable, as `ivr serve` runs it: the files are checked
        app = make_app(REDIS_URL=server.url)
        twilio = Twilio(app.test_client(), AUTH_TOKEN, PUBLIC_URL)
        r = redis.Redis.from_url(server.url, decode_responses=True)
        talker = twilio.call("+1" + TALKER).start()  # talks to someone, so the whisper needs the number
        talker.press("3")
        talker.agent_answers()
        talker.hangup()
        for person in ("alex", "mei"):
            put_presence(r, person, presence.Presence(presence.BUSY, 0, 1e10, "CAx"))
        waiting = twilio.call("+1" + CALLER).start()  # waits, then asks for a call back on a typed number
        waiting.press("3")
        waiting.wait(seconds=65)
        waiting.press_while_waiting("1")
        waiting.left_queue("leave")
        waiting.press("2")  # another number
        waiting.press("1" + TYPED)
        waiting.press("1")
        assert "keep your place" in waiting.heard()
        assert SEALER.open(r.hget(keys.callback(waiting.sid), "number")) == "+1" + TYPED
        # every write as it reached the append-only file (before a rewrite compacts the history away) ...
        files = _files(tmp_path / "redis")
        assert b"ivr:callback:" in files, "the append-only file holds the writes"
        r.bgrewriteaof()  # ... and as a rewritten file and a snapshot hold it
        wait_until(lambda: r.info("persistence")["aof_rewrite_in_progress"] == 0, 10, "the AOF rewrite")
        r.save()
        files += _files(tmp_path / "redis")
        stored = " ".join(_everything(r))
        r.close()
    logs = caplog.text
    for number in (CALLER, TYPED, TALKER):
        assert number not in stored, f"{number} readable in Redis"
        assert number.encode() not in files, f"{number} readable in Redis's files"
        assert number not in logs, f"{number} in the logs"


def test_a_settled_callback_forgets_its_number(twilio, r, clock, make_app):
    from ivr.dispatcher.worker import Worker
    from tests.test_worker import busy, free, queued, request_callback

    with TwilioRestStub(auth_token="rest-token") as rest:
        busy(r, clock, "alex", "mei")
        call = queued(twilio, "+14155550143")
        request_callback(call, twilio)
        assert r.hget(keys.callback(call.sid), "number")
        free(r, clock, "alex")
        worker = Worker(twilio.client.application.extensions["ivr"].catalogs, r, rest.client(), PUBLIC_URL, clock=clock)
        worker.run_once()
        create = rest.creates()[0]
        doc = post_doc(twilio, create.field("Url"), agent_leg(twilio, create))
        doc = post_doc(twilio, doc.find("Gather").get("action"), agent_leg(twilio, create, Digits="1"))
        post_doc(twilio, doc.find("Dial").get("action"), agent_leg(twilio, create, DialCallStatus="completed"))
    assert r.hget(keys.callback(call.sid), "status") == "done"
    assert r.hget(keys.callback(call.sid), "number") is None, "done: the number is not kept"


def test_without_the_data_key_the_app_refuses_to_start(make_app):
    import pytest

    from ivr.errors import ConfigError

    with pytest.raises(ConfigError, match="DATA_KEYS"):
        make_app(DATA_KEYS="")
    assert make_app(DATA_KEYS=f"{DATA_KEYS}").extensions["ivr"].calls.sealer is not None


def _files(folder) -> bytes:
    return b" ".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


def _everything(r) -> list[str]:
    found = []
    for key in r.scan_iter("*"):
        kind = r.type(key)
        found.append(key)
        if kind == "hash":
            found += [f"{k}={v}" for k, v in r.hgetall(key).items()]
        elif kind == "zset":
            found += r.zrange(key, 0, -1)
        elif kind == "list":
            found += r.lrange(key, 0, -1)
        elif kind == "string":
            found.append(r.get(key))
    return found


def test_rotated_keys_still_open_old_numbers_and_a_lost_key_sends_the_callback_to_a_person(r, clock, make_app):
    from ivr.dispatcher.worker import Worker
    from ivr.store.sealed import new_key
    from tests.test_worker import busy, free, queued, request_callback
    from tests.twilio_sim import Twilio as Sim

    old_key = DATA_KEYS
    sealed_under_old = Sim(make_app(DATA_KEYS=old_key).test_client(), AUTH_TOKEN, PUBLIC_URL)
    busy(r, clock, "alex", "mei")
    call = queued(sealed_under_old, "+14155550144")
    request_callback(call, sealed_under_old)
    rotated = make_app(DATA_KEYS=f"{new_key()},{old_key}")  # a new key first, the old one kept after it
    assert rotated.extensions["ivr"].callbacks.callback(call.sid).request["number"] == "+14155550144"

    lost = Sim(make_app(DATA_KEYS=new_key()).test_client(), AUTH_TOKEN, PUBLIC_URL)  # the old key removed
    with TwilioRestStub(auth_token="rest-token") as rest:
        free(r, clock, "alex")
        worker = Worker(lost.client.application.extensions["ivr"].catalogs, r, rest.client(), PUBLIC_URL, clock=clock)
        worker.run_once()
        create = rest.creates()[0]
        doc = post_doc(lost, create.field("Url"), agent_leg(lost, create))
    said = " ".join(" ".join(e.itertext()) for e in doc.iter("Say"))
    assert "cannot be read" in said and doc.find("Gather") is None, "never a whisper that leads to an empty dial"
    assert r.hget(keys.callback(call.sid), "status") == "needs a supervisor"


def test_numbers_kept_in_plain_text_by_an_older_version_are_sealed_at_start(r, make_app):
    old_request = {"id": "CAold", "number": "+14155550145", "flow": "riverlink-support", "since": 1.0}
    r.hset(keys.callback("CAold"), mapping={"request": json.dumps(old_request), "status": "waiting", "attempts": 0})
    app = make_app()
    assert "4155550145" not in " ".join(r.hgetall(keys.callback("CAold")).values())
    assert app.extensions["ivr"].callbacks.callback("CAold").request["number"] == "+14155550145"
