"""Every kind of action renders to TwiML that Twilio's XSD accepts, with the attributes callers depend on."""

from __future__ import annotations

import pytest

from ivr.call import calling_back, failures
from ivr.call.actions import (
    Ask,
    Dial,
    DialFirstFree,
    DialNumber,
    Hangup,
    Pause,
    Redirect,
    RingEveryone,
    Say,
    WhisperAsk,
)
from ivr.flows.directory import Agent
from ivr.render import render
from tests.twilio_sim import assert_valid_twiml, query

PHONE = Agent("alex", "Alex", "agent", ("billing",), number="+15005550101")
SOFTPHONE = Agent("jordan", "Jordan", "agent", ("billing",), client="jordan-desk")
CALL = "CA" + "a" * 32


def test_menu_plays_its_prompt_inside_a_gather_that_takes_keys_and_speech():
    doc = assert_valid_twiml(render([Ask("main", "Press 1 for billing.", ("billing", "agent"), 6)], CALL))
    gather = doc.find("Gather")
    assert gather.get("input") == "dtmf speech" and gather.get("numDigits") == "1"
    assert gather.get("actionOnEmptyResult") == "true" and gather.get("action") == "/voice/gather?node=main"
    assert gather.find("Say").text == "Press 1 for billing." and "agent" in gather.get("hints")
    assert doc.find("Redirect").text == "/voice/gather?node=main", "a Gather that falls through is not a hang-up"


@pytest.mark.parametrize("agent,tag", [(PHONE, "Number"), (SOFTPHONE, "Client")])
def test_a_person_is_dialled_with_the_whisper_on_their_leg(agent, tag):
    doc = assert_valid_twiml(render([Say("Connecting you."), Dial(agent, 20)], CALL))
    dial = doc.find("Dial")
    assert dial.get("timeout") == "20" and query(dial.get("action")) == {"agent": agent.id}
    noun = dial.find(tag)
    assert query(noun.get("url")) == {"call": CALL, "agent": agent.id}
    assert noun.text == (agent.number or agent.client)


def test_degraded_ring_and_fallback_number():
    doc = assert_valid_twiml(render([RingEveryone((PHONE, SOFTPHONE), ("+15005550999",)), Pause(2)]))
    assert [e.tag for e in doc.find("Dial")] == ["Number", "Client", "Number"]
    assert all(e.get("url") is None for e in doc.find("Dial")), "no whisper needs our state in degraded mode"
    doc = assert_valid_twiml(render([DialNumber("+15005550999", 20)], CALL))
    assert doc.find("Dial/Number").text == "+15005550999"


def test_whisper_waits_for_one_key_then_passes_on_silence():
    doc = assert_valid_twiml(render([WhisperAsk(CALL, "alex", "Call from 1 4 1 5.")], CALL))
    assert doc.find("Gather").get("numDigits") == "1" and doc.find("Gather/Say").text == "Call from 1 4 1 5."
    assert doc.find("Hangup") is not None


def test_hold_and_goodbye():
    doc = assert_valid_twiml(render([Say("Please hold."), Pause(15), Redirect("retry")]))
    assert doc.find("Pause").get("length") == "15" and doc.find("Redirect").text == "/voice/retry"
    assert assert_valid_twiml(render([Say("Goodbye."), Hangup()])).find("Hangup") is not None
    assert len(assert_valid_twiml(render([]))) == 0, "an empty response bridges a whispered call"


def test_an_unsettled_dial_is_refused():
    with pytest.raises(TypeError):
        render([DialFirstFree((PHONE,), 20)])


# The documents said when our own machinery fails are built from plain actions too, and must be valid TwiML:
# a caller or an agent who hears one has already been let down once.
FAILURE_DOCUMENTS = {
    "still waiting (wait document without Redis)": failures.STILL_WAITING,
    "bare whisper (agent leg without Redis)": failures.BARE_WHISPER,
    "after the fallback ring, talked": failures.after_fallback_ring("completed"),
    "after the fallback ring, nobody": failures.after_fallback_ring("no-answer"),
    "after the fallback ring, Redis back": failures.after_fallback_ring("no-answer", store_back=True),
    "callback cannot go ahead": calling_back.CANNOT_GO_AHEAD,
    "callback already handled": calling_back.ALREADY_HANDLED,
    "callback passed": calling_back.PASSED,
    "nothing to say": (),
}


@pytest.mark.parametrize("actions", FAILURE_DOCUMENTS.values(), ids=FAILURE_DOCUMENTS.keys())
def test_failure_documents_are_valid_twiml(actions):
    assert_valid_twiml(render(actions))


def test_the_last_resort_rings_the_fallback_number_then_tries_again():
    from ivr.render import last_resort

    doc = assert_valid_twiml(last_resort("+15005550199"))
    assert [e.tag for e in doc] == ["Say", "Dial", "Redirect"] and doc.find("Dial").text == "+15005550199"
    assert doc.find("Redirect").text == "/voice/fallback"
    alone = assert_valid_twiml(last_resort(None))
    assert [e.tag for e in alone] == ["Say", "Pause", "Redirect"], "no number: wait, then try again"


def test_nobody_is_hung_up_on_after_a_failed_fallback_ring():
    doc = assert_valid_twiml(render(failures.after_fallback_ring("no-answer")))
    assert doc.find("Hangup") is None and doc.find("Redirect").text == "/voice/fallback"
    assert assert_valid_twiml(render(failures.after_fallback_ring("completed"))).find("Hangup") is not None
