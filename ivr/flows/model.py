"""A phone line as data: one frozen dataclass per kind of node, the line's settings, the flow itself.

ivr.flows.load reads and checks these from a YAML file; everything else only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ivr.flows.directory import SUPERVISORS
from ivr.flows.hours import Hours

# Words that reach a person from every menu; flows may not take them for anything else.
OPERATOR_WORDS = (
    "agent",
    "representative",
    "operator",
    "person",
    "human",
    "real person",
    "someone",
    "somebody",
    "customer service",
)
OPERATOR_KEY = "0"
KEYS = set("123456789*#")


@dataclass(frozen=True)
class Target:
    """Who a route tries: a group (supervisors is a group too) or one named agent."""

    kind: str  # "group" or "agent"
    name: str

    @classmethod
    def supervisors(cls) -> Target:
        return cls("group", SUPERVISORS)

    @property
    def is_supervisors(self) -> bool:
        return self.kind == "group" and self.name == SUPERVISORS


@dataclass(frozen=True)
class Option:
    key: str | None
    words: tuple[str, ...]
    label: str
    next: str
    next_line: int = 0  # the line of its `next:`, where a wrong target is reported


@dataclass(frozen=True)
class Menu:
    """Callers choose with a key or words; 0 and the person words always reach a person."""

    kind: ClassVar[str] = "menu"
    id: str
    line: int
    say: str
    options: tuple[Option, ...]
    operator: Target | None = None  # who 0 reaches here, if not the line's operator
    timeout: int = 6  # seconds of silence before it counts as no input
    play: str | None = None  # a recorded prompt (audio file under the flows folder) played instead of `say`


@dataclass(frozen=True)
class Message:
    """Said, then the caller goes on to `next` with no choice."""

    kind: ClassVar[str] = "message"
    id: str
    line: int
    say: str
    next: str
    next_line: int = 0
    outcome: str | None = None  # recorded on the caller's contact
    play: str | None = None


@dataclass(frozen=True)
class Route:
    """Puts the caller through to a person: a group or one agent (after its `say`, if any)."""

    kind: ClassVar[str] = "route"
    id: str
    line: int
    say: str
    target: Target | None


@dataclass(frozen=True)
class Goto:
    """Goes on to another node, saying nothing."""

    kind: ClassVar[str] = "goto"
    id: str
    line: int
    next: str
    next_line: int = 0


@dataclass(frozen=True)
class Goodbye:
    """The caller chose to be done: said, then the call ends."""

    kind: ClassVar[str] = "goodbye"
    id: str
    line: int
    say: str
    outcome: str | None = None
    play: str | None = None


Node = Menu | Message | Route | Goto | Goodbye
NODE_KINDS = (Menu, Message, Route, Goto, Goodbye)
NODE_TYPES = tuple(kind.kind for kind in NODE_KINDS)  # the `type:` values a flow file may use
PASSES_ON = (Message, Goto)  # nodes that pass the caller on with no choice
SPOKEN = (Menu, Message, Goodbye)  # nodes whose prompt may be a recording


def exits(node: Node) -> list[str]:
    """The nodes a caller can go to from NODE (in the order written)."""
    if isinstance(node, Menu):
        return [o.next for o in node.options if o.next]
    if isinstance(node, PASSES_ON):
        return [node.next] if node.next else []
    return []


def recording(node: Node) -> str | None:
    """The audio file a node plays instead of its text, if any."""
    return node.play if isinstance(node, SPOKEN) else None


def words_said(node: Node) -> str:
    """The text a node says (a go-to says nothing)."""
    return "" if isinstance(node, Goto) else node.say


@dataclass(frozen=True)
class RepeatPolicy:
    window_hours: int = 72
    prior_agent_from_call: int = 2  # from this call in the window on, go straight to the last agent
    supervisor_from_call: int = 3  # from this call in the window on, go straight to a supervisor

    @property
    def window_seconds(self) -> int:
        return self.window_hours * 3600


@dataclass(frozen=True)
class QueuePolicy:
    max_hold_seconds: int = 60  # on hold this long, a caller is offered a callback or a message
    offer_every_seconds: int = 60  # and offered again this often
    prior_agent_wait_seconds: int = 120  # a returning caller waits this long for their own agent, then anyone


@dataclass(frozen=True)
class CallbackPolicy:
    max_attempts: int = 3  # calls to the customer before the request goes to the supervisors' list
    retry_minutes: int = 5  # wait before the first retry; doubles after each


@dataclass(frozen=True)
class ReportingPolicy:
    repeat_window_days: int = 7  # a contact counts as a repeat when the caller called this line within this
    incident_min_reports: int = 10  # a choice surges with at least this many callers ...
    incident_window_minutes: int = 15  # ... within this many minutes ...
    incident_factor: float = 4.0  # ... and this many times its usual rate for such a window over the last week


@dataclass(frozen=True)
class Settings:
    voice: str = "Polly.Joanna"
    language: str = "en-US"
    ring_seconds: int = 20
    agents_per_route: int = 2  # agents of a group tried before a supervisor
    operator: Target = field(default_factory=Target.supervisors)
    fallback_number: str | None = None
    repeat: RepeatPolicy = field(default_factory=RepeatPolicy)
    hours: Hours = field(default_factory=Hours)
    queue: QueuePolicy = field(default_factory=QueuePolicy)
    callbacks: CallbackPolicy = field(default_factory=CallbackPolicy)
    reporting: ReportingPolicy = field(default_factory=ReportingPolicy)
    voicemail_seconds: int = 120
    wrap_up_seconds: int = 60  # after a call, its person writes their note, offered no call, for at most this
    hold_music: str | None = None  # an audio file under the flows folder, played while callers wait
    time_to_human_budget_seconds: int = 30  # longest a caller may listen before being offered a person
    first_offer_warning_seconds: int = 10  # `ivr check` warns when the first offer of a person comes later


@dataclass(frozen=True)
class Flow:
    name: str
    file: str
    numbers: tuple[str, ...]
    default: bool
    start: str
    nodes: dict[str, Node]
    settings: Settings
    version: str = ""  # a short hash of the file: a call keeps the version it started on

    def node(self, node_id: str | None) -> Node | None:
        return self.nodes.get(node_id) if node_id else None
