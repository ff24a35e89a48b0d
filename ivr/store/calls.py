"""What a webhook reads and writes, in one round trip each: the call's state, the caller's history, the
people it may need, its place in line, and the claims on people (the client is passed in). What it reads is
a few keys of a few hundred bytes, whatever the number of callers waiting or people in the directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis

from ivr.call import presence as presence_rules
from ivr.call.actions import DialFirstFree
from ivr.call.callers import masked
from ivr.call.callstate import CallerMemory, CallState
from ivr.call.presence import Staffing
from ivr.call.queueing import Place, QueueEntry, request_id_of
from ivr.store import (
    call_records,
    callback_desk,
    callbacks,
    caller_history,
    incidents,
    keys,
    messages,
    presence_index,
    problems,
    scripts,
    wake,
    wrap_ups,
)
from ivr.store.sealed import Sealer

CALL_TTL = 6 * 3600  # a call's state outlives any real call, then goes away by itself
ENDED_TTL = 3600  # once a call has ended: long enough to refuse its late webhooks, no longer


TALLY_KEPT_SECONDS = 8 * 24 * 3600  # a day's tiles, kept a week
HANDLE_TIMES_KEPT = 50  # recent talk times per group that wait estimates average over (the LOAD script's too)
RESERVE_MARGIN_SECONDS = 120  # beyond the ring: prompts before the Dial, the whisper and the key press
FREE_PER_GROUP = 6  # free people read per group: enough for a route's candidates, whatever the group's size
AGENTS_BY_NAME = 16  # records a load reads for the people it is given by name: more than a menu can route to
FREE_ALWAYS, FREE_IF_KNOWN, FREE_NEVER = "always", "known", "never"  # when a load reads the free people


def talk_time(call_sid: str, seconds: float) -> str:
    """A talk-time sample as stored: named by its call, so keeping it twice keeps it once."""
    return f"{call_sid}:{round(seconds, 1)}"


@dataclass(frozen=True)
class Snapshot:
    state: CallState | None = None
    memory: CallerMemory = field(default_factory=CallerMemory)
    staffing: Staffing = field(default_factory=Staffing)
    place: Place | None = None  # loaded for wait documents and keys on hold
    sealed: dict = field(default_factory=dict)  # plain number -> its sealed form as loaded, kept as it was


class CallStore:
    """Reads and writes what the engine needs, batching every webhook's I/O into two round trips."""

    def __init__(self, r: redis.Redis, sealer: Sealer, retention_days: int = call_records.RETENTION_DAYS):
        self.r = r
        self.scripts = scripts.Registered(r)
        self.sealer = sealer
        self.retention_days = retention_days  # how long calls' records are kept

    def load(
        self,
        call: str | None,
        caller: str | None,
        with_history: bool,
        now: float,
        groups: tuple[str, ...] = (),
        with_place: bool = False,
        agents: tuple[str, ...] = (),
        free: str = "always",
    ) -> Snapshot:
        """One round trip (the LOAD script): the call's state, the caller's contacts (on arrival), the people
        it may need by name (`agents`: the person in the URL and the ones its flow routes to, the first
        AGENTS_BY_NAME of them; the person ringing for it, its target, who took the caller's earlier
        calls), the number on duty and, as `free` asks (FREE_ALWAYS, FREE_IF_KNOWN: only for a call or caller
        Redis knows, FREE_NEVER), the first free people of each of `groups`, and with_place, its place in line.
        A webhook that cannot ring anyone skips the free people: Redis does less for it."""
        history = bool(caller and with_history)
        reply = self.scripts.call(
            "load",
            [keys.call(call) if call else keys.call("-"), keys.caller(caller) if history else ""],
            [
                now,
                0 if free == FREE_NEVER else FREE_PER_GROUP,
                call if (with_place and call) else "",
                ",".join(groups),
                free,
                *agents[:AGENTS_BY_NAME],
            ],
        )
        call_flat, caller_flat, records, free, on_duty, place = reply
        call_hash = _pairs(call_flat)
        state, sealed = None, {}
        if call_hash.get("state"):
            state = CallState.from_json(call_hash["state"], ringing=call_hash.get("ringing") or None)
            if state is not None:
                opened = {v: self.sealer.open(v) for v in (state.number, state.callback_number) if v}
                sealed = {plain: v for v, plain in opened.items() if plain}
                state = state.but(number=opened.get(state.number), callback_number=opened.get(state.callback_number))
        return Snapshot(
            state,
            caller_history.parse(_pairs(caller_flat)) if history else CallerMemory(),
            presence_index.staffing(groups, records, free, on_duty),
            _place(place),
            sealed,
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
            or outcome.callback_merge
            or outcome.choice
        ):
            return None
        call_sid = state.call if state is not None else (snapshot.state.call if snapshot.state else "")

        def build(pipe, shas) -> None:
            if state is not None:
                call_key = keys.call(state.call)
                if outcome.ended:  # the call is over: its numbers are no longer needed, so not kept
                    sealed = state.but(number=None, callback_number=None)
                else:
                    # a number unchanged since the load keeps its sealed form: no new encryption on every webhook
                    def seal(value):
                        return snapshot.sealed[value] if value in snapshot.sealed else self.sealer.seal(value)

                    sealed = state.but(number=seal(state.number), callback_number=seal(state.callback_number))
                pipe.hset(call_key, "state", sealed.to_json())
                pipe.expire(call_key, CALL_TTL)
                if state.caller:
                    stale = snapshot.memory.expired(now, window_seconds)
                    caller_history.remember(pipe, state.caller, state.contact(), window_seconds, forget=stale)
                if state.bridged and (outcome.busy or outcome.release):  # its wrap-up may come later
                    wrap_ups.remember_taker(pipe, state.call, state.bridged, state.caller, window_seconds)
            for agent in outcome.busy:
                pipe.evalsha(shas["busy"], 1, keys.presence(), now, now + presence_rules.BUSY_AT_MOST, call_sid, agent)
            if outcome.dequeue:
                pipe.evalsha(shas["dequeue"], 0, *outcome.dequeue)
            # before the enqueue: a caller put back in line is no longer held by the person let go
            keep = f"keep:{outcome.wrap_up}" if outcome.wrap_up else "keep"  # who talked wraps up first
            for mode, agents in ((keep, outcome.release), ("back", outcome.missed)):
                if agents:
                    pipe.evalsha(shas["release"], 2, keys.presence(), keys.call(call_sid), now, call_sid, mode, *agents)
                    wake.nudge(pipe, "freed")
            if outcome.ended:
                pipe.hset(keys.call(call_sid), "ended", now)  # before any late enqueue of this call lands
                pipe.expire(keys.call(call_sid), ENDED_TTL)
            if outcome.callback_merge:  # before the enqueue: the call takes over the request's place
                action, queue_id = outcome.callback_merge
                request = request_id_of(queue_id)
                pipe.evalsha(shas["manage"], 1, keys.callback(request), action, queue_id, "", now, call_sid)
            if outcome.enqueue is not None:
                entry = outcome.enqueue
                itself = entry.id == call_sid
                pipe.evalsha(
                    shas["enqueue"],
                    4,
                    keys.queue(),
                    keys.queue_entries(),
                    keys.call(call_sid) if itself else keys.callback(request_id_of(entry.id)),
                    keys.presence(),
                    entry.id,
                    entry.since,
                    entry.to_json(),
                    "1" if itself else "0",
                    now,
                )
                wake.nudge(pipe, "queued")
            if outcome.callback is not None:
                request = outcome.callback
                callbacks.store_request(pipe, request, self.sealer)
                if state is not None and state.caller and outcome.enqueue is not None:
                    callback_desk.remember_pending(pipe, state.caller, outcome.enqueue)
                    pipe.expire(keys.caller(state.caller), window_seconds)
            if outcome.message is not None:
                messages.store(pipe, outcome.message, self.sealer)
            if outcome.choice is not None:
                incidents.chose(pipe, *outcome.choice, call_sid, now)
            if outcome.incident_text and state is not None and state.number:
                incidents.ask_text(pipe, outcome.incident_text, call_sid, self.sealer.seal(state.number))
            if outcome.record is not None:
                call_records.append(pipe, outcome.record, now, self.retention_days)
            for what in outcome.tally:
                tally_key = keys.tally(outcome.day, state.flow if state is not None else "", what)
                pipe.sadd(tally_key, call_sid)
                pipe.expire(tally_key, TALLY_KEPT_SECONDS)
            if state is not None and state.caller and snapshot.state is None:  # the call's first save
                pipe.hset(keys.caller(state.caller), caller_history.LABEL, masked(state.number))
                if state.visit > 1:
                    problems.called_again(pipe, state.caller, now, window_seconds)
            if outcome.handle is not None:
                group, seconds = outcome.handle
                pipe.zadd(keys.talk_times(group), {talk_time(call_sid, seconds): now})
                pipe.zremrangebyrank(keys.talk_times(group), 0, -HANDLE_TIMES_KEPT - 1)
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
                    dial.wrapping_up_ok or "",
                    *[a.id for a in dial.candidates],
                )

        # No MULTI: each write stands on its own (the claim and release are atomic Lua), and a transaction
        # would double the replies to parse on the hot path.
        results = self.scripts.run(build)
        return (results[-1] or None) if dial is not None else None


def _pairs(flat: list) -> dict:
    return dict(zip(flat[::2], flat[1::2], strict=False))


def _place(reply) -> Place | None:
    """The LOAD script's place: entry JSON, ahead, people on duty, talk seconds (sum) and samples."""
    if not reply:
        return None
    entry = QueueEntry.from_json(reply[0])
    if entry is None:
        return None
    samples = int(reply[4])
    return Place(entry, int(reply[1]), int(reply[2]), float(reply[3]) / samples if samples else 0.0)
