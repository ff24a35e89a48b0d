"""Safe retries: whatever re-sends a webhook's writes (a script Redis forgot after a restart or failover, a
timeout, a dropped connection) never applies one twice. Every write is idempotent, so sending the same
pipeline again leaves Redis exactly as sending it once did."""

from __future__ import annotations

import json

import pytest

from ivr.call import presence
from ivr.call.actions import DialFirstFree
from ivr.call.callstate import CallState
from ivr.call.queueing import QueueEntry
from ivr.call.world import Outcome
from ivr.flows.directory import Agent
from ivr.store import keys, presence_records, scripts
from ivr.store.calls import CallStore, Snapshot
from ivr.store.dispatch import Dispatch
from tests.support import SEALER, put_in_line, put_presence, put_raw_presence

NOW = 1_800_000_000.0
WINDOW = 72 * 3600
PEOPLE = tuple(Agent(a, a.title(), "agent", ("g",), number=f"+1500555010{i}") for i, a in enumerate("abc"))


def everything(r) -> dict:
    """Every key with its type and value: what 'Redis exactly as before' means. A call's state is compared
    opened: a sealed number is written with a fresh random IV each time, the number itself is the same."""

    def hash_(key):
        found = r.hgetall(key)
        if "state" in found:
            state = json.loads(found["state"])
            found["state"] = {**state, "number": SEALER.open(state["number"])}
        return found

    read = {
        "hash": hash_,
        "zset": lambda k: r.zrange(k, 0, -1, withscores=True),
        "list": lambda k: r.lrange(k, 0, -1),
        "set": r.smembers,
        "string": r.get,
    }
    return {k: (r.type(k), read[r.type(k)](k)) for k in sorted(r.keys("*"))}


def busy_on(call: str) -> str:
    return presence_records.dump(presence.Presence(presence.BUSY, 0, NOW + 600, call))


def outcomes() -> list[tuple[Outcome, Snapshot]]:
    """Every kind of write a webhook makes, as the engine asks for them."""
    state = CallState(call="CA1", flow="line", caller="caller-1", number="+14155550100", started=NOW, path=("g",))
    entry = QueueEntry("CA2", NOW - 30, ("g",), "line")
    callback = {"id": "CA3", "number": "+14155550101", "flow": "line", "since": NOW - 60, "groups": ["g"]}
    return [
        (Outcome((DialFirstFree(PEOPLE, 20),), state), Snapshot()),
        (Outcome((), state, busy=("a",)), Snapshot(state=state)),
        (Outcome((), state, enqueue=entry), Snapshot()),
        (Outcome((), state, enqueue=QueueEntry("cb:CA3", NOW - 60, ("g",), "line"), callback=callback), Snapshot()),
        (Outcome((), state, handle=("g", 95.0), release=("b",), missed=("c",)), Snapshot(state=state)),
        (Outcome((), None, dequeue=("CA2",), ended=True), Snapshot(state=state)),
    ]


def test_every_webhook_write_sent_twice_leaves_what_sending_once_did(r):
    for outcome, snapshot in outcomes():
        r.flushdb()
        put_raw_presence(r, "b", busy_on("CA1"))
        put_raw_presence(r, "c", busy_on("CA1"))
        store = CallStore(r, SEALER)
        first = store.save(outcome, snapshot, NOW, WINDOW)
        once = everything(r)
        again = store.save(outcome, snapshot, NOW, WINDOW)
        assert everything(r) == once, f"sending twice changed Redis for {outcome}"
        assert again == first, "a re-sent claim names the person the first one claimed"


def test_a_pipeline_re_sent_after_redis_forgot_its_scripts_counts_each_write_once(r):
    state = CallState(call="CA1", flow="line", caller="caller-1", number=None, started=NOW, path=("g",))
    put_raw_presence(r, "b", busy_on("CA1"))
    store = CallStore(r, SEALER)
    scripts.register(r)  # loaded, then forgotten by Redis (a restart or a failover to a replica)
    r.script_flush()
    store.save(Outcome((), state, handle=("g", 95.0), release=("b",)), Snapshot(state=state), NOW, WINDOW)
    assert r.zcard(keys.talk_times("g")) == 1, "one conversation, one talk-time sample"
    assert r.llen(keys.wake()) == 1, "one nudge"
    assert presence_records.parse(r.hget(keys.presence(), "b")).status == presence.AVAILABLE


def test_a_hand_over_sent_twice_is_one_hand_over(r):
    entry = QueueEntry("cb:CA3", NOW - 60, ("g",), "line")
    put_in_line(r, entry)
    r.hset(keys.callback("CA3"), mapping={"request": "{}", "status": "waiting", "attempts": 0})
    dispatch = Dispatch(r)
    args = [NOW, NOW + 600, "a", entry.id, "1", NOW + 30, "token-1"]
    script_keys = [
        keys.presence(),
        keys.queue(),
        keys.queue_entries(),
        keys.callbacks_claimed(),
        keys.callback("CA3"),
        keys.call("-"),
    ]
    assert dispatch.scripts.call("take", script_keys, args) == 1
    once = everything(r)
    assert dispatch.scripts.call("take", script_keys, args) == 1, "the re-sent hand-over reports it done"
    assert everything(r) == once
    assert dispatch.scripts.call("take", script_keys, [*args[:-1], "token-2"]) == 0, "another attempt is not"


def test_two_workers_taking_the_same_caller_for_the_same_person_hand_over_once(r):
    entry = QueueEntry("CA9", NOW - 60, ("g",), "line")
    put_in_line(r, entry)
    first, second = Dispatch(r), Dispatch(r)
    assert first.take("a", entry, NOW, 20) is not None
    assert second.take("a", entry, NOW, 20) is None, "the other worker's take is not its own: no second redirect"


def test_a_re_sent_miss_and_new_ring_still_rings_one_person(r):
    """One pipeline lets go of the person who did not answer and rings the next: sent twice, still one."""
    state = CallState(call="CA1", flow="line", caller=None, number=None, started=NOW, path=("g",))
    put_presence(r, "a", presence.Presence(presence.RINGING, 0, NOW + 60, "CA1"))
    r.hset(keys.call("CA1"), "ringing", "a")
    store = CallStore(r, SEALER)
    outcome = Outcome((DialFirstFree(PEOPLE[1:], 20),), state, missed=("a",))  # the next who was not rung
    assert store.save(outcome, Snapshot(state=state), NOW, WINDOW) == "b"
    assert store.save(outcome, Snapshot(state=state), NOW, WINDOW) == "b", "the re-send finds its own claim"
    ringing = [p for p, rec in presence_records.read_all(r).items() if rec.status == presence.RINGING]
    assert ringing == ["b"]


@pytest.mark.parametrize("entry_id", ["CA2", "cb:CA2"], ids=["caller", "callback"])
def test_a_re_sent_enqueue_never_puts_back_someone_a_worker_took_meanwhile(r, entry_id):
    state = CallState(call="CA2", flow="line", caller=None, number="+14155550102", started=NOW, path=("g",))
    entry = QueueEntry(entry_id, NOW - 30, ("g",), "line")
    callback = (
        {"id": "CA2", "number": "+14155550102", "flow": "line", "since": entry.since} if entry.is_callback else None
    )
    outcome = Outcome((), state, enqueue=entry, callback=callback)
    store = CallStore(r, SEALER)
    store.save(outcome, Snapshot(), NOW, WINDOW)
    assert Dispatch(r).take("a", entry, NOW, 20), "a worker hands them to a person"
    store.save(outcome, Snapshot(), NOW, WINDOW)  # the webhook's pipeline, sent again after a timeout
    assert r.zrange(keys.queue(), 0, -1) == [], "not back in line: they are already with a person"
