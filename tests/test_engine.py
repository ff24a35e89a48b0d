"""The call logic with plain data: no Redis, no Flask."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.call.actions import Ask, DialFirstFree, DialNumber, Enqueue, Hangup, Redirect, RingEveryone, Say, WhisperAsk
from ivr.call.callstate import CallerMemory, CallState, Contact
from ivr.call.connecting import degraded, settle
from ivr.call.engine import step
from ivr.call.events import Arrive, DialEnded, Ended, Input, Retry, WhisperReply, WhisperStart
from ivr.call.presence import AWAY, BUSY, Presence, Staffing
from ivr.call.world import World
from ivr.flows.catalog import load_catalog
from ivr.flows.model import Menu, Target

CATALOG = load_catalog(Path(__file__).resolve().parents[1] / "flows")
FLOW = CATALOG.flows["riverlink-support"]
NOW = 1_800_000_000.0
MENUS = [n.id for n in FLOW.nodes.values() if isinstance(n, Menu)]


def world(state=None, memory=None, presence=None, **kw) -> World:
    base = dict(
        flow=FLOW,
        directory=CATALOG.directory,
        now=NOW,
        call="CA" + "0" * 32,
        caller="c1",
        number="+14155550100",
        state=state,
        memory=memory or CallerMemory(),
        # what a webhook reads of these records: the few free people per group the store's LOAD returns
        staffing=Staffing.from_records(presence or {}, CATALOG.directory, kw.get("now", NOW), first=6),
    )
    base.update(kw)
    return World(**base)


def at_menu(node: str) -> CallState:
    return CallState(
        call="CA" + "0" * 32,
        flow=FLOW.name,
        caller="c1",
        number="+14155550100",
        started=NOW,
        node=node,
        path=("billing",),
    )


def said(outcome) -> str:
    return " ".join(a.text for a in outcome.actions if isinstance(a, Say)) + " ".join(
        a.prompt for a in outcome.actions if isinstance(a, Ask)
    )


def dialled(outcome) -> list[str]:
    dial = next(a for a in outcome.actions if isinstance(a, DialFirstFree))
    return [a.id for a in dial.candidates]


def test_first_menu_tells_the_caller_how_to_reach_a_person():
    outcome = step(world(), Arrive())
    ask = outcome.actions[-1]
    assert isinstance(ask, Ask) and ask.node == FLOW.start
    assert ask.prompt.startswith("Press 0 or say agent at any time for a person.")
    assert outcome.state.node == FLOW.start and outcome.state.visit == 1


@pytest.mark.parametrize("node", MENUS)
@pytest.mark.parametrize(
    "reply",
    [
        {"digits": "0"},
        {"speech": "Agent"},
        {"speech": "representative please"},
        {"speech": "can I talk to an operator"},
        {"speech": "a real person"},
        {"speech": "I need someone"},
        {"speech": "HUMAN!"},
    ],
)
def test_zero_out_reaches_a_person_from_every_menu(node, reply):
    outcome = step(world(at_menu(node)), Input(node, **reply))
    assert dialled(outcome), f"{node} {reply} did not ring anyone"
    assert "asked for a person" in outcome.state.path


def test_menu_operator_override_routes_zero_to_that_group():
    outcome = step(world(at_menu("billing")), Input("billing", digits="0"))
    billing = {a.id for a in CATALOG.directory.group("billing")}
    assert dialled(outcome)[0] in billing
    assert outcome.state.target == Target("group", "billing")


def test_key_and_words_choose_options():
    by_key = step(world(at_menu("welcome")), Input("welcome", digits="1"))
    by_words = step(world(at_menu("welcome")), Input("welcome", speech="It's about my bill"))
    assert by_key.state.node == by_words.state.node == "billing"
    assert by_key.state.path[-1] == "billing"


@pytest.mark.parametrize(
    "first,second", [({}, {}), ({"digits": "7"}, {"digits": "#"}), ({}, {"speech": "pizza"}), ({"digits": "x"}, {})]
)
def test_two_misses_in_a_row_reach_a_person_never_a_hangup(first, second):
    once = step(world(at_menu("welcome")), Input("welcome", **first))
    assert isinstance(once.actions[-1], Ask) and once.state.misses == 1
    assert once.actions[-1].prompt.startswith("Sorry") and "Press 0 or say agent" in once.actions[-1].prompt
    twice = step(world(once.state), Input("welcome", **second))
    assert dialled(twice)
    assert not any(isinstance(a, Hangup) for a in once.actions + twice.actions)


def test_a_good_answer_resets_the_miss_count():
    once = step(world(at_menu("welcome")), Input("welcome"))
    chose = step(world(once.state), Input("welcome", digits="1"))
    assert chose.state.misses == 0 and chose.state.node == "billing"


def test_message_then_route_in_one_document():
    outcome = step(world(at_menu("welcome")), Input("welcome", digits="2"))
    texts = said(outcome)
    assert "router" in texts and "technician" in texts
    technical = {a.id for a in CATALOG.directory.group("technical")}
    assert dialled(outcome)[0] in technical


def test_goodbye_records_outcome_and_hangs_up():
    outcome = step(world(at_menu("anything_else")), Input("anything_else", digits="9"))
    assert isinstance(outcome.actions[-1], Hangup)
    assert outcome.state.outcome == "self-served"


def test_unknown_node_in_url_goes_to_a_person():
    outcome = step(world(at_menu("welcome")), Input("no-such-node", digits="1"))
    assert dialled(outcome)


def test_group_is_tried_longest_idle_first_then_supervisors():
    presence = {"alex": Presence(idle_since=NOW - 100), "mei": Presence(idle_since=NOW - 900)}
    outcome = step(world(at_menu("welcome"), presence=presence), Input("welcome", digits="3"))
    assert dialled(outcome)[:2] == ["mei", "alex"]
    assert set(dialled(outcome)[2:]) == {"rosa", "dev"}


def test_when_the_group_is_busy_the_caller_waits_in_line_for_it():
    presence = {"mei": Presence(status=AWAY), "alex": Presence(status=BUSY, until=NOW + 60, call="CAx")}
    outcome = step(world(at_menu("welcome"), presence=presence), Input("welcome", digits="3"))
    assert any(isinstance(a, Enqueue) for a in outcome.actions)
    assert outcome.enqueue.groups == ("moving",) and outcome.enqueue.since == NOW
    assert outcome.state.queued_since == NOW


def test_an_expired_busy_record_is_available_again():
    presence = {"mei": Presence(status=AWAY), "alex": Presence(status=BUSY, until=NOW - 1, call="CAx")}
    outcome = step(world(at_menu("welcome"), presence=presence), Input("welcome", digits="3"))
    assert dialled(outcome)[0] == "alex"


def test_no_answer_tries_the_next_person_and_the_supervisor():
    state = at_menu("moving").but(target=Target("group", "moving"), ringing="mei")
    outcome = step(world(state), DialEnded("mei", "no-answer", False))
    assert "mei" in outcome.state.tried and "mei" in outcome.missed
    assert dialled(outcome)[0] == "alex"
    state = outcome.state.but(ringing="alex")
    outcome = step(world(state), DialEnded("alex", "busy", False))
    assert dialled(outcome)[0] in ("rosa", "dev"), "after two agents a supervisor is rung"


def test_everyone_away_puts_the_caller_in_line_never_a_hangup():
    presence = {a: Presence(status=AWAY) for a in CATALOG.directory.agents}
    outcome = step(world(at_menu("welcome"), presence=presence), Input("welcome", digits="0"))
    assert isinstance(outcome.actions[-1], Enqueue) and "not be disconnected" in said(outcome)
    again = step(world(outcome.state, presence={}), Retry())
    assert dialled(again)


def test_fallback_number_is_rung_before_holding():
    presence = {a: Presence(status=AWAY) for a in CATALOG.directory.agents}
    outcome = step(
        world(at_menu("welcome"), presence=presence, fallback_number="+15005550999"), Input("welcome", digits="0")
    )
    assert any(isinstance(a, DialNumber) and a.number == "+15005550999" for a in outcome.actions)


def test_settle_dials_the_claimed_person_or_holds():
    outcome = step(world(at_menu("welcome")), Input("welcome", digits="3"))
    first = dialled(outcome)[1]
    settled = settle(outcome, first)
    assert settled[-1].agent.id == first
    none = settle(outcome, None)
    assert isinstance(none[-1], Redirect)


def contact(call: str, hours_ago: float, agent: str | None) -> Contact:
    return Contact(
        call=call,
        at=NOW - hours_ago * 3600,
        flow=FLOW.name,
        path=("billing",),
        agent=agent,
        outcome="spoke with " + agent if agent else "hung up in the menu",
    )


def test_second_call_goes_straight_to_the_prior_agent():
    memory = CallerMemory((contact("CA1", 5, "alex"),))
    outcome = step(world(memory=memory), Arrive())
    assert dialled(outcome)[0] == "alex"
    assert "Welcome back" in said(outcome) and "Alex" in said(outcome)
    assert outcome.state.visit == 2 and outcome.state.last_agent == "alex"
    assert not any(isinstance(a, Ask) for a in outcome.actions)


def test_prior_agent_not_answering_goes_to_a_supervisor():
    memory = CallerMemory((contact("CA1", 5, "alex"),))
    arrived = step(world(memory=memory), Arrive())
    outcome = step(world(arrived.state.but(ringing="alex")), DialEnded("alex", "no-answer", False))
    assert set(dialled(outcome)) == {"rosa", "dev"}
    assert "supervisor" in said(outcome)


def test_prior_agent_away_goes_straight_to_a_supervisor():
    memory = CallerMemory((contact("CA1", 5, "alex"),))
    outcome = step(world(memory=memory, presence={"alex": Presence(status=AWAY)}), Arrive())
    assert set(dialled(outcome)) == {"rosa", "dev"}


def test_third_call_goes_straight_to_a_supervisor():
    memory = CallerMemory((contact("CA1", 30, "alex"), contact("CA2", 3, None)))
    outcome = step(world(memory=memory), Arrive())
    assert set(dialled(outcome)) == {"rosa", "dev"}
    assert outcome.state.visit == 3


def test_second_call_without_an_agent_on_record_gets_the_menu():
    memory = CallerMemory((contact("CA1", 5, None),))
    outcome = step(world(memory=memory), Arrive())
    assert isinstance(outcome.actions[-1], Ask) and outcome.state.visit == 2


def test_contacts_outside_the_window_or_before_resolution_do_not_count():
    old = CallerMemory((contact("CA1", 80, "alex"), contact("CA2", 75, "alex")))
    assert isinstance(step(world(memory=old), Arrive()).actions[-1], Ask)
    resolved = CallerMemory((contact("CA1", 5, "alex"), contact("CA2", 4, "alex")), resolved_at=NOW - 3600)
    assert isinstance(step(world(memory=resolved), Arrive()).actions[-1], Ask)


def test_anonymous_callers_have_no_history():
    memory = CallerMemory((contact("CA1", 5, "alex"), contact("CA2", 4, "alex")))
    outcome = step(world(memory=memory, caller=None, number=None), Arrive())
    assert isinstance(outcome.actions[-1], Ask) and outcome.state.visit == 1


def test_whisper_tells_the_agent_who_why_and_history():
    state = at_menu("billing").but(path=("billing", "billing question"), visit=2, last_agent="alex")
    outcome = step(world(state), WhisperStart("rosa"))
    whisper = outcome.actions[0]
    assert isinstance(whisper, WhisperAsk)
    for part in (
        "1 4 1 5 5 5 5 0 1 0 0",
        "billing, then billing question",
        "call number 2",
        "72 hours",
        "spoke with Alex",
        "Press 1",
    ):
        assert part in whisper.summary
    assert outcome.state is None, "hearing the whisper changes nothing"


def test_whisper_accept_marks_the_agent_bridged_and_busy_decline_does_not():
    state = at_menu("billing").but(target=Target("group", "billing"), ringing="alex")
    accepted = step(world(state), WhisperReply("alex", "1"))
    assert accepted.state.bridged == "alex" and accepted.busy == ("alex",) and accepted.actions == ()
    declined = step(world(state), WhisperReply("alex", "7"))
    assert declined.state is None and isinstance(declined.actions[-1], Hangup)


def test_declined_whisper_counts_as_no_answer():
    state = at_menu("billing").but(target=Target("group", "billing"), ringing="alex")
    outcome = step(world(state), DialEnded("alex", "completed", bridged=False))
    assert "alex" in outcome.state.tried and dialled(outcome)[0] != "alex"


def test_bridged_call_records_the_agent_and_frees_them_after():
    state = at_menu("billing").but(target=Target("group", "billing"), bridged="alex")
    outcome = step(world(state), DialEnded("alex", "completed", bridged=True))
    assert outcome.state.contact().agent == "alex" and outcome.release == ("alex",)
    assert isinstance(outcome.actions[-1], Hangup)


def test_call_end_closes_the_contact_and_releases_held_people():
    state = at_menu("billing").but(target=Target("group", "billing"), ringing="alex")
    outcome = step(world(state), Ended("completed"))
    assert outcome.state.contact().outcome == "hung up while being connected"
    assert outcome.release == ("alex",)


def test_degraded_mode_rings_every_supervisor_and_the_fallback():
    actions = degraded(FLOW, CATALOG.directory, "+15005550999")
    ring = next(a for a in actions if isinstance(a, RingEveryone))
    assert {a.id for a in ring.agents} == {"rosa", "dev"} and ring.numbers == ("+15005550999",)


def test_degraded_mode_stays_within_twilios_ten_numbers_per_dial():
    from ivr.flows.directory import Agent, Directory

    many = Directory(
        {f"s{i}": Agent(f"s{i}", f"S{i}", "supervisor", (), number=f"+150055502{i:02d}") for i in range(14)}
    )
    ring = next(a for a in degraded(FLOW, many, "+15005550999") if isinstance(a, RingEveryone))
    assert len(ring.agents) + len(ring.numbers) == 10 and ring.numbers == ("+15005550999",)


def test_low_confidence_words_ask_again_but_a_person_is_always_honoured():
    unsure = step(world(at_menu("welcome")), Input("welcome", speech="billing", confidence=0.2))
    assert isinstance(unsure.actions[-1], Ask) and "didn't get that" in unsure.actions[-1].prompt
    sure = step(world(at_menu("welcome")), Input("welcome", speech="billing", confidence=0.8))
    assert sure.state.node == "billing"
    person = step(world(at_menu("welcome")), Input("welcome", speech="agent", confidence=0.1))
    assert dialled(person)
    no_score = step(world(at_menu("welcome")), Input("welcome", speech="billing"))
    assert no_score.state.node == "billing", "Twilio does not always send a confidence"
