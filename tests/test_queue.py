"""Never stranded on hold: the queue, honest waits, the hold limit, voicemail and callback requests."""

from __future__ import annotations

import json

import pytest

from ivr.call import presence
from ivr.call.queueing import QueueEntry
from ivr.store import keys
from ivr.store.calls import talk_time
from tests.support import SEALER, put_presence


def queued_caller(twilio, number=None):
    call = twilio.call(number).start()
    call.press("3")  # moving
    assert call.enqueued(), call.xml
    return call


def queue_ids(r) -> list[str]:
    return r.zrange(keys.queue(), 0, -1)


def test_a_busy_team_puts_the_caller_in_line_and_says_where_they_stand(twilio, moving_busy, r, clock):
    first = queued_caller(twilio)
    assert "in line" in first.heard() and "not be disconnected" in first.heard()
    first.wait(seconds=3)
    assert "You are next in line" in first.heard()
    assert "as soon as someone is free" in first.heard(), "no handle times yet: no made-up number"
    clock.advance(seconds=2)
    second = queued_caller(twilio)
    second.wait(seconds=3)
    assert "You are number 2 in line" in second.heard()
    assert queue_ids(r) == [first.sid, second.sid]


def test_the_estimate_comes_from_the_lines_own_handle_times(twilio, moving_busy, r, clock):
    for n, seconds in enumerate((200, 280)):
        r.zadd(keys.talk_times("moving"), {talk_time(f"CA{n}", seconds): n})
    queued_caller(twilio)
    clock.advance(seconds=2)
    second = queued_caller(twilio)
    second.wait(seconds=3)
    # two people on duty, 240 s average: place 2 -> one round of calls -> about 4 minutes
    assert "number 2 in line" in second.heard() and "about 4 minutes" in second.heard()


def test_handle_times_are_recorded_from_finished_conversations(twilio, r):
    call = twilio.call().start()
    call.press("3")
    _, doc = call.whisper()
    call.agent_presses(doc, "1")
    call.dial_result("completed", bridged=True, duration="310")
    assert r.zrange(keys.talk_times("moving"), 0, -1) == [talk_time(call.sid, 310.0)]


def test_zero_while_waiting_keeps_the_place_and_says_so(twilio, moving_busy):
    call = queued_caller(twilio)
    call.wait(seconds=3)
    call.press_while_waiting("0")
    assert "keep your place" in call.heard() and "number 1" in call.heard()


def test_after_the_hold_limit_a_callback_or_message_is_offered(twilio, moving_busy, r):
    call = queued_caller(twilio)
    call.wait(seconds=20)
    assert "press 1" not in call.heard().lower()
    call.wait(seconds=61)
    assert "call you back without losing your place" in call.heard() and "Press 2 to leave a message" in call.heard()
    call.wait(seconds=70)
    assert "call you back" not in call.heard(), "offered once a minute, not on every wait document"
    call.wait(seconds=125)
    assert "call you back" in call.heard()


def test_a_callback_keeps_the_callers_place(twilio, moving_busy, r, clock):
    ahead = queued_caller(twilio)
    clock.advance(seconds=5)
    call = queued_caller(twilio, "+14155550142")
    clock.advance(seconds=5)
    behind = queued_caller(twilio)
    since = r.zscore(keys.queue(), call.sid)
    call.wait(seconds=65)
    call.press_while_waiting("1")
    assert call.doc.find("Leave") is not None
    call.left_queue("leave")
    assert "ending in 0 1 4 2" in call.heard()
    call.press("1")
    assert call.ended() and "keep your place" in call.heard()
    assert queue_ids(r) == [ahead.sid, f"cb:{call.sid}", behind.sid]
    assert r.zscore(keys.queue(), f"cb:{call.sid}") == since
    request = json.loads(r.hget(keys.callback(call.sid), "request"))
    assert request["flow"] == "riverlink-support" and "number" not in request
    sealed = r.hget(keys.callback(call.sid), "number")
    assert "4155550142" not in sealed and SEALER.open(sealed) == "+14155550142", "kept, but sealed"
    entry = QueueEntry.from_json(r.hget(keys.queue_entries(), f"cb:{call.sid}"))
    assert entry.groups == ("moving",)


def test_callback_to_a_number_typed_on_the_keypad(twilio, moving_busy, r):
    call = queued_caller(twilio, "anonymous")
    call.wait(seconds=65)
    call.press_while_waiting("1")
    call.left_queue("leave")
    assert "enter the number" in call.heard()
    call.press("12")  # too short
    assert "doesn't look like a full phone number" in call.heard()
    call.press("14155550199")
    assert "1 4 1 5 5 5 5 0 1 9 9" in call.heard()
    call.press("1")
    assert call.ended()
    assert SEALER.open(r.hget(keys.callback(call.sid), "number")) == "+14155550199"


def test_mistakes_while_asking_for_a_callback_put_the_caller_back_in_line(twilio, moving_busy, r):
    call = queued_caller(twilio, "anonymous")
    since = r.zscore(keys.queue(), call.sid)
    call.wait(seconds=65)
    call.press_while_waiting("1")
    call.left_queue("leave")
    call.press("9")
    call.press("7")
    assert call.enqueued() and not call.ended()
    assert r.zscore(keys.queue(), call.sid) == since, "back in line at the same place"


def test_a_message_is_kept_with_the_callers_history(twilio, moving_busy, r, client):
    call = queued_caller(twilio, "+14155550143")
    call.wait(seconds=65)
    call.press_while_waiting("2")
    call.left_queue("leave")
    assert call.doc.find("Record") is not None and "after the tone" in call.heard()
    call.finish_recording(14)
    assert call.ended() and "message is saved" in call.heard()
    call.recording_stored()
    call.hangup()
    assert call.sid not in queue_ids(r)
    again = twilio.call("+14155550143").start()
    assert again.gather() is not None, "no agent on record yet: the menu, but the call counts"
    from click.testing import CliRunner

    from ivr.tools.cli import main
    from tests.support import AUTH_TOKEN

    history = CliRunner().invoke(
        main,
        ["calls", "history", "+14155550143"],
        env={"REDIS_URL": client.application.config["REDIS_URL"], "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "COLUMNS": "250"},
    )
    assert "left a message" in history.output
    assert "https://api.twilio.com/2010-04-01/Recordings/RE1" in history.output, "where to hear the message"


def test_an_empty_recording_puts_the_caller_back_in_line(twilio, moving_busy, r):
    call = queued_caller(twilio)
    call.wait(seconds=65)
    call.press_while_waiting("2")
    call.left_queue("leave")
    call.finish_recording(0)
    assert call.enqueued() and "didn't hear a message" in call.heard()


def test_hanging_up_in_line_leaves_the_queue(twilio, moving_busy, r):
    call = queued_caller(twilio)
    call.left_queue("hangup")
    call.hangup()
    assert queue_ids(r) == []


def test_a_queue_error_still_reaches_a_person(twilio, moving_busy):
    call = queued_caller(twilio)
    call.left_queue("queue-full")
    assert call.dial() is not None and len(call.dialled()) >= 2


def test_a_long_estimated_wait_offers_the_callback_at_once(twilio, moving_busy, r, clock):
    for n, seconds in enumerate((600, 660)):
        r.zadd(keys.talk_times("moving"), {talk_time(f"CA{n}", seconds): n})
    call = queued_caller(twilio)
    call.wait(seconds=2)
    assert "about 11 minutes" in call.heard() and "call you back without losing your place" in call.heard()
    call.wait(seconds=20)
    assert "call you back" not in call.heard(), "offered once, then on the usual schedule"


def test_zero_while_waiting_tells_the_true_place_behind_others(twilio, moving_busy, r, clock):
    queued_caller(twilio)
    clock.advance(seconds=2)
    second = queued_caller(twilio)
    second.wait(seconds=3)
    second.press_while_waiting("0")
    assert "You are number 2" in second.heard()


def test_a_late_webhook_after_the_hang_up_never_puts_a_ghost_in_line(twilio, r, clock):
    call = twilio.call().start()
    call.press("3")
    rung = call.dialled()[0]
    for agent in ("alex", "mei", "rosa", "dev"):
        if {"alex": "+15005550101", "mei": "+15005550104"}.get(agent) != rung:
            put_presence(r, agent, presence.Presence(presence.BUSY, 0, clock.now + 600, "CAx"))
    action = call.dial().get("action")
    call.hangup()  # Twilio's status callback arrives first ...
    call.post(action, DialCallStatus="no-answer", DialBridged="false")  # ... then the Dial action
    assert queue_ids(r) == []


def test_a_wait_document_without_redis_keeps_the_caller_holding_in_line(twilio, moving_busy, r):
    call = queued_caller(twilio, "+14155550145")
    r.delete(keys.call(call.sid))
    r.set(keys.call(call.sid), "not a hash")  # the wait document cannot load anything now
    doc = call.wait(seconds=20)
    assert call.heard() == "Thank you for holding. Someone will be with you as soon as possible."
    assert [e.tag for e in doc] == ["Say", "Pause"], "no ring, no hang-up: they keep holding (and their place)"
    assert call.sid in queue_ids(r)


def test_a_key_pressed_on_hold_without_redis_keeps_the_caller_holding_in_line(twilio, moving_busy, r):
    """The answer to a key pressed on hold plays inside the queue's wait, where a ring cannot run."""
    call = queued_caller(twilio, "+14155550146")
    call.wait(seconds=5)
    r.delete(keys.call(call.sid))
    r.set(keys.call(call.sid), "not a hash")
    doc = call.press_while_waiting("0")
    assert [e.tag for e in doc] == ["Say", "Pause"] and doc.find("Dial") is None
    assert call.sid in queue_ids(r)


@pytest.mark.parametrize("on_duty", [True, False], ids=["everyone-busy", "everyone-away"])
def test_the_fallback_number_rings_only_when_nobody_is_on_duty(make_app, r, clock, on_duty):
    """Busy people will free up: the caller waits for them. With nobody on duty at all, the fallback number."""
    from tests.support import AUTH_TOKEN, PUBLIC_URL
    from tests.twilio_sim import Twilio

    status = presence.BUSY if on_duty else presence.AWAY
    for agent in ("alex", "mei", "rosa", "dev"):
        put_presence(r, agent, presence.Presence(status, 0, clock.now + 3600, "CAx"))
    app = make_app(FALLBACK_NUMBER="+15005550999")
    call = Twilio(app.test_client(), AUTH_TOKEN, PUBLIC_URL).call("+14155550146").start()
    call.press("3")  # moving
    if on_duty:
        assert call.enqueued() and call.dialled() == []
    else:
        assert call.dialled() == ["+15005550999"] and not call.enqueued()
