"""Never stranded: the wait document, the hold limit's callback and message, and out-of-hours (pure)."""

from __future__ import annotations

import re
from dataclasses import replace

from ivr.call import queueing
from ivr.call.actions import (
    Ask,
    DialNumber,
    Hangup,
    HoldAsk,
    Leave,
    Redirect,
    Say,
)
from ivr.call.callers import normalise, spoken
from ivr.call.callstate import CallState
from ivr.call.connecting import (
    ask_for_message,
    asks_for_person,
    degraded,
    enqueue,
    entry_for,
    first_key,
    on_duty,
    target_of,
    words_of,
)
from ivr.call.events import Connect, Input, QueueLeft, Recorded, Waiting
from ivr.call.menus import MISSES_TO_PERSON
from ivr.call.presence import RINGING, effective
from ivr.call.ringing import connect_to
from ivr.call.world import ON_CALL, Outcome, World
from ivr.flows.flow import OPERATOR_KEY

LONG_WAIT_MINUTES = 5  # an estimate this long offers the callback at once, not after the hold limit


def wait_document(world: World, state: CallState, event: Waiting) -> Outcome:
    """The wait document: place in line, an honest estimate, hold audio, and a way out after the limit."""
    policy = world.flow.settings.queue
    entry = next((e for e in world.queue if e.id == state.call), None)
    music = world.audio.get(world.flow.settings.hold_music) if world.flow.settings.hold_music else None
    rejoin = None
    if entry is None:
        if _person_ringing_for(world, state.call):  # handed over: Twilio is about to fetch the connect document
            return Outcome((HoldAsk("Connecting you now.", music),))
        # Out of our line but nobody is ringing for them (a hand-over that never happened, or a worker that
        # died mid-way): back in line at the place they had. Nobody is stranded on hold.
        entry = entry_for(world, state, target_of(world, state))
        rejoin = entry
    queue = world.queue + ((entry,) if rejoin else ())
    place = queueing.position(entry, queue)
    minutes = queueing.estimate_minutes(
        place, entry.groups, world.handle_times, on_duty(world), world.directory, event.twilio_average
    )
    prompt = queueing.spoken_wait(place, minutes)
    waited = max(event.queue_seconds, world.now - entry.since)
    long_wait = minutes is not None and minutes >= LONG_WAIT_MINUTES and state.offers == 0
    if long_wait or waited >= policy.max_hold_seconds + state.offers * policy.offer_every_seconds:
        prompt += (
            " If you'd rather not wait, press 1 and we'll call you back without losing your place "
            "in line. Press 2 to leave a message. Or stay on the line."
        )
        return Outcome(
            (HoldAsk(prompt, music),), state.but(offers=state.offers + 1, queued_since=entry.since), enqueue=rejoin
        )
    return Outcome(
        (HoldAsk(prompt + " Press 0 at any time to hear your place in line.", music),),
        state.but(queued_since=entry.since) if rejoin else None,
        enqueue=rejoin,
    )


def _person_ringing_for(world: World, call: str) -> bool:
    return any(p.call == call and effective(p, world.now) == RINGING for p in world.presence.values())


def _hold_choice(world: World, state: CallState, event: Input) -> Outcome:
    digits = first_key(event.digits)[:1]
    if digits == "1":
        return Outcome((Leave(),), state.but(leaving_for="callback"))
    if digits == "2":
        return Outcome((Leave(),), state.but(leaving_for="message"))
    entry = next((e for e in world.queue if e.id == state.call), None)
    place = queueing.position(entry, world.queue) if entry else 1
    return Outcome((Say(f"You're in line for a person, and you keep your place. You are number {place}."),))


def queue_left(world: World, state: CallState, event: QueueLeft) -> Outcome:
    gone = (state.call,)
    if event.result == "leave" and state.leaving_for == "message":
        return ask_for_message(world, state).but_dequeue(gone)
    if event.result == "leave" and state.leaving_for == "callback":
        return _offer_callback(world, state).but_dequeue(gone)
    if event.result in ("bridged", "redirected"):
        # The worker redirected them to a person. Should Twilio run this answer rather than the redirect,
        # it is the same connect document, so the caller reaches that person either way.
        claimed = next(
            (a for a, p in world.presence.items() if p.call == state.call and effective(p, world.now) == RINGING), None
        )
        if claimed:
            return connect_to(world, state, Connect(claimed)).but_dequeue(gone)
        return Outcome((Say("Please hold."), Redirect("retry")), dequeue=gone)
    if event.result == "hangup":
        return Outcome((), state.but(outcome="hung up while waiting in line"), dequeue=gone)
    # queue-full, error, system-error: our failure, so a person anyway
    actions = degraded(world.flow, world.directory, world.fallback_number)
    return Outcome(actions, state.but(outcome=f"queue {event.result}"), dequeue=gone)


def recorded(world: World, state: CallState, event: Recorded) -> Outcome:
    if event.seconds >= 1 and event.url:
        state = state.but(message=event.url, outcome="left a message")
        return Outcome(
            (Say("Thank you. Your message is saved, and the team will call you back. Goodbye."), Hangup()), state
        )
    if not world.flow.settings.hours.is_open(world.now):
        return closed(world, state, "I didn't hear a message.")
    target = target_of(world, state)
    return enqueue(world, state, target, (Say("I didn't hear a message."),))


def _offer_callback(world: World, state: CallState) -> Outcome:
    if state.number:
        when = "and you keep your place in line" if state.queued_since else "as soon as we're open"
        text = (
            f"We'll call you back at the number ending in {' '.join(state.number[-4:])}, {when}. "
            "Press 1 to confirm, or press 2 to give a different number."
        )
        return Outcome((_system_ask("@callback", text),), state.but(leaving_for="callback", misses=0))
    return _ask_callback_number(state, "")


def _ask_callback_number(state: CallState, before: str) -> Outcome:
    text = " ".join(
        p
        for p in (
            before,
            "Please enter the number we should call, starting with the country code, then press the pound key.",
        )
        if p
    )
    return Outcome(
        (Ask("@callback_number", text, (), 10, input="dtmf", num_digits=16, finish_on_key="#"),),
        state.but(leaving_for="callback"),
    )


def _system_ask(node: str, text: str) -> Ask:
    return Ask(node, text, (), 8, input="dtmf")


def _callback_choice(world: World, state: CallState, event: Input) -> Outcome:
    digits = first_key(event.digits)[:1]
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
    text = f"You entered {spoken(number)}. Press 1 if that's right, or 2 to enter it again."
    return Outcome((_system_ask("@callback", text),), state.but(callback_number=number, misses=0))


def _callback_miss(world: World, state: CallState, node: str) -> Outcome:
    """Mistakes while asking for a callback never end the call: after two, back in line, same place."""
    if state.misses + 1 >= MISSES_TO_PERSON:
        if not world.flow.settings.hours.is_open(world.now):
            return ask_for_message(world, state.but(misses=0), "Let's take a message instead.")
        target = target_of(world, state)
        return enqueue(world, state.but(misses=0), target, (Say("Let's keep your place in line instead."),))
    if node == "@callback_number":
        return _ask_callback_number(
            state.but(misses=state.misses + 1),
            "Sorry, that doesn't look like a full phone number with its country code.",
        )
    outcome = _offer_callback(world, state)
    return replace(outcome, state=outcome.state.but(misses=state.misses + 1))


def _callback_requested(world: World, state: CallState, number: str | None) -> Outcome:
    if not number:
        return _ask_callback_number(state, "")
    target = target_of(world, state)
    entry = entry_for(world, state, target, entry_id=f"{queueing.CALLBACK_PREFIX}{state.call}")
    request = {
        "id": state.call,
        "number": number,
        "flow": world.flow.name,
        "caller": state.caller,
        "path": list(state.path),
        "since": entry.since,
        "groups": list(entry.groups),
        "attempts": 0,
    }
    text = (
        f"Thank you. You keep your place in line, and we'll call you at {spoken(number)} when it's your turn. Goodbye."
    )
    state = state.but(outcome="callback requested", leaving_for=None)
    return Outcome((Say(text), Hangup()), state, enqueue=entry, callback=request)


def closed(world: World, state: CallState, before: str) -> Outcome:
    """Out of hours: a person where there is an on-call number, else a callback or a message. No hang-up."""
    hours = world.flow.settings.hours
    parts = [
        before or f"Thanks for calling {world.flow.name.replace('-', ' ')}. We're closed right now.",
        hours.spoken_next_opening(world.now),
    ]
    if hours.on_call_number:
        parts.append("To reach our on-call team, press 0.")
    parts.append("To have us call you back when we open, press 1. To leave a message, press 2.")
    return Outcome((_system_ask("@closed", " ".join(p for p in parts if p)),), state.but(node="@closed"))


def _closed_choice(world: World, state: CallState, event: Input) -> Outcome:
    digits = first_key(event.digits)[:1]
    on_call = world.flow.settings.hours.on_call_number
    wants_person = digits == OPERATOR_KEY or (not digits and asks_for_person(words_of(event.speech)))
    if wants_person and on_call:
        state = state.but(path=(*state.path, "out of hours: on-call"))
        return _ring_on_call(world, state, on_call)
    if digits == "1" or wants_person:
        return _offer_callback(world, state.but(path=(*state.path, "out of hours: callback")))
    if digits == "2":
        return ask_for_message(world, state.but(path=(*state.path, "out of hours: message")))
    if state.misses + 1 >= MISSES_TO_PERSON:
        if on_call:
            return _ring_on_call(world, state, on_call)
        return ask_for_message(world, state.but(misses=0))
    heard = "Sorry, I didn't get that." if digits or event.speech else "Sorry, I didn't hear anything."
    outcome = closed(world, state, heard)
    return replace(outcome, state=outcome.state.but(misses=state.misses + 1))


def _ring_on_call(world: World, state: CallState, number: str) -> Outcome:
    ring = DialNumber(number, world.flow.settings.ring_seconds, ON_CALL)
    return Outcome((Say("Connecting you to our on-call team."), ring), state)


SYSTEM_MENUS = {
    "@hold": _hold_choice,
    "@callback": _callback_choice,
    "@callback_number": _callback_number,
    "@closed": _closed_choice,
}
