"""Caller memory and presence in a real Redis: atomic claims, guarded releases, pruning of old contacts."""

from __future__ import annotations

import threading

from ivr.call import presence
from ivr.call.actions import DialFirstFree
from ivr.call.callstate import CallState
from ivr.call.world import Outcome
from ivr.flows.directory import Agent
from ivr.store import caller_history, keys
from ivr.store.calls import RESERVE_MARGIN_SECONDS, CallStore, Snapshot
from tests.support import SEALER, put_presence, put_raw_presence

NOW = 1_800_000_000.0
WINDOW = 72 * 3600
PEOPLE = tuple(Agent(a, a.title(), "agent", ("g",), number=f"+1500555010{i}") for i, a in enumerate("abc"))


def state(call: str, caller: str | None = "caller-1", at: float = NOW) -> CallState:
    return CallState(call=call, flow="line", caller=caller, number="+14155550100", started=at, path=("billing",))


def claim(store: CallStore, call: str, people=PEOPLE) -> str | None:
    outcome = Outcome((DialFirstFree(people, 20),), state(call))
    return store.save(outcome, Snapshot(), NOW, WINDOW)


def test_state_and_contact_round_trip(r):
    store = CallStore(r, SEALER)
    store.save(Outcome((), state("CA1")), Snapshot(), NOW, WINDOW)
    snap = store.load("CA1", "caller-1", True, NOW)
    assert snap.state.path == ("billing",)
    assert [c.call for c in snap.memory.contacts] == ["CA1"]
    assert r.ttl(keys.caller("caller-1")) == WINDOW


def test_claims_hand_each_person_to_one_call_only(r):
    store = CallStore(r, SEALER)
    results = []
    barrier = threading.Barrier(6)

    def racer(n):
        barrier.wait()
        results.append(claim(CallStore(r, SEALER), f"CA{n}"))

    threads = [threading.Thread(target=racer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [x for x in results if x]
    assert sorted(won) == ["a", "b", "c"], "three people, three calls get one each, three get none"
    assert store.load("CA0", None, False, NOW, agents=("a",)).staffing.records["a"].status == presence.RINGING


def test_release_only_frees_a_person_held_by_that_call(r):
    store = CallStore(r, SEALER)
    assert claim(store, "CA1") == "a"
    store.save(Outcome((), None, release=("a",)), Snapshot(state=state("CA2")), NOW, WINDOW)
    assert store.load("CA1", None, False, NOW, agents=("a",)).staffing.records["a"].status == presence.RINGING, (
        "CA2 cannot free CA1's agent"
    )
    store.save(Outcome((), state("CA1"), release=("a",)), Snapshot(), NOW, WINDOW)
    assert store.load("CA1", None, False, NOW, agents=("a",)).staffing.records["a"].status == presence.AVAILABLE


def test_an_unanswered_reservation_expires_by_itself(r):
    store = CallStore(r, SEALER)
    assert claim(store, "CA1") == "a"
    later = store.load("CA1", None, False, NOW, agents=("a",)).staffing.records["a"]
    assert presence.effective(later, NOW + 20 + RESERVE_MARGIN_SECONDS + 1) == presence.AVAILABLE


def test_contacts_older_than_the_window_are_pruned(r):
    store = CallStore(r, SEALER)
    store.save(Outcome((), state("CAold", at=NOW - WINDOW - 10)), Snapshot(), NOW - WINDOW - 10, WINDOW)
    snap = store.load("CAnew", "caller-1", True, NOW)
    store.save(Outcome((), state("CAnew")), snap, NOW, WINDOW)
    assert [c.call for c in caller_history.history(r, "caller-1").contacts] == ["CAnew"]


def test_overlapping_calls_from_one_number_both_keep_their_contact(r):
    store = CallStore(r, SEALER)
    first, second = state("CA1"), state("CA2")
    snap = store.load("CA1", "caller-1", True, NOW)
    store.save(Outcome((), first), snap, NOW, WINDOW)
    store.save(Outcome((), second), snap, NOW, WINDOW)
    store.save(Outcome((), first.but(bridged="a")), snap, NOW, WINDOW)
    contacts = {c.call: c for c in caller_history.history(r, "caller-1").contacts}
    assert set(contacts) == {"CA1", "CA2"} and contacts["CA1"].agent == "a"


def test_resolve_marks_the_caller(r):
    store = CallStore(r, SEALER)
    store.save(Outcome((), state("CA1")), Snapshot(), NOW, WINDOW)
    assert caller_history.resolve(r, "caller-1", NOW + 1) == 1
    assert caller_history.history(r, "caller-1").recent(NOW + 2, WINDOW) == []


def test_scripts_are_reloaded_after_redis_forgets_them(r):
    store = CallStore(r, SEALER)
    assert claim(store, "CA1") == "a"
    r.script_flush()
    assert claim(store, "CA2") == "b"


def test_damaged_records_are_skipped_not_fatal(r):
    r.hset(keys.caller("caller-1"), mapping={"c:CAx": "{not json", "resolved_at": "soon"})
    put_raw_presence(r, "a", "garbage")
    r.hset(keys.call("CA1"), "state", "[]")
    snap = CallStore(r, SEALER).load("CA1", "caller-1", True, NOW, agents=("a",))
    assert snap.state is None and snap.memory.contacts == () and snap.staffing.records["a"].status == presence.AVAILABLE


def test_an_agent_who_did_not_answer_goes_to_the_back_one_freed_by_a_hang_up_keeps_their_place(r):
    store = CallStore(r, SEALER)
    put_presence(r, "a", presence.Presence(presence.AVAILABLE, NOW - 900))
    assert claim(store, "CA1") == "a"
    store.save(Outcome((), state("CA1"), release=("a",)), Snapshot(), NOW, WINDOW)  # caller hung up
    assert store.load("CA1", None, False, NOW, agents=("a",)).staffing.records["a"].idle_since == NOW - 900
    assert claim(store, "CA2") == "a"
    store.save(Outcome((), state("CA2"), missed=("a",)), Snapshot(), NOW, WINDOW)  # rang, no answer
    assert store.load("CA2", None, False, NOW, agents=("a",)).staffing.records["a"].idle_since == NOW
