"""What step() reads and what it returns: the world a call sees, and the outcome to save and say."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ivr.call.actions import (
    Action,
)
from ivr.call.callstate import CallerMemory, CallState
from ivr.call.presence import Staffing
from ivr.call.queueing import Place, QueueEntry
from ivr.flows.directory import Directory
from ivr.flows.model import Flow

FALLBACK = "fallback"  # the marker in `tried` for the line's fallback number
ON_CALL = "on-call"  # the marker for the on-call number rung out of hours


@dataclass(frozen=True)
class World:
    """Everything step() may read, loaded by the edge before it runs."""

    flow: Flow
    directory: Directory
    now: float
    call: str
    caller: str | None = None  # HMAC of the caller's number, None when withheld
    number: str | None = None  # the caller's E.164 number
    state: CallState | None = None
    memory: CallerMemory = field(default_factory=CallerMemory)
    staffing: Staffing = field(default_factory=Staffing)  # who is free and on duty, as far as this call needs
    fallback_number: str | None = None  # the service's last resort, when the flow names none
    place: Place | None = None  # this caller's place in line, loaded for wait documents and keys on hold
    audio: dict = field(default_factory=dict)  # audio file under the flows folder -> URL it is served at
    announcements: dict = field(default_factory=dict)  # (line, "menu:key") -> confirmed incident {id, message}


@dataclass(frozen=True)
class Outcome:
    actions: tuple[Action, ...]
    state: CallState | None = None  # to save; None when nothing changed
    busy: tuple[str, ...] = ()  # agents now bridged on this call
    release: tuple[str, ...] = ()  # agents this call no longer holds (they keep their place among the idle)
    wrap_up: int = 0  # seconds a released person who talked on this call wraps up before the next call
    missed: tuple[str, ...] = ()  # agents who did not take this call: freed, and last in line for the next
    enqueue: QueueEntry | None = None  # a caller (or callback request) starts or resumes waiting
    dequeue: tuple[str, ...] = ()  # queue entry ids that no longer wait
    callback: dict | None = None  # details of a callback request to store (number, line, ...)
    message: dict | None = None  # a voicemail for the team's inbox (ivr.store.messages)
    # what becomes of the caller's callback request this call took the place of (ivr.call.pending_callback):
    # ("merged" | "answered" | "restore", its queue id)
    callback_merge: tuple[str, str] | None = None
    record: dict | None = None  # the call's summary record, when it ends (ivr.call.call_record)
    choice: tuple[str, str] | None = None  # (line, "menu:key") a caller just chose: counted for incidents
    incident_text: str | None = None  # an incident whose fix the caller wants a text about
    tally: tuple[str, ...] = ()  # the day's counts this step adds to (ivr.call.tally) ...
    day: str = ""  # ... on this day of the line's own calendar
    handle: tuple[str, float] | None = None  # (group, seconds) of a conversation that just ended
    ended: bool = False  # the call is over: nothing may put it back in line afterwards

    def but_dequeue(self, ids: tuple[str, ...]) -> Outcome:
        return replace(self, dequeue=tuple(dict.fromkeys((*self.dequeue, *ids))))

    def but_release(self, agent: str) -> Outcome:
        return replace(self, release=tuple(dict.fromkeys((*self.release, agent))))

    def but_missed(self, agent: str) -> Outcome:
        return replace(self, missed=tuple(dict.fromkeys((*self.missed, agent))))
