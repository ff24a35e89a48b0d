"""The call logic, as a pure function: (flow, call state, caller memory, presence, event) -> actions + state.

No I/O here. The edges load what step() needs, save what it returns and render its actions as TwiML.
The promises live here, not in flow files: 0 or "agent" reaches a person from every menu, two misses in a
row reach a person, and a caller who comes back reaches the person who knows their case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ivr.actions import (
    Action,
    Ask,
    Dial,
    DialFirstFree,
    DialNumber,
    Hangup,
    Pause,
    Redirect,
    RingEveryone,
    Say,
    WhisperAsk,
)
from ivr.callers import spoken
from ivr.callstate import CallerMemory, CallState
from ivr.directory import Directory
from ivr.flow import OPERATOR_KEY, OPERATOR_WORDS, Flow, Node, Option, Target
from ivr.routing import next_people

ZERO_OUT_HINT = "You can press 0 or say agent at any time to reach a person."
MISSES_TO_PERSON = 2
HOLD_SECONDS = 15
FALLBACK = "fallback"  # the marker in `tried` for the line's fallback number
RETURNING = "returning caller"
EARLIER_TOLD = 3  # how many earlier contacts the whisper describes


# Events: what happened on the phone, parsed from a webhook by the edge.
@dataclass(frozen=True)
class Arrive:
    """A new call reached the line."""


@dataclass(frozen=True)
class Input:
    """The caller answered a menu (or said nothing: both empty)."""

    node: str
    digits: str = ""
    speech: str = ""


@dataclass(frozen=True)
class Retry:
    """Try to reach a person again for the current target (after everyone was busy)."""


@dataclass(frozen=True)
class DialEnded:
    agent: str
    status: str  # DialCallStatus
    bridged: bool  # DialBridged from Twilio


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


Event = Arrive | Input | Retry | DialEnded | WhisperStart | WhisperReply | Ended


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


@dataclass(frozen=True)
class Outcome:
    actions: tuple[Action, ...]
    state: CallState | None = None  # to save; None when nothing changed
    busy: tuple[str, ...] = ()  # agents now bridged on this call
    release: tuple[str, ...] = ()  # agents this call no longer holds

    def but_release(self, agent: str) -> Outcome:
        return Outcome(self.actions, self.state, self.busy, tuple(dict.fromkeys((*self.release, agent))))


def step(world: World, event: Event) -> Outcome:
    """Advance one call by one event."""
    if isinstance(event, Arrive):
        return _arrive(world)
    state = world.state or _fresh_state(world)
    if isinstance(event, Input):
        return _input(world, state, event)
    if isinstance(event, Retry):
        return _route(world, state.but(tried=()), state.target or _operator(world.flow, None), ())
    if isinstance(event, DialEnded):
        return _dial_ended(world, state, event)
    if isinstance(event, WhisperStart):
        return Outcome((WhisperAsk(world.call, event.agent, whisper_summary(world, state, event.agent)),))
    if isinstance(event, WhisperReply):
        return _whisper_reply(state, event)
    if isinstance(event, Ended):
        return _ended(state, event)
    raise TypeError(f"unknown event {event!r}")


def settle(outcome: Outcome, claimed: str | None) -> tuple[Action, ...]:
    """Replace a DialFirstFree with a Dial to the person the edge claimed (or its if_none actions)."""
    settled: list[Action] = []
    for action in outcome.actions:
        if isinstance(action, DialFirstFree):
            agent = next((a for a in action.candidates if a.id == claimed), None)
            settled.extend([Dial(agent, action.ring_seconds)] if agent else action.if_none)
        else:
            settled.append(action)
    return tuple(settled)


def degraded(flow: Flow, directory: Directory, fallback_number: str | None) -> tuple:
    """What a caller gets when our own machinery fails: every supervisor rung at once, and the fallback."""
    numbers = tuple(n for n in (flow.settings.fallback_number, fallback_number) if n)
    return (Say("I'm connecting you to a person now."),
            RingEveryone(tuple(directory.supervisors()), tuple(dict.fromkeys(numbers))))


# --- arriving ---------------------------------------------------------------------------------------

def _fresh_state(world: World) -> CallState:
    return CallState(call=world.call, flow=world.flow.name, caller=world.caller, number=world.number,
                     started=world.now)


def _arrive(world: World) -> Outcome:
    if world.state is not None:  # Twilio retried /voice: carry on where the call is
        return _enter(world, world.state, world.state.node or world.flow.start, ())
    flow, policy = world.flow, world.flow.settings.repeat
    state = _fresh_state(world)
    recent = world.memory.recent(world.now, policy.window_seconds, world.call) if world.caller else []
    visit = len(recent) + 1
    last = next((c.agent for c in reversed(recent) if c.agent and world.directory.get(c.agent)), None)
    state = state.but(visit=visit, last_agent=last, earlier=_earlier(world, recent))
    if visit >= policy.supervisor_from_call:
        greeting = Say(f"Welcome back. I can see this is your call number {visit} to us recently, so I'm "
                       "connecting you straight to a supervisor who can see your recent calls.")
        state = state.but(path=(f"{RETURNING}: straight to a supervisor",))
        return _route(world, state, Target.supervisors(), (greeting,))
    if visit >= policy.prior_agent_from_call and last:
        name = world.directory.get(last).name
        greeting = Say(f"Welcome back. Connecting you to {name}, who helped you last time.")
        state = state.but(path=(f"{RETURNING}: back to {name}",))
        return _route(world, state, Target("agent", last), (greeting,))
    return _enter(world, state, flow.start, ())


def _earlier(world: World, recent) -> tuple[str, ...]:
    """Recent contacts, newest first, in the words the whisper uses."""
    told = []
    for c in reversed(recent[-EARLIER_TOLD:]):
        minutes = max(1, int((world.now - c.at) // 60))
        ago = "a minute" if minutes == 1 else f"{minutes} minutes" if minutes < 120 else f"{minutes // 60} hours"
        chose = [p for p in c.path if not p.startswith(RETURNING)]
        about = f"about {', '.join(chose)}" if chose else "with no menu choice"
        agent = world.directory.get(c.agent)
        result = f"spoke with {agent.name}" if agent else c.outcome
        told.append(f"{ago} ago {about}, {result}")
    return tuple(told)


# --- menus ------------------------------------------------------------------------------------------

def _enter(world: World, state: CallState, node_id: str, said: tuple[Action, ...]) -> Outcome:
    """Play a node and everything that follows it without a choice (messages and go-tos)."""
    flow = world.flow
    for _ in range(len(flow.nodes) + 1):  # validation forbids loops of messages; this is a second net
        node = flow.node(node_id)
        if node is None:
            return _to_person(world, state, None, said + (Say("Let me get you a person."),))
        if node.type == "menu":
            state = state.but(node=node.id, misses=0)
            return Outcome(said + (_ask(flow, node, state, ""),), state)
        if node.type == "message":
            said += (Say(node.say),)
            state = state.but(outcome=node.outcome or state.outcome)
            node_id = node.next
        elif node.type == "goto":
            node_id = node.next
        elif node.type == "route":
            state = state.but(node=node.id)
            return _route(world, state, node.target, said + ((Say(node.say),) if node.say else ()))
        else:  # goodbye: the caller chose to be done
            state = state.but(node=node.id, outcome=node.outcome or "self-served")
            return Outcome(said + (Say(node.say), Hangup()), state)
    return _to_person(world, state, None, said)


def _ask(flow: Flow, node: Node, state: CallState, before: str) -> Ask:
    prompt = " ".join(p for p in (before, node.say) if p)
    if node.id == flow.start or not state.path or before:
        prompt = f"{prompt} {ZERO_OUT_HINT}"
    hints = tuple(dict.fromkeys([w for o in node.options for w in o.words] + ["agent", "representative"]))
    return Ask(node.id, prompt, hints, node.timeout)


def _input(world: World, state: CallState, event: Input) -> Outcome:
    node = world.flow.node(event.node)
    if node is None or node.type != "menu":
        # The flow changed under the call, or the URL was tampered with: a person sorts it out.
        return _to_person(world, state, None, (Say("Let me get you a person."),))
    digits = re.sub(r"[^0-9*#]", "", event.digits or "")
    words = _words(event.speech)
    if digits[:1] == OPERATOR_KEY or (not digits and _asks_for_person(words)):
        return _to_person(world, state.but(path=(*state.path, "asked for a person")), node,
                          (Say("Connecting you to a person."),))
    option = _match(node, digits, words)
    if option is not None:
        state = state.but(path=(*state.path, option.label), misses=0)
        return _enter(world, state, option.next, ())
    misses = state.misses + 1
    if misses >= MISSES_TO_PERSON:
        state = state.but(misses=0, path=(*state.path, f"no choice made at {node.id}"))
        return _to_person(world, state, node, (Say("Let me connect you with a person who can help."),))
    heard = "Sorry, I didn't hear anything." if not digits and not words else "Sorry, I didn't get that."
    return Outcome((_ask(world.flow, node, state, heard),), state.but(node=node.id, misses=misses))


def _words(speech: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]", " ", (speech or "").lower()).split())


def _asks_for_person(words: str) -> bool:
    return any(re.search(rf"\b{re.escape(w)}\b", words) for w in OPERATOR_WORDS)


def _match(node: Node, digits: str, words: str) -> Option | None:
    if digits:
        return next((o for o in node.options if o.key == digits[:1]), None)
    if not words:
        return None
    return next((o for o in node.options for w in o.words if re.search(rf"\b{re.escape(w)}\b", words)), None)


def _operator(flow: Flow, node: Node | None) -> Target:
    return (node.operator if node is not None else None) or flow.settings.operator


def _to_person(world: World, state: CallState, node: Node | None, said: tuple[Action, ...]) -> Outcome:
    return _route(world, state, _operator(world.flow, node), said)


# --- reaching a person ------------------------------------------------------------------------------

def _route(world: World, state: CallState, target: Target, said: tuple[Action, ...]) -> Outcome:
    """Ring the next free person for the target; then the fallback number; then hold and try again."""
    if state.target != target:
        state = state.but(target=target, tried=())
    settings = world.flow.settings
    candidates = next_people(target, world.directory, world.presence, world.now, state.tried,
                             settings.agents_per_route)
    hold = (Say("Everyone who could help is on another call. Please stay on the line; "
                "you have not been disconnected, and I'll keep trying."),
            Pause(HOLD_SECONDS), Redirect("retry"))
    if candidates:
        busy_now = (Say("Please hold a moment."), Pause(3), Redirect("retry"))
        return Outcome(said + (DialFirstFree(candidates, settings.ring_seconds, busy_now),), state)
    fallback = settings.fallback_number or world.fallback_number
    if fallback and FALLBACK not in state.tried:
        state = state.but(tried=(*state.tried, FALLBACK))
        return Outcome(said + (DialNumber(fallback, settings.ring_seconds),), state)
    return Outcome(said + hold, state.but(tried=()))


def _dial_ended(world: World, state: CallState, event: DialEnded) -> Outcome:
    agent = world.directory.get(event.agent)
    was_bridged = event.bridged or state.bridged == event.agent
    if event.agent == FALLBACK or agent is None:
        if event.status == "completed":
            return Outcome((Say("Thank you for calling. Goodbye."), Hangup()),
                           state.but(outcome="spoke with the fallback line"))
        return _route(world, state, state.target or _operator(world.flow, None), ())
    if was_bridged and event.status in ("completed", "answered"):
        state = state.but(bridged=event.agent, ringing=None)
        return Outcome((Say("Thank you for calling. Goodbye."), Hangup()), state, release=(event.agent,))
    if event.status == "canceled":  # the caller hung up while it rang
        return Outcome((Hangup(),), state.but(ringing=None, outcome="hung up while ringing"),
                       release=(event.agent,))
    state = state.but(tried=(*state.tried, event.agent), ringing=None, bridged=None)
    target = state.target or _operator(world.flow, None)
    if target.kind == "agent" and target.name == event.agent:
        sorry = Say(f"{agent.name} can't take your call right now, so I'm connecting you to a supervisor "
                    "who can see your history.")
        state = state.but(target=Target.supervisors(), tried=(event.agent,))
        return _route(world, state, Target.supervisors(), (sorry,)).but_release(event.agent)
    return _route(world, state, target, (Say("Still connecting you. Thank you for waiting."),)) \
        .but_release(event.agent)


def whisper_summary(world: World, state: CallState, agent_id: str) -> str:
    """What the agent hears before the bridge, so the caller never has to start over."""
    flow = world.flow
    window = flow.settings.repeat.window_hours
    parts = [f"{flow.name.replace('-', ' ')} call from {spoken(state.number)}."]
    chosen = [p for p in state.path if p]
    parts.append(f"They chose: {', then '.join(chosen)}." if chosen else "They made no menu choice.")
    if state.visit > 1:
        parts.append(f"This is call number {state.visit} from them in {window} hours.")
        last = world.directory.get(state.last_agent)
        if last is not None:
            parts.append(f"Last time they spoke with {'you' if last.id == agent_id else last.name}.")
        if state.earlier:
            parts.append(f"Earlier calls: {'; '.join(state.earlier)}.")
    else:
        parts.append(f"First call from them in {window} hours.")
    parts.append("Press 1 to accept the call, or any other key to pass.")
    return " ".join(parts)


def _whisper_reply(state: CallState, event: WhisperReply) -> Outcome:
    if (event.digits or "").strip()[:1] == "1":
        return Outcome((), state.but(bridged=event.agent), busy=(event.agent,))
    return Outcome((Say("Passing the call on."), Hangup()))


def _ended(state: CallState, event: Ended) -> Outcome:
    outcome = state.outcome
    if not state.bridged and not outcome:
        outcome = "hung up while being connected" if state.target else "hung up in the menu"
    held = tuple(a for a in (state.ringing, state.bridged) if a)
    return Outcome((), state.but(outcome=outcome, ringing=None), release=held)

