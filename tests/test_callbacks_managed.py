"""Callback requests people can fix (cancel, done, give to someone), and a caller who calls again while
theirs waits in line: recognised, never queued behind their own request, the two merged."""

from __future__ import annotations

import json

from ivr.call import presence
from ivr.call.queueing import callback_queue_id
from ivr.store import audit, keys
from tests.support import bearer, put_presence


def request_callback(twilio, number):
    call = twilio.call(number).start()
    call.press("3")  # moving, busy: in line
    assert call.enqueued()
    call.wait(seconds=65)
    call.press_while_waiting("1")
    call.left_queue("leave")
    call.press("1")
    assert call.ended() and "keep your place" in call.heard()
    return call


def test_a_caller_who_calls_again_keeps_their_callback_with_1(twilio, moving_busy, r, clock):
    first = request_callback(twilio, "+14155550601")
    queue_id = callback_queue_id(first.sid)
    clock.advance(seconds=30)
    again = twilio.call("+14155550601").start()
    assert "We have a callback for you in line" in again.heard() and "Press 1 to keep it" in again.heard()
    assert not again.enqueued(), "not put in line behind their own request"
    again.press("1")
    assert again.ended() and "we'll call you back" in again.heard()
    assert r.zrange(keys.queue(), 0, -1) == [queue_id], "the request keeps its place, and is alone"


def test_staying_on_the_line_merges_the_two_at_the_requests_place(twilio, moving_busy, r, clock):
    ahead = twilio.call("+14155550600").start()
    ahead.press("3")
    clock.advance(seconds=10)
    first = request_callback(twilio, "+14155550602")
    since = r.zscore(keys.queue(), callback_queue_id(first.sid))
    clock.advance(seconds=120)
    twilio.call("+14155550603").start().press("3")  # someone joins the line after the request
    again = twilio.call("+14155550602").start()
    again.silence()
    assert again.enqueued(), again.xml
    queue = r.zrange(keys.queue(), 0, -1, withscores=True)
    assert [q for q, _ in queue][:2] == [ahead.sid, again.sid], "at the request's place: second, not last"
    assert dict(queue)[again.sid] == since
    assert callback_queue_id(first.sid) not in dict(queue), "the request left the line: merged into this call"
    assert r.hget(keys.callback(first.sid), "status") == "merged", "parked until a person takes the call"
    again.wait(seconds=5)
    assert "You are number 2 in line" in again.heard()


def test_a_merged_call_that_ends_before_a_person_gives_the_callback_back(twilio, moving_busy, r, clock):
    first = request_callback(twilio, "+14155550608")
    queue_id = callback_queue_id(first.sid)
    since = r.zscore(keys.queue(), queue_id)
    again = twilio.call("+14155550608").start()
    again.silence()
    assert again.enqueued() and r.zscore(keys.queue(), queue_id) is None
    again.hangup()
    assert r.zscore(keys.queue(), queue_id) == since, "the promise stands, at its own place"
    assert r.hget(keys.callback(first.sid), "status") == "waiting" and r.hget(keys.callback(first.sid), "number")
    third = twilio.call("+14155550608").start()
    assert "We have a callback for you in line" in third.heard(), "and they are told so next time"


def test_a_merged_call_taken_by_a_person_settles_the_callback(twilio, moving_busy, r, clock):
    first = request_callback(twilio, "+14155550609")
    put_presence(r, "alex", presence.Presence(presence.AVAILABLE, clock.now), clock.now)
    again = twilio.call("+14155550609").start()
    again.press("2")  # neither 1 nor 0: they wait here, and Alex is free now
    assert again.dialled() == ["+15005550101"]
    assert r.hget(keys.callback(first.sid), "status") == "merged"
    again.agent_answers()
    request = r.hgetall(keys.callback(first.sid))
    assert request["status"] == "merged into a call" and "number" not in request, "settled, number dropped"
    assert r.zcard(keys.queue()) == 0


def test_saying_keep_it_keeps_the_callback(twilio, moving_busy, r):
    first = request_callback(twilio, "+14155550610")
    again = twilio.call("+14155550610").start()
    again.say("keep it")
    assert again.ended() and r.zrank(keys.queue(), callback_queue_id(first.sid)) == 0


def test_a_callback_being_placed_is_not_offered_to_keep(twilio, moving_busy, r, worker, clock):
    first = request_callback(twilio, "+14155550611")
    put_presence(r, "alex", presence.Presence(presence.AVAILABLE, clock.now), clock.now)
    assert worker.run_once() == [f"placed callback {first.sid[-6:]} via alex"]
    again = twilio.call("+14155550611").start()
    assert "callback for you" not in again.heard(), "it is being placed: not 'in line'"


def test_twilio_retrying_voice_at_the_question_asks_it_again(twilio, moving_busy, r):
    request_callback(twilio, "+14155550612")
    again = twilio.call("+14155550612").start()
    again.post("/voice")  # Twilio asks again (a timeout on its side): the same question, not a second merge
    assert "We have a callback for you in line" in again.heard() and again.gather() is not None


def test_zero_still_reaches_a_person_and_merges(twilio, moving_busy, r, clock):
    first = request_callback(twilio, "+14155550604")
    again = twilio.call("+14155550604").start()
    again.press("0")
    dial = again.dial()
    assert dial is not None and dial.find("Client").text == "jordan-desk", "the operator's team: Jordan is free"
    assert r.hget(keys.callback(first.sid), "status") == "merged"


def test_a_supervisor_cancels_assigns_and_closes_requests_with_an_audit(twilio, moving_busy, r, client, clock):
    one = request_callback(twilio, "+14155550605")
    clock.advance(seconds=5)
    two = request_callback(twilio, "+14155550606")
    rosa = bearer(r, "rosa")
    listed = client.get("/api/callbacks", headers=rosa).json["callbacks"]
    assert [c["id"] for c in listed] == [one.sid, two.sid] and listed[0]["caller"] == "***0605"
    assert client.get("/api/callbacks", headers=bearer(r, "priya")).json["callbacks"] == [], "another team's"

    cancelled = client.post(f"/api/callbacks/{one.sid}", json={"action": "cancel"}, headers=rosa)
    assert cancelled.status_code == 200
    assert (
        r.hget(keys.callback(one.sid), "status") == "cancelled"
        and r.zrank(keys.queue(), callback_queue_id(one.sid)) is None
    )
    again = twilio.call("+14155550605").start()
    assert "callback for you" not in again.heard(), "a cancelled request is no longer mentioned"

    stuck_since = r.zscore(keys.queue(), callback_queue_id(two.sid))
    # three tries failed: the request left the line for the supervisors' list (as SETTLE leaves it)
    r.hset(keys.callback(two.sid), "status", "needs a supervisor")
    r.zrem(keys.queue(), callback_queue_id(two.sid))
    r.zadd(keys.callbacks_for_supervisors(), {callback_queue_id(two.sid): clock.now})
    given = client.post(f"/api/callbacks/{two.sid}", json={"action": "assign", "agent": "jordan"}, headers=rosa)
    assert given.status_code == 200 and "Jordan" in given.json["said"]
    assert r.zscore(keys.queue(), callback_queue_id(two.sid)) == stuck_since, "back at its own place"
    entry = json.loads(r.hget(keys.queue_entries(), callback_queue_id(two.sid)))
    assert entry["prefer"] == "jordan" and r.hget(keys.callback(two.sid), "status") == "waiting"
    asks = twilio.call("+14155550606").start()
    assert "We have a callback for you in line" in asks.heard(), "back in line: the caller is told, not queued twice"

    r.hset(keys.callback(two.sid), "attempt", "tok")  # a worker is placing it right now
    busy = client.post(f"/api/callbacks/{two.sid}", json={"action": "done"}, headers=rosa)
    assert busy.status_code == 409 and "being placed" in busy.json["error"]
    r.hset(keys.callback(two.sid), "attempt", "")
    assert client.post(f"/api/callbacks/{two.sid}", json={"action": "done"}, headers=rosa).status_code == 200
    twice = client.post(f"/api/callbacks/{two.sid}", json={"action": "cancel"}, headers=rosa)
    assert twice.status_code == 409 and "already settled" in twice.json["error"]
    actions = [(c.who, c.action) for c in audit.recent(r, 3)]
    assert actions == [("rosa", "callback done"), ("rosa", "callback assign"), ("rosa", "callback cancel")]


def test_agents_act_only_on_their_teams_requests_and_assign_only_to_themselves(twilio, moving_busy, r, client):
    request = request_callback(twilio, "+14155550607")
    to_mei = {"action": "assign", "agent": "mei"}
    assert client.post(f"/api/callbacks/{request.sid}", json=to_mei, headers=bearer(r, "alex")).status_code == 403
    other_team = client.post(f"/api/callbacks/{request.sid}", json={"action": "done"}, headers=bearer(r, "priya"))
    assert other_team.status_code == 403
    mine = client.post(f"/api/callbacks/{request.sid}", json={"action": "assign"}, headers=bearer(r, "alex"))
    assert mine.status_code == 200
    missing = client.post("/api/callbacks/CAnope", json={"action": "done"}, headers=bearer(r, "rosa"))
    assert missing.status_code == 404 and missing.is_json
