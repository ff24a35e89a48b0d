"""The call logic, as a pure function: (flow, call state, caller memory, presence, event) -> actions + state.

No I/O here. The edges load what step() needs, save what it returns and render its actions as TwiML.
The promises live here, not in flow files: 0 or "agent" reaches a person from every menu, two misses in a
row reach a person, and a caller who comes back reaches the person who knows their case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from ivr import queueing
from ivr.actions import (
    Action,
    Ask,
    Dial,
    DialFirstFree,
    DialNumber,
    Enqueue,
    Hangup,
    HoldAsk,
    Leave,
    Pause,
    Play,
    Record,
    Redirect,
    RingEveryone,
    Say,
    WhisperAsk,
)
from ivr.callers import normalise, spoken
from ivr.callstate import CallerMemory, CallState
from ivr.directory import SUPERVISORS, Directory
from ivr.flow import OPERATOR_KEY, OPERATOR_WORDS, Flow, Node, Option, Target
from ivr.presence import AWAY, RINGING, Presence, effective
from ivr.queueing import QueueEntry
from ivr.routing import next_people

ZERO_OUT_HINT = "You can press 0 or say agent at any time to reach a person."
MISSES_TO_PERSON = 2
HOLD_SECONDS = 15
FALLBACK = "fallback"  # the marker in `tried` for the line's fallback number
ON_CALL = "on-call"  # the marker for the on-call number rung out of hours
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


Event = (Arrive | Input | Retry | DialEnded | WhisperStart | WhisperReply | Ended | Waiting | QueueLeft | Connect
         | Recorded | MessageStored)


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
    release: tuple[str, ...] = ()  # agents this call no longer holds
    enqueue: QueueEntry | None = None  # a caller (or callback request) starts or resumes waiting
    dequeue: tuple[str, ...] = ()  # queue entry ids that no longer wait
    callback: dict | None = None  # details of a callback request to store (number, line, ...)
    handle: tuple[str, float] | None = None  # (group, seconds) of a conversation that just ended

    def but_dequeue(self, ids: tuple[str, ...]) -> Outcome:
        return replace(self, dequeue=tuple(dict.fromkeys((*self.dequeue, *ids))))

    def but_release(self, agent: str) -> Outcome:
        return replace(self, release=tuple(dict.fromkeys((*self.release, agent))))


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
    if isinstance(event, Waiting):
        return _waiting(world, state, event)
    if isinstance(event, QueueLeft):
        return _queue_left(world, state, event)
    if isinstance(event, Connect):
        return _connect(world, state, event)
    if isinstance(event, Recorded):
        return _recorded(world, state, event)
    if isinstance(event, MessageStored):
        return Outcome((), state.but(message=event.url, outcome="left a message") if event.url else None)
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
    if not flow.settings.hours.is_open(world.now):
        return _closed(world, state, "")
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
            return Outcome(said + (_ask(world, node, state, ""),), state)
        if node.type == "message":
            said += (_spoken(world, node),)
            state = state.but(outcome=node.outcome or state.outcome)
            node_id = node.next
        elif node.type == "goto":
            node_id = node.next
        elif node.type == "route":
            state = state.but(node=node.id)
            return _route(world, state, node.target, said + ((Say(node.say),) if node.say else ()))
        else:  # goodbye: the caller chose to be done
            state = state.but(node=node.id, outcome=node.outcome or "self-served")
            return Outcome(said + (_spoken(world, node), Hangup()), state)
    return _to_person(world, state, None, said)


def _ask(world: World, node: Node, state: CallState, before: str) -> Ask:
    flow = world.flow
    after = ZERO_OUT_HINT if node.id == flow.start or not state.path or before else ""
    prompt = " ".join(p for p in (before, node.say, after) if p)
    hints = tuple(dict.fromkeys([w for o in node.options for w in o.words] + ["agent", "representative"]))
    audio = world.audio.get(node.play) if node.play else None
    return Ask(node.id, prompt, hints, node.timeout, audio=audio, lead=before, tail=after)


def _spoken(world: World, node: Node) -> Action:
    """A node's recorded prompt when its audio is usable, else its text (the fallback `ivr check` warns of)."""
    audio = world.audio.get(node.play) if node.play else None
    return Play(audio) if audio else Say(node.say)


def _input(world: World, state: CallState, event: Input) -> Outcome:
    if event.node in SYSTEM_MENUS:
        return SYSTEM_MENUS[event.node](world, state, event)
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
    return Outcome((_ask(world, node, state, heard),), state.but(node=node.id, misses=misses))


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
    if candidates:
        busy_now = (Say("Please hold a moment."), Pause(3), Redirect("retry"))
        return Outcome(said + (DialFirstFree(candidates, settings.ring_seconds, busy_now),), state)
    fallback = settings.fallback_number or world.fallback_number
    if fallback and FALLBACK not in state.tried and not _anyone_on_duty(world, target):
        state = state.but(tried=(*state.tried, FALLBACK))
        return Outcome(said + (DialNumber(fallback, settings.ring_seconds),), state)
    return _enqueue(world, state, target, said)


def _on_duty(world: World) -> set[str]:
    """People not away: they will take a call when their current one ends."""
    return {a for a in world.directory.agents
            if effective(world.presence.get(a, _AVAILABLE), world.now) != AWAY}


def _anyone_on_duty(world: World, target: Target) -> bool:
    people = [world.directory.get(target.name)] if target.kind == "agent" else world.directory.group(target.name)
    on_duty = _on_duty(world)
    return any(p is not None and p.id in on_duty for p in [*people, *world.directory.supervisors()])


# --- waiting in line --------------------------------------------------------------------------------

def _entry_for(world: World, state: CallState, target: Target, entry_id: str | None = None) -> QueueEntry:
    since = state.queued_since or world.now
    if target.kind == "agent":
        agent = world.directory.get(target.name)
        groups = (*(agent.groups if agent else ()), SUPERVISORS)
        return QueueEntry(entry_id or state.call, since, tuple(dict.fromkeys(groups)), world.flow.name,
                          prefer=target.name,
                          prefer_until=since + world.flow.settings.queue.prior_agent_wait_seconds)
    return QueueEntry(entry_id or state.call, since, (target.name,), world.flow.name)


def _enqueue(world: World, state: CallState, target: Target, said: tuple[Action, ...]) -> Outcome:
    """Everyone who could help is busy: wait in line, keeping any place already held."""
    entry = _entry_for(world, state, target)
    state = state.but(target=target, tried=(), queued_since=entry.since, leaving_for=None)
    text = ("Everyone who could help is on another call. I'm putting you in line for the next person; "
            "you will not be disconnected.")
    return Outcome(said + (Say(text), Enqueue(world.flow.name)), state, enqueue=entry)


def _waiting(world: World, state: CallState, event: Waiting) -> Outcome:
    """The wait document: place in line, an honest estimate, hold audio, and a way out after the limit."""
    policy = world.flow.settings.queue
    entry = next((e for e in world.queue if e.id == state.call), None)
    music = world.audio.get(world.flow.settings.hold_music) if world.flow.settings.hold_music else None
    if entry is None:  # just handed to a person: Twilio is about to fetch the connect document
        return Outcome((HoldAsk("Connecting you now.", music),))
    place = queueing.position(entry, world.queue)
    minutes = queueing.estimate_minutes(place, entry.groups, world.handle_times, _on_duty(world),
                                        world.directory, event.twilio_average)
    prompt = queueing.spoken_wait(place, minutes)
    waited = max(event.queue_seconds, world.now - entry.since)
    if waited >= policy.max_hold_seconds + state.offers * policy.offer_every_seconds:
        prompt += (" If you'd rather not wait, press 1 and we'll call you back without losing your place "
                   "in line. Press 2 to leave a message. Or stay on the line.")
        return Outcome((HoldAsk(prompt, music),), state.but(offers=state.offers + 1))
    return Outcome((HoldAsk(prompt + " Press 0 at any time to hear your place in line.", music),))


def _hold_choice(world: World, state: CallState, event: Input) -> Outcome:
    digits = re.sub(r"[^0-9*#]", "", event.digits or "")[:1]
    if digits == "1":
        return Outcome((Leave(),), state.but(leaving_for="callback"))
    if digits == "2":
        return Outcome((Leave(),), state.but(leaving_for="message"))
    entry = next((e for e in world.queue if e.id == state.call), None)
    place = queueing.position(entry, world.queue) if entry else 1
    return Outcome((Say(f"You're in line for a person, and you keep your place. You are number {place}."),))


def _queue_left(world: World, state: CallState, event: QueueLeft) -> Outcome:
    gone = (state.call,)
    if event.result == "leave" and state.leaving_for == "message":
        return _ask_for_message(world, state).but_dequeue(gone)
    if event.result == "leave" and state.leaving_for == "callback":
        return _offer_callback(world, state).but_dequeue(gone)
    if event.result in ("bridged", "redirected"):
        # The worker redirected them to a person. Should Twilio run this answer rather than the redirect,
        # it is the same connect document, so the caller reaches that person either way.
        claimed = next((a for a, p in world.presence.items()
                        if p.call == state.call and effective(p, world.now) == RINGING), None)
        if claimed:
            return _connect(world, state, Connect(claimed)).but_dequeue(gone)
        return Outcome((Say("Please hold."), Redirect("retry")), dequeue=gone)
    if event.result == "hangup":
        return Outcome((), state.but(outcome="hung up while waiting in line"), dequeue=gone)
    # queue-full, error, system-error: our failure, so a person anyway
    actions = degraded(world.flow, world.directory, world.fallback_number)
    return Outcome(actions, state.but(outcome=f"queue {event.result}"), dequeue=gone)


def _connect(world: World, state: CallState, event: Connect) -> Outcome:
    """The dispatcher claimed a free person for this waiting caller: ring them, with the whisper."""
    agent = world.directory.get(event.agent)
    waited = world.now - state.queued_since if state.queued_since else 0.0
    state = state.but(waited=waited, offers=0)  # queued_since stays: their place, should they wait again
    if agent is None:
        return _route(world, state, state.target or _operator(world.flow, None), ())
    text = f"Thank you for waiting. Connecting you to {agent.name} now."
    return Outcome((Say(text), Dial(agent, world.flow.settings.ring_seconds)), state.but(ringing=agent.id))


# --- voicemail --------------------------------------------------------------------------------------

def _ask_for_message(world: World, state: CallState, before: str = "") -> Outcome:
    text = " ".join(p for p in (before, "Please leave your name and your message after the tone, then press the "
                                        "pound key. The team will see it with your call history.") if p)
    return Outcome((Say(text), Record(world.flow.settings.voicemail_seconds)), state.but(leaving_for=None))


def _recorded(world: World, state: CallState, event: Recorded) -> Outcome:
    if event.seconds >= 1 and event.url:
        state = state.but(message=event.url, outcome="left a message")
        return Outcome((Say("Thank you. Your message is saved, and the team will call you back. Goodbye."),
                        Hangup()), state)
    if not world.flow.settings.hours.is_open(world.now):
        return _closed(world, state, "I didn't hear a message.")
    target = state.target or _operator(world.flow, None)
    return _enqueue(world, state, target, (Say("I didn't hear a message."),))


# --- callbacks --------------------------------------------------------------------------------------

def _offer_callback(world: World, state: CallState) -> Outcome:
    if state.number:
        when = "and you keep your place in line" if state.queued_since else "as soon as we're open"
        text = (f"We'll call you back at the number ending in {' '.join(state.number[-4:])}, {when}. "
                "Press 1 to confirm, or press 2 to give a different number.")
        return Outcome((_system_ask("@callback", text),), state.but(leaving_for="callback", misses=0))
    return _ask_callback_number(state, "")


def _ask_callback_number(state: CallState, before: str) -> Outcome:
    text = " ".join(p for p in (before, "Please enter the number we should call, starting with the country "
                                        "code, then press the pound key.") if p)
    return Outcome((Ask("@callback_number", text, (), 10, input="dtmf", num_digits=16, finish_on_key="#"),),
                   state.but(leaving_for="callback"))


def _system_ask(node: str, text: str) -> Ask:
    return Ask(node, text, (), 8, input="dtmf")


def _callback_choice(world: World, state: CallState, event: Input) -> Outcome:
    digits = re.sub(r"[^0-9*#]", "", event.digits or "")[:1]
    if digits == "1":
        number = state.callback_number or state.number
        return _callback_requested(world, state, number)
    if digits == "2":
        return _ask_callback_number(state.but(callback_number=None), "")
    return _callback_miss(world, state, "@callback")


def _callback_number(world: World, state: CallState, event: Input) -> Outcome:
    digits = re.sub(r"[^0-9]", "", event.digits or "")
    number = normalise("+" + digits) if digits else None
    if number is None:
        return _callback_miss(world, state, "@callback_number")
    text = (f"You entered {spoken(number)}. Press 1 if that's right, or 2 to enter it again.")
    return Outcome((_system_ask("@callback", text),), state.but(callback_number=number, misses=0))


def _callback_miss(world: World, state: CallState, node: str) -> Outcome:
    """Mistakes while asking for a callback never end the call: after two, back in line, same place."""
    if state.misses + 1 >= MISSES_TO_PERSON:
        if not world.flow.settings.hours.is_open(world.now):
            return _ask_for_message(world, state.but(misses=0), "Let's take a message instead.")
        target = state.target or _operator(world.flow, None)
        return _enqueue(world, state.but(misses=0), target, (Say("Let's keep your place in line instead."),))
    if node == "@callback_number":
        return _ask_callback_number(state.but(misses=state.misses + 1),
                                    "Sorry, that doesn't look like a full phone number with its country code.")
    outcome = _offer_callback(world, state)
    return replace(outcome, state=outcome.state.but(misses=state.misses + 1))


def _callback_requested(world: World, state: CallState, number: str | None) -> Outcome:
    if not number:
        return _ask_callback_number(state, "")
    target = state.target or _operator(world.flow, None)
    entry = _entry_for(world, state, target, entry_id=f"{queueing.CALLBACK_PREFIX}{state.call}")
    request = {"id": state.call, "number": number, "flow": world.flow.name, "caller": state.caller,
               "path": list(state.path), "since": entry.since, "attempts": 0}
    text = (f"Thank you. You keep your place in line, and we'll call you at {spoken(number)} when it's your "
            "turn. Goodbye.")
    state = state.but(outcome="callback requested", leaving_for=None)
    return Outcome((Say(text), Hangup()), state, enqueue=entry, callback=request)


# --- out of hours -----------------------------------------------------------------------------------

def _closed(world: World, state: CallState, before: str) -> Outcome:
    """Out of hours: a person where there is an on-call number, else a callback or a message. No hang-up."""
    hours = world.flow.settings.hours
    parts = [before or f"Thanks for calling {world.flow.name.replace('-', ' ')}. We're closed right now.",
             hours.spoken_next_opening(world.now)]
    if hours.on_call_number:
        parts.append("To reach our on-call team, press 0.")
    parts.append("To have us call you back when we open, press 1. To leave a message, press 2.")
    return Outcome((_system_ask("@closed", " ".join(p for p in parts if p)),), state.but(node="@closed"))


def _closed_choice(world: World, state: CallState, event: Input) -> Outcome:
    digits = re.sub(r"[^0-9*#]", "", event.digits or "")[:1]
    on_call = world.flow.settings.hours.on_call_number
    wants_person = digits == OPERATOR_KEY or (not digits and _asks_for_person(_words(event.speech)))
    if wants_person and on_call:
        state = state.but(path=(*state.path, "out of hours: on-call"))
        return Outcome((Say("Connecting you to our on-call team."), DialNumber(on_call, 25, ON_CALL)), state)
    if digits == "1" or wants_person:
        return _offer_callback(world, state.but(path=(*state.path, "out of hours: callback")))
    if digits == "2":
        return _ask_for_message(world, state.but(path=(*state.path, "out of hours: message")))
    if state.misses + 1 >= MISSES_TO_PERSON:
        if on_call:
            return Outcome((Say("Connecting you to our on-call team."), DialNumber(on_call, 25, ON_CALL)), state)
        return _ask_for_message(world, state.but(misses=0))
    heard = "Sorry, I didn't get that." if digits or event.speech else "Sorry, I didn't hear anything."
    outcome = _closed(world, state, heard)
    return replace(outcome, state=outcome.state.but(misses=state.misses + 1))


SYSTEM_MENUS = {"@hold": _hold_choice, "@callback": _callback_choice, "@callback_number": _callback_number,
                "@closed": _closed_choice}
_AVAILABLE = Presence()


def _dial_ended(world: World, state: CallState, event: DialEnded) -> Outcome:
    agent = world.directory.get(event.agent)
    was_bridged = event.bridged or state.bridged == event.agent
    if event.agent == ON_CALL:
        if event.status in ("completed", "answered"):
            return Outcome((Say("Thank you for calling. Goodbye."), Hangup()),
                           state.but(outcome="spoke with the on-call team"))
        return _ask_for_message(world, state, "Our on-call team couldn't answer just now.")
    if event.agent == FALLBACK or agent is None:
        if event.status == "completed":
            return Outcome((Say("Thank you for calling. Goodbye."), Hangup()),
                           state.but(outcome="spoke with the fallback line"))
        return _route(world, state, state.target or _operator(world.flow, None), ())
    if was_bridged and event.status in ("completed", "answered"):
        state = state.but(bridged=event.agent, ringing=None)
        target = state.target or _operator(world.flow, None)
        group = target.name if target.kind == "group" else (agent.groups[0] if agent.groups else SUPERVISORS)
        return Outcome((Say("Thank you for calling. Goodbye."), Hangup()), state, release=(event.agent,),
                       handle=(group, event.seconds) if event.seconds > 0 else None)
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
    if state.waited >= 60:
        parts.append(f"They waited {round(state.waited / 60)} minutes in line.")
    parts.append("Press 1 to accept the call, or any other key to pass.")
    return " ".join(parts)


def _whisper_reply(state: CallState, event: WhisperReply) -> Outcome:
    if (event.digits or "").strip()[:1] == "1":
        return Outcome((), state.but(bridged=event.agent), busy=(event.agent,))
    return Outcome((Say("Passing the call on."), Hangup()))


def _ended(state: CallState, event: Ended) -> Outcome:
    outcome = state.outcome
    if not state.bridged and not outcome:
        if state.queued_since:
            outcome = "hung up while waiting in line"
        else:
            outcome = "hung up while being connected" if state.target else "hung up in the menu"
    held = tuple(a for a in (state.ringing, state.bridged) if a)
    return Outcome((), state.but(outcome=outcome, ringing=None), release=held, dequeue=(state.call,))

