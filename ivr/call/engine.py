"""The call logic, as a pure function: (flow, call state, caller memory, presence, event) -> actions + state.

No I/O here. The edges load what step() needs, save what it returns and render its actions as TwiML.
The promises live here, not in flow files: 0 or "agent" reaches a person from every menu, two misses in a
row reach a person, and a caller who comes back reaches the person who knows their case.

step() dispatches each event to the module that owns it: ivr.call.menus (the flow's menus and messages),
ivr.call.connecting (who to ring, or a place in line), ivr.call.ringing (the whisper and how a ring ends) and
ivr.call.holding (the wait document), ivr.call.callback_dialog, ivr.call.voicemail and ivr.call.out_of_hours.
Events are in ivr.call.events; what step() reads and returns (World, Outcome) in ivr.call.world.
"""

from __future__ import annotations

from ivr.call import incident_notice, pending_callback
from ivr.call.actions import (
    Say,
    WhisperAsk,
)
from ivr.call.callback_dialog import callback_choice, callback_number
from ivr.call.callstate import NOTE_SPOKEN, CallState
from ivr.call.connecting import route, target_of
from ivr.call.events import (
    Arrive,
    Connect,
    DialEnded,
    Ended,
    Event,
    Input,
    MessageStored,
    QueueLeft,
    Recorded,
    Retry,
    Waiting,
    WhisperReply,
    WhisperStart,
)
from ivr.call.holding import hold_choice, queue_left, wait_document
from ivr.call.menus import enter, take_input
from ivr.call.out_of_hours import closed, closed_choice
from ivr.call.ringing import connect_to, dial_ended, ended, whisper_reply, whisper_summary
from ivr.call.voicemail import recorded
from ivr.call.world import Outcome, World
from ivr.flows.model import Target

RETURNING = "returning caller"
EARLIER_TOLD = 3  # how many earlier contacts the whisper describes

# The line's own menus, which no flow file describes: keys on hold, the callback dialog, out of hours.
SYSTEM_MENUS = {
    "@hold": hold_choice,
    "@callback": callback_choice,
    "@callback_number": callback_number,
    "@closed": closed_choice,
    pending_callback.NODE: pending_callback.choice,
    incident_notice.NODE: incident_notice.choice,
}


def step(world: World, event: Event) -> Outcome:
    """Advance one call by one event."""
    if isinstance(event, Arrive):
        return _arrive(world)
    state = world.state or _fresh_state(world)
    if isinstance(event, Input):
        handler = SYSTEM_MENUS.get(event.node, take_input)
        return handler(world, state, event)
    if isinstance(event, Retry):
        return route(world, state.but(tried=()), target_of(world, state), ())
    if isinstance(event, DialEnded):
        return dial_ended(world, state, event)
    if isinstance(event, WhisperStart):
        return Outcome((WhisperAsk(world.call, event.agent, whisper_summary(world, state, event.agent)),))
    if isinstance(event, WhisperReply):
        return whisper_reply(world, state, event)
    if isinstance(event, Ended):
        return ended(world, state, event)
    if isinstance(event, Waiting):
        return wait_document(world, state, event)
    if isinstance(event, QueueLeft):
        return queue_left(world, state, event)
    if isinstance(event, Connect):
        return connect_to(world, state, event)
    if isinstance(event, Recorded):
        return recorded(world, state, event)
    if isinstance(event, MessageStored):
        return Outcome((), state.but(message=event.url, outcome="left a message") if event.url else None)
    raise TypeError(f"unknown event {event!r}")


def _fresh_state(world: World) -> CallState:
    return CallState(
        call=world.call,
        flow=world.flow.name,
        caller=world.caller,
        number=world.number,
        started=world.now,
        flow_version=world.flow.version,
    )


def _arrive(world: World) -> Outcome:
    if world.state is not None:  # Twilio retried /voice: carry on where the call is
        if world.state.node == "@closed":
            return closed(world, world.state, "")
        if world.state.node == pending_callback.NODE:
            entry = pending_callback.waiting_request(world.state.pending_callback)
            if entry is not None:
                return pending_callback.ask(world.state, entry)
        return enter(world, world.state, world.state.node or world.flow.start, ())
    flow, policy = world.flow, world.flow.settings.repeat
    state = _fresh_state(world)
    if not flow.settings.hours.is_open(world.now):
        return closed(world, state, "")
    recent = world.memory.recent(world.now, policy.window_seconds, world.call) if world.caller else []
    visit = len(recent) + 1
    last = next((c.agent for c in reversed(recent) if c.agent and world.directory.get(c.agent)), None)
    noted = world.memory.last_note(world.now, policy.window_seconds, world.call) if world.caller else None
    state = state.but(visit=visit, last_agent=last, earlier=_earlier(world, recent), last_note=_note_told(world, noted))
    waiting = pending_callback.waiting_request(world.memory.pending_callback)
    if waiting is not None:  # never queued behind their own request
        return pending_callback.ask(state, waiting)
    if visit >= policy.supervisor_from_call:
        return _to_supervisor(world, state, visit, last)
    if visit >= policy.prior_agent_from_call and last:
        name = world.directory.get(last).name
        greeting = Say(f"Welcome back. Connecting you to {name}, who helped you last time.")
        state = state.but(path=(f"{RETURNING}: back to {name}",))
        return route(world, state, Target("agent", last), (greeting,))
    return enter(world, state, flow.start, ())


def _to_supervisor(world: World, state: CallState, visit: int, last: str | None) -> Outcome:
    """A caller who keeps calling goes to a supervisor: first the one who took their last call, when free, so
    they do not start over with a third person; if that one does not answer, any supervisor."""
    told = f"I can see this is your call number {visit} to us recently, so I'm connecting you"
    supervisor = world.directory.get(last)
    reachable = supervisor is not None and (
        world.staffing.is_free(supervisor.id, world.now) or world.staffing.is_wrapping_up(supervisor.id, world.now)
    )
    if supervisor and supervisor.is_supervisor and reachable:
        greeting = Say(f"Welcome back. {told} to {supervisor.name}, the supervisor who took your last call.")
        state = state.but(path=(f"{RETURNING}: back to supervisor {supervisor.name}",))
        return route(world, state, Target("agent", supervisor.id), (greeting,))
    greeting = Say(f"Welcome back. {told} straight to a supervisor, who will hear about your recent calls first.")
    state = state.but(path=(f"{RETURNING}: straight to a supervisor",))
    return route(world, state, Target.supervisors(), (greeting,))


def _note_told(world: World, contact) -> str | None:
    """The latest note on the caller's calls, as the whisper says it: who wrote it, and what."""
    if contact is None:
        return None
    author = world.directory.get(contact.wrap.by)
    note = " ".join(contact.wrap.note.split())
    if len(note) > NOTE_SPOKEN:
        note = note[:NOTE_SPOKEN].rsplit(" ", 1)[0] + ", and more on screen"
    return f"{author.name if author else 'A colleague'} noted: {note}"


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
