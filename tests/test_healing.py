"""The line heals itself: the dispatcher asks Twilio about every call the store holds on to, so webhooks lost to
a Redis outage never leave a person busy, a ghost in line or a callback in limbo, and no customer is called twice.

Twilio's side is the truthful stand-in (tests/twilio_rest_stub.py): calls it knows have a status that the test
moves on as the phone network would, and it answers 400/21220 to redirecting a call that has ended."""

from __future__ import annotations

import signal
from urllib.parse import parse_qs, urlsplit

import pytest
import redis

from ivr.call import presence
from ivr.call.calling_back import PERSON_MISSED_PAUSE_SECONDS
from ivr.call.queueing import QueueEntry
from ivr.dispatcher import reconcile
from ivr.dispatcher.reconcile import Reconciler
from ivr.dispatcher.worker import Worker
from ivr.store import keys, presence_records
from ivr.store.embedded_redis import EmbeddedRedis
from tests.support import AUTH_TOKEN, PUBLIC_URL, put_presence
from tests.test_worker import agent_leg, free, post_doc, queued, request_callback
from tests.twilio_rest_stub import TwilioRestStub
from tests.twilio_sim import Twilio, new_sid


@pytest.fixture
def rest():
    with TwilioRestStub(auth_token="rest-token") as stub:
        yield stub


@pytest.fixture
def healer(r, rest, clock):
    return Reconciler(r, rest.client(), clock=clock)


def busy(r, rest, clock, *agents):
    """These people are on other calls, live as far as Twilio knows."""
    for agent in agents:
        on = presence.Presence(presence.BUSY, 0, clock.now + 3600, rest.add_call())
        put_presence(r, agent, on)


def status_of(r, agent: str) -> str:
    return presence_records.parse(r.hget(keys.presence(), agent)).status


def test_a_person_whose_call_ended_unseen_is_freed(twilio, rest, healer, r, clock):
    call = twilio.call("+14155550181").start()
    call.press("3")
    rest.add_call(call.sid)  # Twilio knows the caller's call, in progress
    call.agent_answers(talk=False)  # bridged; then Redis was down when the call ended: no webhook landed
    assert status_of(r, "alex") == presence.BUSY
    assert healer.run_once() == [], "the call is still live: nothing to heal"
    rest.set_status(call.sid, "completed")
    assert healer.run_once() == [], "asked a moment ago: not asked again before CHECK_EVERY_SECONDS"
    clock.advance(seconds=reconcile.CHECK_EVERY_SECONDS)
    assert healer.run_once() == ["freed alex"]
    assert status_of(r, "alex") == presence.AVAILABLE
    assert [q.call_sid for q in rest.requests("fetch")] == [call.sid, call.sid]


def test_a_caller_who_hung_up_in_line_unseen_leaves_it_and_those_behind_move_up(twilio, rest, healer, r, clock):
    busy(r, rest, clock, "alex", "mei", "rosa", "dev")
    ghost = queued(twilio)
    clock.advance(seconds=5)
    behind = queued(twilio)
    for call in (ghost, behind):
        rest.add_call(call.sid)
    rest.set_status(ghost.sid, "completed")
    assert healer.run_once() == [f"call {ghost.sid[-6:]} out of line"]
    assert r.zrange(keys.queue(), 0, -1) == [behind.sid]
    behind.wait(seconds=3)
    assert "You are next in line" in behind.heard()
    ghost.wait(seconds=3)  # a late wait document of the ended call cannot put it back
    assert r.zrange(keys.queue(), 0, -1) == [behind.sid]


def test_a_twilio_that_cannot_answer_changes_nothing_and_is_asked_again(twilio, rest, healer, r, clock):
    busy(r, rest, clock, "alex", "mei", "rosa", "dev")
    ghost = queued(twilio)
    r.hdel(keys.presence(), "alex", "mei", "rosa", "dev")  # only the one call to ask about
    rest.add_call(ghost.sid, status="completed")
    rest.fail_next(status=500, code=20500, message="Internal Server Error")
    assert healer.run_once() == [] and r.zrange(keys.queue(), 0, -1) == [ghost.sid]
    clock.advance(seconds=reconcile.CHECK_EVERY_SECONDS)
    assert healer.run_once() == [f"call {ghost.sid[-6:]} out of line"]


def placed_callback(twilio, rest, r, clock, number: str, digits: str | None):
    """A callback placed to alex, whose call (CallSid known to Twilio) answered the whisper and, with digits,
    pressed them."""
    busy(r, rest, clock, "alex", "mei")
    call = queued(twilio, number)
    request_callback(call, twilio)
    free(r, clock, "alex")
    worker = Worker(twilio.client.application.extensions["ivr"].catalogs, r, rest.client(), PUBLIC_URL, clock=clock)
    assert worker.run_once()[0].startswith("placed callback")
    create = rest.creates()[-1]
    leg = next(c.sid for c in rest.calls().values() if c.to == create.field("To"))
    rest.set_status(leg, "in-progress")
    doc = post_doc(twilio, create.field("Url"), agent_leg(twilio, create, CallSid=leg))
    if digits:
        post_doc(twilio, doc.find("Gather").get("action"), agent_leg(twilio, create, CallSid=leg, Digits=digits))
    return call, leg, worker


def test_a_callback_whose_customer_was_dialled_is_never_placed_again_on_a_guess(twilio, rest, healer, r, clock):
    call, leg, worker = placed_callback(twilio, rest, r, clock, "+14155550182", digits="1")
    assert r.hget(keys.callback(call.sid), "status") == "calling the customer"
    rest.set_status(leg, "completed")  # the dial result and the status callback were both lost
    week_ago = clock.now - 8 * 24 * 3600
    r.zadd(keys.callbacks_for_supervisors(), {"cb:CAlongexpired": week_ago})  # its request has expired
    assert healer.run_once() == [], "its own webhooks get a grace period first"
    clock.advance(seconds=reconcile.GRACE_SECONDS)
    assert healer.run_once() == [f"callback {call.sid[-6:]} supervisors"]
    assert r.hget(keys.callback(call.sid), "status") == "needs a supervisor", "a person decides; nothing lost"
    assert r.zrange(keys.callbacks_for_supervisors(), 0, -1) == [f"cb:{call.sid}"]
    assert status_of(r, "alex") == presence.AVAILABLE
    clock.advance(seconds=4 * 3600)
    assert worker.run_once() == [] and len(rest.creates()) == 1, "never placed twice"


def test_a_callback_that_never_reached_the_customer_goes_back_to_its_place(twilio, rest, healer, r, clock):
    call, leg, worker = placed_callback(twilio, rest, r, clock, "+14155550183", digits=None)
    since = QueueEntry.from_json(r.hget(keys.callback(call.sid), "entry")).since
    rest.set_status(leg, "completed")  # the agent hung up during the whisper; its status callback was lost
    healer.run_once()
    clock.advance(seconds=reconcile.GRACE_SECONDS)
    assert healer.run_once() == [f"callback {call.sid[-6:]} requeue"]
    assert r.zrange(keys.queue(), 0, -1, withscores=True) == [(f"cb:{call.sid}", since)], "at its old place"
    free(r, clock, "alex")
    assert worker.run_once() == [], "not straight back to a phone that did not answer"
    clock.advance(seconds=PERSON_MISSED_PAUSE_SECONDS)
    assert worker.run_once()[0].startswith("placed callback"), "offered again after a pause"


def test_after_a_redis_outage_in_live_calls_the_line_is_healthy_again(make_app, tmp_path, rest, clock):
    """Redis paused (SIGSTOP) while calls end: their webhooks answer without it; once it is back, one pass
    of the dispatcher's healing frees everyone and clears the line."""
    with EmbeddedRedis(tmp_path / "redis", persist=False) as server:
        app = make_app(REDIS_URL=server.url, REDIS_TIMEOUT=0.3)
        twilio = Twilio(app.test_client(), AUTH_TOKEN, PUBLIC_URL)
        r = redis.Redis.from_url(server.url, decode_responses=True)
        talking = twilio.call("+14155550184").start()
        talking.press("3")
        rest.add_call(talking.sid)
        talking.agent_answers(talk=False)
        busy(r, rest, clock, "mei", "rosa", "dev")
        waiting = queued(twilio, "+14155550185")
        rest.add_call(waiting.sid)
        server.process.send_signal(signal.SIGSTOP)
        try:
            talking.dial_result("completed", bridged=True, duration="60")  # both answered without Redis
            talking.hangup()
            waiting.hangup()
        finally:
            server.process.send_signal(signal.SIGCONT)
        for call in (talking, waiting):
            rest.set_status(call.sid, "completed")
        assert status_of(r, "alex") == presence.BUSY and r.zrange(keys.queue(), 0, -1) == [waiting.sid]
        healer = Reconciler(r, rest.client(), clock=clock)
        assert sorted(healer.run_once()) == sorted(["freed alex", f"call {waiting.sid[-6:]} out of line"])
        assert status_of(r, "alex") == presence.AVAILABLE and r.zrange(keys.queue(), 0, -1) == []
        r.close()


def test_a_dial_result_arriving_after_the_status_callback_still_settles_the_callback(twilio, rest, r, clock):
    """The person hangs up mid-conversation: the dial result and the status callback race to two servers."""
    call, leg, worker = placed_callback(twilio, rest, r, clock, "+14155550186", digits="1")
    create = rest.creates()[-1]
    rest.set_status(leg, "completed")
    post_doc(twilio, create.field("StatusCallback"), agent_leg(twilio, create, CallSid=leg, CallStatus="completed"))
    assert r.hget(keys.callback(call.sid), "status") == "calling the customer", "the dial result may still come"
    dialled = agent_leg(twilio, create, CallSid=leg, DialCallStatus="completed", DialCallDuration="80")
    post_doc(twilio, f"{PUBLIC_URL}/voice/callback/dialled?request={call.sid}&attempt={attempt_of(create)}", dialled)
    assert r.hget(keys.callback(call.sid), "status") == "done"
    free(r, clock, "alex")
    clock.advance(seconds=3600)
    assert worker.run_once() == [] and len(rest.creates()) == 1


def test_a_dial_result_that_never_comes_goes_to_the_supervisors_not_a_second_call(twilio, rest, healer, r, clock):
    call, leg, worker = placed_callback(twilio, rest, r, clock, "+14155550187", digits="1")
    create = rest.creates()[-1]
    rest.set_status(leg, "completed")
    post_doc(twilio, create.field("StatusCallback"), agent_leg(twilio, create, CallSid=leg, CallStatus="completed"))
    healer.run_once()
    clock.advance(seconds=reconcile.GRACE_SECONDS)
    assert healer.run_once() == [f"callback {call.sid[-6:]} supervisors"], "whether they talked is unknown"
    free(r, clock, "alex")
    clock.advance(seconds=3600)
    assert worker.run_once() == [] and len(rest.creates()) == 1


def attempt_of(create) -> str:
    return parse_qs(urlsplit(create.field("Url")).query)["attempt"][0]


def test_when_twilio_knows_none_of_the_calls_nobody_is_let_go(twilio, r, clock):
    """REST requests aimed at the wrong account answer 404 for every call: that is not everyone hanging up."""
    with TwilioRestStub(auth_token="rest-token") as other_account:
        healer = Reconciler(r, other_account.client(), clock=clock)
        for person in ("alex", "mei", "rosa"):  # on calls of the account that receives them, not this one
            on = presence.Presence(presence.BUSY, 0, clock.now + 3600, new_sid())
            put_presence(r, person, on)
        assert healer.run_once() == []
    assert all(status_of(r, p) == presence.BUSY for p in ("alex", "mei", "rosa"))


def test_a_caller_on_the_degraded_ring_returns_to_the_normal_way_once_redis_is_back(make_app, tmp_path, clock):
    with EmbeddedRedis(tmp_path / "redis", persist=False) as server:
        app = make_app(REDIS_URL=server.url, REDIS_TIMEOUT=0.3)
        twilio = Twilio(app.test_client(), AUTH_TOKEN, PUBLIC_URL)
        server.process.send_signal(signal.SIGSTOP)
        try:
            call = twilio.call("+14155550188").start()  # arrives while Redis is stuck
            assert "connecting you to a person" in call.heard()
            call.post(call.dial().get("action"), DialCallStatus="no-answer")
            assert "still trying" in call.heard(), "still down: ring everyone again"
            call.follow_redirect()
        finally:
            server.process.send_signal(signal.SIGCONT)
        call.post(call.dial().get("action"), DialCallStatus="no-answer")
        assert "next person free" in call.heard(), "Redis is back: no more ringing the supervisors in a loop"
        call.follow_redirect()
        assert call.dial() is not None and "still trying" not in call.heard()
        nouns = [e for e in call.dial() if e.tag in ("Number", "Client")]
        assert nouns and all(e.get("url") for e in nouns), "a normal ring, with the whisper that tells the person why"
