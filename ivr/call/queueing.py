"""Callers waiting for a person: who is ahead of them, and an honest estimate of the wait.

Pure: a caller's place and their line's recent talk times are read by ivr.store.calls (one step, whatever
the length of the line), the heads of the lines by ivr.store.dispatch; Twilio's own <Enqueue> holds the
audio, while the order and who is eligible for whom live here and in Redis.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from ivr.flows.directory import SUPERVISORS, Agent

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


@dataclass(frozen=True)
class Place:
    """Where one waiting caller stands, as the store reads it in one step whatever the length of the line."""

    entry: QueueEntry
    ahead: int = 0  # others ahead of them who wait for the same people
    people: int = 0  # people on duty who could take them
    talk_seconds: float = 0.0  # the average of their groups' recent talk times (0 when none)

    @property
    def number(self) -> int:
        """1 for the next caller served."""
        return self.ahead + 1


def may_take(
    agent: Agent, entry: QueueEntry, now: float, max_hold_seconds: int, staffed: dict[str, int], on_duty: set[str]
) -> bool:
    """Whether a free agent may be given this waiting caller now.

    A returning caller's own agent (in `on_duty` while not away) is preferred until `prefer_until`;
    supervisors take a caller of another group only once that caller has waited `max_hold_seconds`, or
    when nobody of that group but supervisors is on duty (`staffed`: group -> such people on duty).
    """
    if entry.prefer and entry.prefer != agent.id and now < entry.prefer_until and entry.prefer in on_duty:
        return False
    if any(g in agent.groups for g in entry.groups) or (agent.is_supervisor and SUPERVISORS in entry.groups):
        return True
    if not agent.is_supervisor:
        return False
    return now - entry.since >= max_hold_seconds or not any(staffed.get(g, 0) for g in entry.groups)


def lines_for(agent: Agent, groups) -> tuple[str, ...]:
    """The lines a free person takes callers from: their own groups' (and the supervisors' line for a
    supervisor, who may also take any other group's callers: may_take says when)."""
    if agent.is_supervisor:
        return tuple(groups)
    return agent.groups


def next_for(
    agent: Agent,
    own: tuple[QueueEntry, ...],
    lines: dict[str, tuple[QueueEntry, ...]],
    now: float,
    max_hold_seconds: int,
    staffed: dict[str, int],
    on_duty: set[str],
) -> QueueEntry | None:
    """The caller a newly free agent should take: their own returning callers first, then the longest waiting
    they may take, from the heads of the lines (`own`: their own line; `lines`: group -> its first entries,
    oldest first). Only the first eligible entry of each line can be the answer, so this reads a few entries
    per line whatever the number waiting."""
    mine = [e for e in own if e.not_before <= now and now < e.prefer_until]
    if mine:
        return min(mine, key=lambda e: (e.since, e.id))
    best = None
    for entries in lines.values():
        for entry in entries:
            if entry.not_before <= now and may_take(agent, entry, now, max_hold_seconds, staffed, on_duty):
                if best is None or (entry.since, entry.id) < (best.since, best.id):
                    best = entry
                break
    return best


def estimate_minutes(place: Place, twilio_average: float = 0.0) -> int | None:
    """Minutes until a person is likely free, from the line's own recent talk times; None if unknown.

    With n people on duty who each take a call of the average length, the caller at place p waits about
    ceil(p / n) calls' time. Without talk times, Twilio's average queue time is used; without either,
    we say nothing rather than make a number up.
    """
    if place.talk_seconds > 0 and place.people > 0:
        seconds = math.ceil(place.number / place.people) * place.talk_seconds
        return max(1, math.ceil(seconds / 60))
    if twilio_average > 0:
        return max(1, math.ceil(twilio_average / 60))
    return None


def spoken_wait(place: int, minutes: int | None) -> str:
    where = "You are next in line." if place == 1 else f"You are number {place} in line."
    if minutes is None:
        return f"{where} We'll connect you as soon as someone is free."
    return f"{where} Your wait is about {minutes} minute{'s' if minutes != 1 else ''}."
