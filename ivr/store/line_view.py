"""What the console and the JSON API show people: the agents' board, the live queue, a call with its
caller's story. Reads only; person-facing, so it may read whole small structures (the presence hash, the
first page of the queue), never on a webhook's path. Numbers are opened only to be masked here."""

from __future__ import annotations

from dataclasses import dataclass

from ivr.call import presence, tally
from ivr.call.callers import masked
from ivr.call.callstate import CallerMemory, CallState, Contact
from ivr.call.queueing import QueueEntry, request_id_of
from ivr.flows.directory import Agent, Directory
from ivr.store import callbacks, caller_history, incidents, keys, presence_records
from ivr.store.sealed import Sealer

QUEUE_SHOWN = 100  # the head of the line a supervisor sees; the count covers everyone


@dataclass(frozen=True)
class PersonRow:
    agent: Agent
    status: str  # available, away, ringing, busy, wrap-up (as it holds now)
    since: float  # idle since (available), or 0 when not known
    call: str | None  # the call ringing them, on which they talk, or which they wrap up
    until: float  # when ringing, busy or wrap-up ends by itself
    held_since: float  # when that ringing, call or wrap-up began (0 when not known)


@dataclass(frozen=True)
class Waiting:
    id: str  # CallSid, or cb:<id> for a callback request
    place: int  # 1 for the head of the line
    since: float
    groups: tuple[str, ...]
    flow: str
    caller: str  # masked number
    path: tuple[str, ...]
    prefer: str | None  # a returning caller's own person, first in line for them
    is_callback: bool


@dataclass(frozen=True)
class CallView:
    """A call as the person taking it sees it: who, what they chose, and everything before."""

    state: CallState
    caller: str  # masked number
    memory: CallerMemory
    history: tuple[Contact, ...]  # the caller's contacts in the window, newest first, this call left out
    ended: bool
    incident: incidents.Incident | None = None  # the known fault they were told of, with its callers so far


def person_row(agent: Agent, record: presence.Presence, now: float) -> PersonRow:
    status = presence.effective(record, now)
    held = status in presence.HELD
    return PersonRow(
        agent,
        status,
        record.idle_since,
        record.call if held else None,
        record.until if held else 0.0,
        record.since if held else 0.0,
    )


def board(r, directory: Directory, now: float) -> list[PersonRow]:
    """Every person in the directory and what they are doing now."""
    records = presence_records.read_all(r)
    return [person_row(a, records.get(a.id, presence.Presence()), now) for a in directory.agents.values()]


def one_person(r, agent: Agent, now: float) -> PersonRow:
    return person_row(agent, presence_records.parse(r.hget(keys.presence(), agent.id)), now)


def queue(r, sealer: Sealer, limit: int = QUEUE_SHOWN) -> tuple[list[Waiting], int]:
    """The head of the line in order (callers and callback requests alike), and how many wait in all."""
    pipe = r.pipeline(transaction=False)
    pipe.zrange(keys.queue(), 0, limit - 1, withscores=True)
    pipe.zcard(keys.queue())
    head, total = pipe.execute()
    if not head:
        return [], total
    ids = [queue_id for queue_id, _ in head]
    pipe = r.pipeline(transaction=False)
    pipe.hmget(keys.queue_entries(), ids)
    for queue_id in ids:
        if request_id_of(queue_id) == queue_id:
            pipe.hget(keys.call(queue_id), "state")
        else:
            pipe.hgetall(keys.callback(request_id_of(queue_id)))
    entries, *details = pipe.execute()
    found = []
    for place, ((queue_id, since), raw, detail) in enumerate(zip(head, entries, details, strict=True), start=1):
        entry = QueueEntry.from_json(raw) if raw else None
        number, path = None, ()
        if isinstance(detail, str):  # a caller on hold: their call's state
            state = CallState.from_json(detail)
            if state is not None:
                number, path = sealer.open(state.number) if state.number else None, state.path
        elif (callback := callbacks.from_hash(request_id_of(queue_id), detail, sealer)) is not None:
            number, path = callback.request.get("number"), tuple(callback.request.get("path", ()))
        found.append(
            Waiting(
                queue_id,
                place,
                since,
                entry.groups if entry else (),
                entry.flow if entry else "",
                masked(number),
                path,
                entry.prefer if entry else None,
                queue_id != request_id_of(queue_id),
            )
        )
    return found, total


def call_view(r, sealer: Sealer, call: str, window_seconds: int, now: float) -> CallView | None:
    """A call's state and its caller's history (two round trips; person-facing). A callback request (cb:<id>)
    is shown as the call that asked for it."""
    if call != request_id_of(call):
        state, ended = _asked_by(r.hgetall(keys.callback(request_id_of(call))), request_id_of(call)), False
    else:
        found = r.hgetall(keys.call(call))
        state, ended = (CallState.from_json(found["state"]) if found.get("state") else None), "ended" in found
    if state is None:
        return None
    memory = caller_history.history(r, state.caller) if state.caller else CallerMemory()
    number = sealer.open(state.number) if state.number else None
    earlier = sorted(
        (c for c in memory.contacts if c.call != call and c.at > now - window_seconds), key=lambda c: -c.at
    )
    label = masked(number) if number else (memory.label or masked(None))
    incident = incidents.one(r, state.incident) if state.incident else None
    return CallView(state, label, memory, tuple(earlier), ended, incident)


def _asked_by(data: dict, request_id: str) -> CallState | None:
    """The call that asked for a callback, as far as the request remembers it (its number still sealed)."""
    callback = callbacks.from_hash(request_id, data, None)
    if callback is None:
        return None
    request = callback.request
    return CallState(
        call=request_id,
        flow=request.get("flow", ""),
        caller=request.get("caller"),
        number=data.get("number") or None,
        started=float(request.get("since", 0)),
        path=(*request.get("path", ()), "callback"),
    )


def today(r, flows, now: float) -> dict[str, int]:
    """The day's counts (ivr.call.tally) over every line, each on its own calendar's today."""
    asked = [(flow, what) for flow in flows for what in tally.COUNTED]
    pipe = r.pipeline(transaction=False)
    for flow, what in asked:
        pipe.scard(keys.tally(tally.day_of(flow, now), flow.name, what))
    counts: dict[str, int] = {}
    for (_, what), n in zip(asked, pipe.execute(), strict=True):
        counts[what] = counts.get(what, 0) + int(n)
    return counts
