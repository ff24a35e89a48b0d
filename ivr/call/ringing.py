"""Ringing a person: the whisper, the agent's answer, and how each ring ends (pure)."""

from __future__ import annotations

from ivr.call import call_record, tally
from ivr.call.actions import (
    Dial,
    Hangup,
    Say,
)
from ivr.call.callers import spoken
from ivr.call.callstate import CallState
from ivr.call.connecting import ask_for_message, route, target_of
from ivr.call.events import TALKED, Connect, DialEnded, Ended, WhisperReply
from ivr.call.world import FALLBACK, ON_CALL, Outcome, World
from ivr.flows.directory import SUPERVISORS
from ivr.flows.model import Target


def connect_to(world: World, state: CallState, event: Connect) -> Outcome:
    """The dispatcher claimed a free person for this waiting caller: ring them, with the whisper."""
    agent = world.directory.get(event.agent)
    waited = world.now - state.queued_since if state.queued_since else 0.0
    state = state.but(waited=waited, offers=0)  # queued_since stays: their place, should they wait again
    if agent is None:
        return route(world, state, target_of(world, state), ())
    text = f"Thank you for waiting. Connecting you to {agent.name} now."
    return Outcome((Say(text), Dial(agent, world.flow.settings.ring_seconds)), state.but(ringing=agent.id))


def dial_ended(world: World, state: CallState, event: DialEnded) -> Outcome:
    agent = world.directory.get(event.agent)
    if event.agent and event.agent not in state.rung:
        state = state.but(rung=(*state.rung, event.agent))
    was_bridged = event.bridged or state.bridged == event.agent
    if event.agent == ON_CALL:
        if event.status in TALKED:
            return Outcome(
                (Say("Thank you for calling. Goodbye."), Hangup()), state.but(outcome="spoke with the on-call team")
            )
        return ask_for_message(world, state, "Our on-call team couldn't answer just now.")
    if event.agent == FALLBACK or agent is None:
        if event.status == "completed":
            return Outcome(
                (Say("Thank you for calling. Goodbye."), Hangup()), state.but(outcome="spoke with the fallback line")
            )
        return route(world, state, target_of(world, state), ())
    if was_bridged and event.status in TALKED:
        state = state.but(bridged=event.agent, ringing=None)
        target = target_of(world, state)
        group = target.name if target.kind == "group" else (agent.groups[0] if agent.groups else SUPERVISORS)
        return Outcome(
            (Say("Thank you for calling. Goodbye."), Hangup()),
            state,
            release=(event.agent,),
            wrap_up=world.flow.settings.wrap_up_seconds,
            handle=(group, event.seconds) if event.seconds > 0 else None,
        )
    if event.status == "canceled":  # the caller hung up while it rang
        return Outcome((Hangup(),), state.but(ringing=None, outcome="hung up while ringing"), release=(event.agent,))
    state = state.but(tried=(*state.tried, event.agent), ringing=None, bridged=None)
    target = target_of(world, state)
    if target.kind == "agent" and target.name == event.agent:
        sorry = Say(
            f"{agent.name} can't take your call right now, so I'm connecting you to a supervisor, "
            "who will hear about your earlier calls before you're connected."
        )
        state = state.but(target=Target.supervisors(), tried=(event.agent,))
        return route(world, state, Target.supervisors(), (sorry,)).but_missed(event.agent)
    return route(world, state, target, (Say("Still connecting you. Thank you for waiting."),)).but_missed(event.agent)


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
    if state.last_note:
        parts.append(f"Last time {state.last_note.rstrip('.')}.")
    notice = next((n for n in world.announcements.values() if n.get("id") == state.incident), None)
    if notice:
        parts.append(
            f"They are calling about the known fault, {notice.get('label', 'already reported')}: "
            f"one of {notice.get('reports', 'many')} callers about it. They have heard the message."
        )
    if state.waited >= 60:
        parts.append(f"They waited {round(state.waited / 60)} minutes in line.")
    parts.append("Press 1 to accept the call, or any other key to pass.")
    return " ".join(parts)


def whisper_reply(world: World, state: CallState, event: WhisperReply) -> Outcome:
    if (event.digits or "").strip()[:1] == "1":
        day = tally.day_of(world.flow, world.now)
        counts = tally.on_answer(state.started, world.now)
        merged = ("answered", state.merged_callback) if state.merged_callback else None  # the promise is kept
        state = state.but(bridged=event.agent, merged_callback=None, bridged_at=state.bridged_at or world.now)
        return Outcome((), state, busy=(event.agent,), tally=counts, day=day, callback_merge=merged)
    return Outcome((Say("Passing the call on."), Hangup()))


def ended(world: World, state: CallState, event: Ended) -> Outcome:
    outcome = state.outcome
    if not state.bridged and not outcome:
        if state.queued_since:
            outcome = "hung up while waiting in line"
        else:
            outcome = "hung up while being connected" if state.target else "hung up in the menu"
    held = tuple(a for a in (state.ringing, state.bridged) if a)
    state = state.but(outcome=outcome, ringing=None)
    return Outcome(
        (),
        state,
        record=call_record.summary(world.flow, state, world.now),
        release=held,
        wrap_up=world.flow.settings.wrap_up_seconds if state.bridged else 0,
        dequeue=(state.call,),
        ended=True,
        tally=tally.on_end(outcome),
        day=tally.day_of(world.flow, world.now),
        # a call that took their callback's place and ended before a person: the callback is theirs again
        callback_merge=("restore", state.merged_callback) if state.merged_callback and not state.bridged else None,
    )
