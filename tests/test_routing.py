"""Who is rung next: longest idle first, a bounded number from the group, then supervisors."""

from __future__ import annotations

from pathlib import Path

from ivr.call.presence import AWAY, BUSY, RINGING, Presence, Staffing
from ivr.call.routing import next_people as next_people_of
from ivr.flows.directory import load_directory
from ivr.flows.model import Target

DIRECTORY = load_directory(Path(__file__).resolve().parents[1] / "flows" / "agents.yaml")
NOW = 1_800_000_000.0


def next_people(target, directory, presence, now, tried, per_route):
    """next_people as a webhook sees these records (the free people per group that LOAD returns)."""
    return next_people_of(
        target, directory, Staffing.from_records(presence, directory, now, first=6), now, tried, per_route
    )


def ids(people) -> list[str]:
    return [a.id for a in people]


def test_longest_idle_first_then_supervisors_longest_idle_first():
    presence = {
        "jordan": Presence(idle_since=NOW - 10),
        "priya": Presence(idle_since=NOW - 500),
        "rosa": Presence(idle_since=NOW - 5),
        "dev": Presence(idle_since=NOW - 50),
    }
    assert ids(next_people(Target("group", "technical"), DIRECTORY, presence, NOW, (), 2)) == [
        "priya",
        "jordan",
        "dev",
        "rosa",
    ]


def test_group_budget_counts_people_already_tried(tmp_path):
    """A group of three with a budget of two: whoever was tried counts against the two, so the third person
    is never rung in this round; the supervisors are next."""
    agents = tmp_path / "agents.yaml"
    agents.write_text(
        "agents:\n"
        + "".join(
            f"  - {{id: {name}, name: {name.title()}, number: '+1500555010{n}', role: agent, groups: [support]}}\n"
            for n, name in enumerate(("ana", "ben", "cy"))
        )
        + "  - {id: sam, name: Sam, number: '+15005550201', role: supervisor}\n"
    )
    three = load_directory(agents)
    support = Target("group", "support")
    idle = {
        "ana": Presence(idle_since=NOW - 30),
        "ben": Presence(idle_since=NOW - 20),
        "cy": Presence(idle_since=NOW - 10),
    }
    assert ids(next_people(support, three, idle, NOW, (), 2)) == ["ana", "ben", "sam"]
    assert ids(next_people(support, three, idle, NOW, ("ana",), 2)) == ["ben", "sam"], "one of the two is spent"
    assert ids(next_people(support, three, idle, NOW, ("ana", "ben"), 2)) == ["sam"], "cy is beyond the budget"


def test_a_named_agent_gets_one_try_then_supervisors():
    # equally idle (never rung): by id, as the free index in Redis orders them
    assert ids(next_people(Target("agent", "mei"), DIRECTORY, {}, NOW, (), 2)) == ["mei", "dev", "rosa"]
    assert ids(next_people(Target("agent", "mei"), DIRECTORY, {}, NOW, ("mei",), 2)) == ["dev", "rosa"]


def test_people_who_cannot_take_a_call_are_left_out():
    presence = {
        "priya": Presence(AWAY),
        "jordan": Presence(RINGING, until=NOW + 10, call="CA1"),
        "rosa": Presence(BUSY, until=NOW + 100, call="CA2"),
    }
    assert ids(next_people(Target.supervisors(), DIRECTORY, presence, NOW, (), 2)) == ["dev"]


def test_a_busy_group_waits_in_line_rather_than_taking_a_supervisor():
    presence = {"priya": Presence(AWAY), "jordan": Presence(BUSY, until=NOW + 10, call="CA1")}
    assert next_people(Target("group", "technical"), DIRECTORY, presence, NOW, (), 2) == ()
    # but once one of them rang and did not answer, the supervisors are the escalation
    assert ids(next_people(Target("group", "technical"), DIRECTORY, presence, NOW, ("jordan",), 2)) == ["dev", "rosa"]


def test_supervisors_group_rings_every_supervisor_once():
    assert ids(next_people(Target.supervisors(), DIRECTORY, {}, NOW, ("rosa",), 2)) == ["dev"]
    assert next_people(Target.supervisors(), DIRECTORY, {}, NOW, ("rosa", "dev"), 2) == ()
