"""What the engine asks the phone to do, as plain data; ivr.render turns these into TwiML."""

from __future__ import annotations

from dataclasses import dataclass

from ivr.flows.directory import Agent


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Pause:
    seconds: int


@dataclass(frozen=True)
class Ask:
    """A menu: the prompt plays inside the Gather so callers can barge in with a key or words."""

    node: str
    prompt: str
    hints: tuple[str, ...]
    timeout: int
    input: str = "dtmf speech"
    num_digits: int = 1
    finish_on_key: str | None = None
    audio: str | None = None  # a recorded prompt played instead of the menu's text, after the lead
    lead: str = ""  # spoken before the recording ("Sorry, I didn't get that." and the zero-out reminder)


@dataclass(frozen=True)
class DialFirstFree:
    """Ring the first of these people still free when the call is placed (claimed atomically at the edge).

    `if_none` is what the caller hears when every one of them was taken in the meantime.
    """

    candidates: tuple[Agent, ...]
    ring_seconds: int
    if_none: tuple = ()
    wrapping_up_ok: str | None = None  # a person who may be rung though wrapping up: the caller's own person


@dataclass(frozen=True)
class Dial:
    """Ring one person; the whisper plays to them before the caller is bridged."""

    agent: Agent
    ring_seconds: int


@dataclass(frozen=True)
class DialNumber:
    """Ring a plain number (the line's fallback, or the on-call number out of hours) with no whisper."""

    number: str
    ring_seconds: int
    marker: str = "fallback"  # stands in for an agent id in the dial result


@dataclass(frozen=True)
class RingEveryone:
    """Degraded mode: ring every given person at once, first to answer takes the call. No state needed."""

    agents: tuple[Agent, ...]
    numbers: tuple[str, ...] = ()
    ring_seconds: int = 25


@dataclass(frozen=True)
class WhisperAsk:
    """On the agent's leg: tell them who is calling and wait for 1 to accept."""

    call: str
    agent: str
    summary: str


@dataclass(frozen=True)
class Play:
    url: str


@dataclass(frozen=True)
class Enqueue:
    """Put the caller in the line's Twilio queue; the wait document and the way out are our endpoints."""

    queue: str


@dataclass(frozen=True)
class HoldAsk:
    """The wait document: where they stand, hold audio, and keys that work while holding."""

    prompt: str
    music: str | None  # a URL to play, or None for a pause


@dataclass(frozen=True)
class Leave:
    """Take the caller out of the queue (the Enqueue's action then decides what comes next)."""


@dataclass(frozen=True)
class Record:
    """Take a voicemail."""

    max_seconds: int


@dataclass(frozen=True)
class CallbackWhisper:
    """On the agent's call placed for a callback: who to call back and why; 1 dials the customer."""

    request: str
    attempt: str
    summary: str


@dataclass(frozen=True)
class DialCustomer:
    """From the agent's call, ring the customer who asked for the callback."""

    number: str
    request: str
    attempt: str
    ring_seconds: int = 30


@dataclass(frozen=True)
class Redirect:
    endpoint: str
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Hangup:
    pass


Action = (
    Say
    | Play
    | Pause
    | Ask
    | DialFirstFree
    | Dial
    | DialNumber
    | RingEveryone
    | WhisperAsk
    | Enqueue
    | HoldAsk
    | Leave
    | Record
    | CallbackWhisper
    | DialCustomer
    | Redirect
    | Hangup
)
