"""What is remembered about a call in progress and about a caller's recent contacts (plain data)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from ivr.flows.model import Target

OUTCOMES = ("resolved", "unresolved", "follow-up")  # what the person who took a call says of it at wrap-up
OUTCOME_WORDS = {"resolved": "resolved", "unresolved": "not resolved", "follow-up": "follow-up needed"}
NOTE_MAX = 500  # characters of a note kept; the whisper says at most NOTE_SPOKEN of it
NOTE_SPOKEN = 200


@dataclass(frozen=True)
class WrapUp:
    """What the person who took a call (or a supervisor) wrote of it afterwards."""

    outcome: str  # one of OUTCOMES
    note: str
    by: str  # agent id of whoever wrote it
    at: float

    def to_json(self) -> str:
        return json.dumps(vars(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> WrapUp | None:
        try:
            data = json.loads(raw)
            outcome = str(data["outcome"])
            if outcome not in OUTCOMES:
                return None
            return cls(outcome, str(data.get("note", ""))[:NOTE_MAX], str(data.get("by", "")), float(data["at"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


@dataclass(frozen=True)
class Contact:
    """One call as agents and the repeat-caller rules see it."""

    call: str
    at: float
    flow: str
    path: tuple[str, ...] = ()
    agent: str | None = None  # the person who actually took the call (accepted the whisper)
    outcome: str = "in progress"
    message: str | None = None  # the URL of a voicemail left on this call
    wrap: WrapUp | None = None  # kept beside the contact (ivr.store.caller_history), never inside it

    def to_json(self) -> str:
        data = dict(vars(self))
        del data["wrap"]
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> Contact | None:
        try:
            data = json.loads(raw)
            return cls(
                call=str(data["call"]),
                at=float(data["at"]),
                flow=str(data.get("flow", "")),
                path=tuple(data.get("path", ())),
                agent=data.get("agent"),
                outcome=str(data.get("outcome", "")),
                message=data.get("message"),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None  # a damaged record is skipped, never fatal to a call


@dataclass(frozen=True)
class CallerMemory:
    """A caller's stored contacts and the time an agent last marked their problem resolved."""

    contacts: tuple[Contact, ...] = ()
    resolved_at: float = 0.0
    pending_callback: str | None = None  # the queue entry JSON of their callback request waiting in line
    label: str = ""  # their number masked (***1234), as people's screens show it

    def recent(self, now: float, window_seconds: int, exclude_call: str | None = None) -> list[Contact]:
        """Contacts in the window, after the last resolution, oldest first."""
        since = max(now - window_seconds, self.resolved_at)
        return sorted((c for c in self.contacts if c.at > since and c.call != exclude_call), key=lambda c: c.at)

    def expired(self, now: float, window_seconds: int) -> list[str]:
        return [c.call for c in self.contacts if c.at <= now - window_seconds]

    def last_note(self, now: float, window_seconds: int, exclude_call: str | None = None) -> Contact | None:
        """The latest contact in the window with a written note, resolved or not: the next person hears it."""
        noted = [
            c
            for c in self.contacts
            if c.wrap and c.wrap.note and c.at > now - window_seconds and c.call != exclude_call
        ]
        return max(noted, key=lambda c: (c.wrap.at, c.at), default=None)


@dataclass(frozen=True)
class CallState:
    call: str
    flow: str
    caller: str | None  # HMAC of the number; None for withheld numbers
    number: str | None  # E.164, for the whisper only; never logged, never a key
    started: float
    node: str | None = None
    misses: int = 0  # no-inputs and invalid entries in a row at the current menu
    path: tuple[str, ...] = ()  # what the caller chose, in words an agent understands
    visit: int = 1  # which call this is in the caller's repeat window
    last_agent: str | None = None  # who took their previous call in the window
    earlier: tuple[str, ...] = ()  # the caller's recent contacts, told to the agent in the whisper
    last_note: str | None = None  # "Jordan noted: ...", the latest note on their calls, told in the whisper
    target: Target | None = None  # who the caller is being connected to
    tried: tuple[str, ...] = ()  # people already rung for this target
    ringing: str | None = None  # set by the claim script, not by the engine
    bridged: str | None = None
    outcome: str | None = None
    queued_since: float | None = None  # in line since then; a callback keeps this place
    offers: int = 0  # callback/message offers made while holding
    leaving_for: str | None = None  # "callback" or "message", chosen while holding
    callback_number: str | None = None  # a number typed in for the callback, until confirmed
    message: str | None = None  # voicemail recording URL
    waited: float = 0.0  # seconds spent in the queue before a person was rung
    flow_version: str = ""  # the version of the flow file the call started on: it finishes on it
    pending_callback: str | None = None  # the caller's callback request in line (entry JSON), while asked about it
    merged_callback: str | None = None  # the queue id of that request, parked while this call has its place
    # the call's timeline and choices, for its record when it ends (ivr.call.call_record)
    offered_at: float | None = None  # first offered a person: rung, or put in line for one
    queued_at: float | None = None  # first put in line on this call
    bridged_at: float | None = None  # talking with a person
    rung: tuple[str, ...] = ()  # everyone rung for this call, in order
    chosen: tuple[str, ...] = ()  # "menu:key" for every menu option chosen
    zero_out: str | None = None  # the menu where they pressed 0 or asked for a person
    incident: str | None = None  # a confirmed incident they were told of ...
    incident_next: str | None = None  # ... and the node their choice leads to, where silence carries on

    def contact(self) -> Contact:
        outcome = self.outcome or "in progress"
        if self.bridged:
            outcome = f"spoke with {self.bridged}"
        return Contact(self.call, self.started, self.flow, self.path, self.bridged, outcome, self.message)

    def to_json(self) -> str:
        # a shallow copy, not dataclasses.asdict: this runs on every webhook and asdict deep-copies
        data = dict(vars(self))
        del data["ringing"]
        if self.target is not None:
            data["target"] = {"kind": self.target.kind, "name": self.target.name}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str, ringing: str | None = None) -> CallState | None:
        try:
            data = json.loads(raw)
            target = data.get("target")
            data["target"] = Target(**target) if target else None
            data["path"] = tuple(data.get("path", ()))
            data["tried"] = tuple(data.get("tried", ()))
            data["earlier"] = tuple(data.get("earlier", ()))
            data["rung"] = tuple(data.get("rung", ()))
            data["chosen"] = tuple(data.get("chosen", ()))
            return cls(**data, ringing=ringing)
        except (ValueError, TypeError, KeyError, AttributeError):
            return None

    def but(self, **changes) -> CallState:
        return replace(self, **changes)
