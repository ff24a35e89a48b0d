"""Call state and caller history in Redis: one round trip to load, one to save (the client is passed in)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import redis

from ivr.call import presence as presence_rules
from ivr.call.actions import DialFirstFree
from ivr.call.callstate import CallerMemory, CallState, Contact
from ivr.call.queueing import parse_queue
from ivr.store import keys, presence_records, scripts, wake

CALL_TTL = 6 * 3600  # a call's state outlives any real call, then goes away by itself
CALLBACK_TTL = 7 * 24 * 3600  # a callback request is kept a week, whatever becomes of it
RESOLVED = "resolved_at"
CONTACT = "c:"


HANDLE_TIMES_KEPT = 50  # recent talk times per group that wait estimates average over
RESERVE_MARGIN_SECONDS = 120  # beyond the ring: prompts before the Dial, the whisper and the key press


@dataclass(frozen=True)
class Snapshot:
    state: CallState | None = None
    memory: CallerMemory = field(default_factory=CallerMemory)
    presence: dict = field(default_factory=dict)
    queue: tuple = ()  # QueueEntry, oldest first (loaded for wait documents only)
    handle_times: dict = field(default_factory=dict)  # group -> talk seconds


class Memory:
    """Reads and writes what the engine needs, batching every webhook's I/O into two round trips."""

    def __init__(self, r: redis.Redis):
        self.r = r
        self.scripts = scripts.Registered(r)

    def load(
        self, call: str | None, caller: str | None, with_history: bool, queue_groups: tuple[str, ...] = ()
    ) -> Snapshot:
        """One round trip: the call's state, the caller's contacts (on arrival), everyone's presence and,
        for wait documents (queue_groups given), the queue and those groups' recent talk times."""
        history = bool(caller and with_history)
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall(keys.presence())
        pipe.hgetall(keys.call(call)) if call else None
        pipe.hgetall(keys.caller(caller)) if history else None
        if queue_groups:
            pipe.hgetall(keys.queue_entries())
            for group in queue_groups:
                pipe.lrange(keys.handle_times(group), 0, HANDLE_TIMES_KEPT - 1)
        replies = iter(pipe.execute())
        presence_hash = next(replies)
        call_hash = next(replies) if call else {}
        caller_hash = next(replies) if history else {}
        queue, handle = (), {}
        if queue_groups:
            queue = parse_queue(next(replies))
            handle = {g: tuple(float(t) for t in next(replies)) for g in queue_groups}
        state = None
        if call_hash and call_hash.get("state"):
            state = CallState.from_json(call_hash["state"], ringing=call_hash.get("ringing") or None)
        return Snapshot(
            state,
            _caller_memory(caller_hash or {}),
            {agent: presence_records.parse(raw) for agent, raw in presence_hash.items()},
            queue,
            handle,
        )

    def save(self, outcome, snapshot: Snapshot, now: float, window_seconds: int) -> str | None:
        """One round trip: new state, the caller's contact, presence changes and any claim of a person.

        Returns the agent claimed for a DialFirstFree in the outcome, or None.
        """
        state = outcome.state
        dial = next((a for a in outcome.actions if isinstance(a, DialFirstFree)), None)
        if state is None and not (
            outcome.busy
            or outcome.release
            or outcome.missed
            or dial
            or outcome.dequeue
            or outcome.enqueue
            or outcome.ended
        ):
            return None
        call_sid = state.call if state is not None else (snapshot.state.call if snapshot.state else "")

        def build(pipe, shas) -> None:
            if state is not None:
                call_key = keys.call(state.call)
                pipe.hset(call_key, "state", state.to_json())
                pipe.expire(call_key, CALL_TTL)
                if state.caller:
                    caller_key = keys.caller(state.caller)
                    pipe.hset(caller_key, CONTACT + state.call, state.contact().to_json())
                    stale = snapshot.memory.expired(now, window_seconds)
                    if stale:
                        pipe.hdel(caller_key, *[CONTACT + c for c in stale])
                    pipe.expire(caller_key, window_seconds)
            for agent in outcome.busy:
                pipe.evalsha(shas["busy"], 1, keys.presence(), now, now + presence_rules.BUSY_AT_MOST, call_sid, agent)
            if outcome.dequeue:
                pipe.zrem(keys.queue(), *outcome.dequeue)
                pipe.hdel(keys.queue_entries(), *outcome.dequeue)
            if outcome.ended:
                pipe.hset(keys.call(call_sid), "ended", now)  # before any late enqueue of this call lands
            if outcome.enqueue is not None:
                entry = outcome.enqueue
                pipe.evalsha(
                    shas["enqueue"],
                    3,
                    keys.queue(),
                    keys.queue_entries(),
                    keys.call(call_sid),
                    entry.id,
                    entry.since,
                    entry.to_json(),
                    "1" if entry.id == call_sid else "0",
                )
                wake.nudge(pipe, "queued")
            if outcome.callback is not None:
                request = outcome.callback
                pipe.hset(
                    keys.callback(request["id"]),
                    mapping={"request": json.dumps(request, separators=(",", ":")), "attempts": 0, "status": "waiting"},
                )
                pipe.expire(keys.callback(request["id"]), CALLBACK_TTL)
            if outcome.handle is not None:
                group, seconds = outcome.handle
                pipe.lpush(keys.handle_times(group), round(seconds, 1))
                pipe.ltrim(keys.handle_times(group), 0, HANDLE_TIMES_KEPT - 1)
            for mode, agents in (("keep", outcome.release), ("back", outcome.missed)):
                if agents:
                    pipe.evalsha(shas["release"], 2, keys.presence(), keys.call(call_sid), now, call_sid, mode, *agents)
                    wake.nudge(pipe, "freed")
            if dial is not None:
                # Reserved through the prompts before the Dial, the ring and the whisper; freed by the dial
                # result, or by this expiry if that never comes.
                hold = now + dial.ring_seconds + RESERVE_MARGIN_SECONDS
                pipe.evalsha(
                    shas["claim"],
                    2,
                    keys.presence(),
                    keys.call(call_sid),
                    now,
                    hold,
                    call_sid,
                    *[a.id for a in dial.candidates],
                )

        # No MULTI: each write stands on its own (the claim and release are atomic Lua), and a transaction
        # would double the replies to parse on the hot path.
        results = self.scripts.run(build)
        return (results[-1] or None) if dial is not None else None

    def resolve(self, caller: str, now: float) -> int:
        """Mark a caller's problem resolved: their next call goes through the menu again.

        Returns how many contacts in the store this closes.
        """
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(keys.caller(caller), RESOLVED, now)
        pipe.hgetall(keys.caller(caller))
        _, caller_hash = pipe.execute()
        return sum(1 for f in caller_hash if f.startswith(CONTACT))

    def history(self, caller: str) -> CallerMemory:
        return _caller_memory(self.r.hgetall(keys.caller(caller)))


def _caller_memory(caller_hash: dict) -> CallerMemory:
    contacts = []
    for name, raw in caller_hash.items():
        if name.startswith(CONTACT):
            contact = Contact.from_json(raw)
            if contact is not None:
                contacts.append(contact)
    try:
        resolved = float(caller_hash.get(RESOLVED, 0))
    except ValueError:
        resolved = 0.0
    return CallerMemory(tuple(contacts), resolved)
