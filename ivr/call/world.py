"""What step() reads and returns: the events of a call, the world it sees, and the outcome."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ivr.call.actions import (
    Action,
)
from ivr.call.callstate import CallerMemory, CallState
from ivr.call.queueing import QueueEntry
from ivr.flows.directory import Directory
from ivr.flows.flow import Flow

ZERO_OUT_HINT = "You can press 0 or say agent at any time to reach a person."
MISSES_TO_PERSON = 2
MIN_SPEECH_CONFIDENCE = 0.35  # below this, words choose no menu option ("sorry, I didn't get that")
TALKED = ("completed", "answered")  # DialCallStatus values after which the two sides spoke
CALL_ENDED = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})  # final CallStatus values
CONNECTING_LINE = "Connecting you to a person."  # said when a caller presses 0 (ivr.flows.timing counts it)
FALLBACK = "fallback"  # the marker in `tried` for the line's fallback number
ON_CALL = "on-call"  # the marker for the on-call number rung out of hours
RETURNING = "returning caller"
EARLIER_TOLD = 3  # how many earlier contacts the whisper describes


@dataclass(frozen=True)
class Arrive:
    """A new call reached the line."""


@dataclass(frozen=True)
class Input:
    """The caller answered a menu (or said nothing: both empty)."""

    node: str
    digits: str = ""
    speech: str = ""
    confidence: float | None = None  # Twilio's Confidence for the speech, when it sends one


@dataclass(frozen=True)
class Retry:
    """Try to reach a person again for the current target (after everyone was busy)."""


@dataclass(frozen=True)
class DialEnded:
    agent: str
    status: str  # DialCallStatus
    bridged: bool  # DialBridged from Twilio
    seconds: float = 0.0  # DialCallDuration


@dataclass(frozen=True)
class Waiting:
    """Twilio asks for the wait document of a queued caller."""

    queue_seconds: float = 0.0  # QueueTime
    twilio_average: float = 0.0  # AvgQueueTime


@dataclass(frozen=True)
class QueueLeft:
    """The Enqueue ended (QueueResult): left on purpose, hung up, or an error."""

    result: str


@dataclass(frozen=True)
class Connect:
    """A person became free and was claimed for this queued caller; Twilio was told to fetch this."""

    agent: str


@dataclass(frozen=True)
class MessageStored:
    """Twilio stored a voicemail (the recording status callback)."""

    url: str


@dataclass(frozen=True)
class Recorded:
    """The caller finished a voicemail (the Record action)."""

    url: str
    seconds: float


@dataclass(frozen=True)
class WhisperStart:
    agent: str


@dataclass(frozen=True)
class WhisperReply:
    agent: str
    digits: str


@dataclass(frozen=True)
class Ended:
    status: str  # CallStatus of the parent call


Event = (
    Arrive
    | Input
    | Retry
    | DialEnded
    | WhisperStart
    | WhisperReply
    | Ended
    | Waiting
    | QueueLeft
    | Connect
    | Recorded
    | MessageStored
)


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
    presence: dict = field(default_factory=dict)  # agent id -> presence.Presence
    fallback_number: str | None = None  # the service's last resort, when the flow names none
    queue: tuple = ()  # every QueueEntry waiting, loaded for wait documents
    handle_times: dict = field(default_factory=dict)  # group -> recent talk times in seconds
    audio: dict = field(default_factory=dict)  # audio file under the flows folder -> URL it is served at


@dataclass(frozen=True)
class Outcome:
    actions: tuple[Action, ...]
    state: CallState | None = None  # to save; None when nothing changed
    busy: tuple[str, ...] = ()  # agents now bridged on this call
    release: tuple[str, ...] = ()  # agents this call no longer holds (they keep their place among the idle)
    missed: tuple[str, ...] = ()  # agents who did not take this call: freed, and last in line for the next
    enqueue: QueueEntry | None = None  # a caller (or callback request) starts or resumes waiting
    dequeue: tuple[str, ...] = ()  # queue entry ids that no longer wait
    callback: dict | None = None  # details of a callback request to store (number, line, ...)
    handle: tuple[str, float] | None = None  # (group, seconds) of a conversation that just ended
    ended: bool = False  # the call is over: nothing may put it back in line afterwards

    def but_dequeue(self, ids: tuple[str, ...]) -> Outcome:
        return replace(self, dequeue=tuple(dict.fromkeys((*self.dequeue, *ids))))

    def but_release(self, agent: str) -> Outcome:
        return replace(self, release=tuple(dict.fromkeys((*self.release, agent))))

    def but_missed(self, agent: str) -> Outcome:
        return replace(self, missed=tuple(dict.fromkeys((*self.missed, agent))))
