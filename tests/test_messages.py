"""Voicemail is never a dead end: a message lands in its team's inbox, becomes a callback request at the
caller's place when their number is known, and the caller hears what will really happen."""

from __future__ import annotations

from ivr.call import calling_back
from ivr.call.queueing import callback_queue_id
from ivr.flows.model import CallbackPolicy
from ivr.store import audit, keys, messages
from tests.support import SEALER, bearer


def leave_message(twilio, number):
    call = twilio.call(number).start()
    call.press("3")  # moving
    assert call.enqueued()
    call.wait(seconds=65)
    call.press_while_waiting("2")
    call.left_queue("leave")
    call.finish_recording(14)
    return call


def test_a_message_becomes_a_callback_at_the_callers_place_and_they_hear_so(twilio, moving_busy, r, client):
    call = leave_message(twilio, "+14155550501")
    heard = call.heard()
    assert call.ended() and "message is saved" in heard
    assert "call you back at the number ending in 0 5 0 1, when it's your turn" in heard
    assert "don't need to call again" in heard
    queue = r.zrange(keys.queue(), 0, -1, withscores=True)
    assert [q for q, _ in queue] == [callback_queue_id(call.sid)], "the promise is in line, not forgotten"

    alex = client.get("/api/messages", headers=bearer(r, "alex")).json["messages"]
    assert [(m["id"], m["groups"], m["callback"], m["status"]) for m in alex] == [
        (call.sid, ["moving"], call.sid, "new")
    ]
    assert alex[0]["recording"].startswith("https://") and "4155550501" not in str(alex)
    assert client.get("/api/messages", headers=bearer(r, "priya")).json["messages"] == [], "another team's"
    assert client.get("/api/messages", headers=bearer(r, "dev")).json["messages"][0]["id"] == call.sid

    give_to_mei = {"action": "own", "agent": "mei"}
    refused = client.post(f"/api/messages/{call.sid}", json=give_to_mei, headers=bearer(r, "alex"))
    assert refused.status_code == 403, "only a supervisor gives a message to someone else"
    given = client.post(f"/api/messages/{call.sid}", json=give_to_mei, headers=bearer(r, "rosa"))
    assert given.status_code == 200 and messages.one(r, call.sid).owner == "mei"
    done = client.post(f"/api/messages/{call.sid}", json={"action": "done"}, headers=bearer(r, "mei"))
    assert done.status_code == 200
    assert client.get("/api/messages", headers=bearer(r, "mei")).json["messages"] == []
    kept = client.get("/api/messages?all=1", headers=bearer(r, "mei")).json["messages"][0]
    assert kept["status"] == "done" and kept["done_by"] == "mei"
    assert [(c.who, c.action) for c in audit.recent(r, 2)] == [("mei", "message done"), ("rosa", "message own")]


def test_a_withheld_caller_hears_that_nobody_can_call_them_back(twilio, moving_busy, r, client):
    call = leave_message(twilio, "anonymous")
    assert "can't call you back" in call.heard() and "call us again" in call.heard()
    assert r.zcard(keys.queue()) == 0, "no callback promised, none in line"
    inbox = client.get("/api/messages", headers=bearer(r, "alex")).json["messages"]
    assert len(inbox) == 1 and inbox[0]["callback"] is None


def test_the_person_calling_back_hears_there_is_a_message():
    request = {"number": "+14155550502", "path": ["moving"], "since": 1000.0, "message": "https://rec/RE1"}
    said = calling_back.whisper(request, "riverlink-support", 1060.0, 0, CallbackPolicy())
    assert "They left a message with it: it is on your screen." in said
    assert "They left a message" not in calling_back.whisper(
        {**request, "message": None}, "x", 1060.0, 0, CallbackPolicy()
    )
    noted = {**request, "note": "Alex noted: swapped the modem"}
    assert "Last time Alex noted: swapped the modem." in calling_back.whisper(noted, "x", 1060.0, 0, CallbackPolicy())


def test_the_inbox_is_bounded_by_age(r, clock):
    pipe = r.pipeline()
    for n, at in enumerate((clock.now - messages.KEPT_SECONDS - 10, clock.now)):
        messages.store(pipe, {"id": f"CA{n}", "url": "https://x", "at": at}, SEALER)
    pipe.execute()
    assert r.zrange(keys.messages(), 0, -1) == ["CA1"]
    assert 0 < r.ttl(keys.message("CA1")) <= messages.KEPT_SECONDS
