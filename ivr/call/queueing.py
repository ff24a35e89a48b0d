"""Callers waiting for a person: who is ahead of them, and an honest estimate of the wait.

Pure: the queue and the line's recent handle times are loaded by ivr.store.calls; Twilio's own <Enqueue>
holds the audio, while the order and who is eligible for whom live here and in Redis.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from ivr.flows.directory import SUPERVISORS, Agent, Directory

CALLBACK_PREFIX = "cb:"  # queue ids of callback requests; other ids are the CallSids of waiting calls


def callback_queue_id(request_id: str) -> str:
    """The queue id of a callback request (the request's id is the CallSid of the call that asked for it)."""
    return CALLBACK_PREFIX + request_id


def request_id_of(queue_id: str) -> str:
    """The callback request id behind a queue id (a waiting call's id comes back unchanged)."""
    return queue_id.removeprefix(CALLBACK_PREFIX)


@dataclass(frozen=True)
class QueueEntry:
    """One caller (or callback request) waiting for a person."""

    id: str  # CallSid of a waiting call, or "cb:<id>" for a callback request
    since: float  # when they started waiting: their place in line, kept by a callback
    groups: tuple[str, ...]  # who may take them
    flow: str = ""
    prefer: str | None = None  # a returning caller's own agent ...
    prefer_until: float = 0.0  # ... who gets them first until this time
    not_before: float = 0.0  # a callback waiting to retry is not offered before this time

    @property
    def is_callback(self) -> bool:
        return self.id.startswith(CALLBACK_PREFIX)

    def to_json(self) -> str:
        return json.dumps(
            {
                "id": self.id,
                "since": self.since,
                "groups": list(self.groups),
                "flow": self.flow,
                "prefer": self.prefer,
                "prefer_until": self.prefer_until,
                "not_before": self.not_before,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: str) -> QueueEntry | None:
        try:
            d = json.loads(raw)
            return cls(
                str(d["id"]),
                float(d["since"]),
                tuple(d.get("groups", ())),
                str(d.get("flow", "")),
                d.get("prefer"),
                float(d.get("prefer_until", 0)),
                float(d.get("not_before", 0)),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


def parse_queue(entries: dict[str, str]) -> tuple[QueueEntry, ...]:
    """The stored queue entries (id -> JSON), in their order in line; damaged ones are skipped."""
    parsed = (QueueEntry.from_json(raw) for raw in entries.values())
    return tuple(sorted((e for e in parsed if e is not None), key=lambda e: (e.since, e.id)))


def shares_people(a: QueueEntry, b: QueueEntry) -> bool:
    return bool(set(a.groups) & set(b.groups))


def position(entry: QueueEntry, queue: tuple[QueueEntry, ...]) -> int:
    """1 for the next caller served: counts those ahead who wait for the same people."""
    return 1 + sum(
        1
        for other in queue
        if other.id != entry.id and (other.since, other.id) < (entry.since, entry.id) and shares_people(other, entry)
    )


def may_take(
    agent: Agent, entry: QueueEntry, now: float, max_hold_seconds: int, on_duty: set[str], directory: Directory
) -> bool:
    """Whether a free agent may be given this waiting caller now.

    A returning caller's own agent is preferred until `prefer_until`; supervisors take a caller of another
    group only once that caller has waited `max_hold_seconds`, or when nobody of that group is on duty.
    """
    if entry.prefer and entry.prefer != agent.id and now < entry.prefer_until:
        preferred = directory.get(entry.prefer)
        if preferred is not None and preferred.id in on_duty:
            return False
    if any(g in agent.groups for g in entry.groups) or (agent.is_supervisor and SUPERVISORS in entry.groups):
        return True
    if not agent.is_supervisor:
        return False
    waited = now - entry.since
    staffed = any(a.id in on_duty for g in entry.groups for a in directory.group(g) if not a.is_supervisor)
    return waited >= max_hold_seconds or not staffed


def next_for(
    agent: Agent,
    queue: tuple[QueueEntry, ...],
    now: float,
    max_hold_seconds: int,
    on_duty: set[str],
    directory: Directory,
) -> QueueEntry | None:
    """The caller a newly free agent should take: their own returning callers first, then the longest waiting."""
    eligible = [
        e
        for e in sorted(queue, key=lambda e: (e.since, e.id))
        if e.not_before <= now and may_take(agent, e, now, max_hold_seconds, on_duty, directory)
    ]
    own = [e for e in eligible if e.prefer == agent.id and now < e.prefer_until]
    return (own or eligible or [None])[0]


def estimate_minutes(
    place: int,
    groups: tuple[str, ...],
    handle_times: dict[str, tuple[float, ...]],
    on_duty: set[str],
    directory: Directory,
    twilio_average: float = 0.0,
) -> int | None:
    """Minutes until a person is likely free, from the line's own recent handle times; None if unknown.

    With n people on duty who each take a call of the average length, the caller at place p waits about
    ceil(p / n) calls' time. Without handle times, Twilio's average queue time is used; without either,
    we say nothing rather than make a number up.
    """
    times = [t for g in groups for t in handle_times.get(g, ())]
    people = {a.id for g in groups for a in directory.group(g) if a.id in on_duty}
    if times and people:
        seconds = math.ceil(place / len(people)) * (sum(times) / len(times))
        return max(1, math.ceil(seconds / 60))
    if twilio_average > 0:
        return max(1, math.ceil(twilio_average / 60))
    return None


def spoken_wait(place: int, minutes: int | None) -> str:
    where = "You are next in line." if place == 1 else f"You are number {place} in line."
    if minutes is None:
        return f"{where} We'll connect you as soon as someone is free."
    return f"{where} Your wait is about {minutes} minute{'s' if minutes != 1 else ''}."
