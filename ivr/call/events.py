"""The events of a call, as Twilio's webhooks report them, and the statuses that tell how a call or a ring ended."""

from __future__ import annotations

from dataclasses import dataclass

TALKED = ("completed", "answered")  # DialCallStatus values after which the two sides spoke
CALL_ENDED = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})  # final CallStatus values


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
