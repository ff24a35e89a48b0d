"""Holding in line: the wait document, keys pressed on hold, and how a wait ends (pure)."""

from __future__ import annotations

from ivr.call import queueing
from ivr.call.actions import HoldAsk, Leave, Redirect, Say
from ivr.call.callback_dialog import offer_callback
from ivr.call.callstate import CallState
from ivr.call.connecting import ask_for_message, degraded, entry_for, first_key, target_of
from ivr.call.events import Connect, Input, QueueLeft, Waiting
from ivr.call.presence import RINGING, effective
from ivr.call.ringing import connect_to
from ivr.call.world import Outcome, World

LONG_WAIT_MINUTES = 5  # an estimate this long offers the callback at once, not after the hold limit


def wait_document(world: World, state: CallState, event: Waiting) -> Outcome:
    """The wait document: place in line, an honest estimate, hold audio, and a way out after the limit."""
    policy = world.flow.settings.queue
    place = world.place
    music = world.audio.get(world.flow.settings.hold_music) if world.flow.settings.hold_music else None
    rejoin = None
    if place is None:
        if _ringing_for(world, state.call):  # handed over: Twilio is about to fetch the connect document
            return Outcome((HoldAsk("Connecting you now.", music),))
        # Out of our line but nobody is ringing for them (a hand-over that never happened, or a worker that
        # died mid-way): back in line at the place they had. Nobody is stranded on hold. Their number in line
        # is told by the next wait document, once the line holds them again.
        rejoin = entry_for(world, state, target_of(world, state))
        prompt = "You're still in line for a person, and you keep your place."
        return Outcome(
            (HoldAsk(prompt + " Press 0 at any time to hear your place in line.", music),),
            state.but(queued_since=rejoin.since),
            enqueue=rejoin,
        )
    entry = place.entry
    minutes = queueing.estimate_minutes(place, event.twilio_average)
    prompt = queueing.spoken_wait(place.number, minutes)
    waited = max(event.queue_seconds, world.now - entry.since)
    long_wait = minutes is not None and minutes >= LONG_WAIT_MINUTES and state.offers == 0
    if long_wait or waited >= policy.max_hold_seconds + state.offers * policy.offer_every_seconds:
        prompt += (
            " If you'd rather not wait, press 1 and we'll call you back without losing your place "
            "in line. Press 2 to leave a message. Or stay on the line."
        )
        return Outcome((HoldAsk(prompt, music),), state.but(offers=state.offers + 1, queued_since=entry.since))
    return Outcome((HoldAsk(prompt + " Press 0 at any time to hear your place in line.", music),))


def _ringing_for(world: World, call: str) -> str | None:
    """The person ringing for this call now, if any (their record is loaded by name with the call)."""
    records = world.staffing.records
    return next((a for a, p in records.items() if p.call == call and effective(p, world.now) == RINGING), None)


def hold_choice(world: World, state: CallState, event: Input) -> Outcome:
    digits = first_key(event.digits)[:1]
    if digits == "1":
        return Outcome((Leave(),), state.but(leaving_for="callback"))
    if digits == "2":
        return Outcome((Leave(),), state.but(leaving_for="message"))
    place = world.place.number if world.place else 1
    return Outcome((Say(f"You're in line for a person, and you keep your place. You are number {place}."),))


def queue_left(world: World, state: CallState, event: QueueLeft) -> Outcome:
    gone = (state.call,)
    if event.result == "leave" and state.leaving_for == "message":
        return ask_for_message(world, state).but_dequeue(gone)
    if event.result == "leave" and state.leaving_for == "callback":
        return offer_callback(world, state).but_dequeue(gone)
    if event.result in ("bridged", "redirected"):
        # The worker redirected them to a person. Should Twilio run this answer rather than the redirect,
        # it is the same connect document, so the caller reaches that person either way.
        claimed = _ringing_for(world, state.call)
        if claimed:
            return connect_to(world, state, Connect(claimed)).but_dequeue(gone)
        return Outcome((Say("Please hold."), Redirect("retry")), dequeue=gone)
    if event.result == "hangup":
        return Outcome((), state.but(outcome="hung up while waiting in line"), dequeue=gone)
    # queue-full, error, system-error: our failure, so a person anyway
    actions = degraded(world.flow, world.directory, world.fallback_number)
    return Outcome(actions, state.but(outcome=f"queue {event.result}"), dequeue=gone)
