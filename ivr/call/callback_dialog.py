"""The callback dialog: the caller confirms or types the number to call back, and keeps their place (pure)."""

from __future__ import annotations

import re
from dataclasses import replace

from ivr.call import queueing
from ivr.call.actions import Ask, Hangup, Say
from ivr.call.callers import normalise, spoken
from ivr.call.callstate import CallState
from ivr.call.connecting import ask_for_message, enqueue, entry_for, first_key, target_of
from ivr.call.events import Input
from ivr.call.menus import MISSES_TO_PERSON
from ivr.call.world import Outcome, World


def offer_callback(world: World, state: CallState) -> Outcome:
    if state.number:
        when = "and you keep your place in line" if state.queued_since else "as soon as we're open"
        text = (
            f"We'll call you back at the number ending in {' '.join(state.number[-4:])}, {when}. "
            "Press 1 to confirm, or press 2 to give a different number."
        )
        return Outcome((system_ask("@callback", text),), state.but(leaving_for="callback", misses=0))
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


def system_ask(node: str, text: str) -> Ask:
    return Ask(node, text, (), 8, input="dtmf")


def callback_choice(world: World, state: CallState, event: Input) -> Outcome:
    digits = first_key(event.digits)[:1]
    if digits == "1":
        number = state.callback_number or state.number
        return _callback_requested(world, state, number)
    if digits == "2":
        return _ask_callback_number(state.but(callback_number=None), "")
    return _callback_miss(world, state, "@callback")


def callback_number(world: World, state: CallState, event: Input) -> Outcome:
    digits = re.sub(r"[^0-9]", "", event.digits or "")
    number = normalise("+" + digits) if digits else None
    if number is None:
        return _callback_miss(world, state, "@callback_number")
    text = f"You entered {spoken(number)}. Press 1 if that's right, or 2 to enter it again."
    return Outcome((system_ask("@callback", text),), state.but(callback_number=number, misses=0))


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
    outcome = offer_callback(world, state)
    return replace(outcome, state=outcome.state.but(misses=state.misses + 1))


def callback_request(world: World, state: CallState, number: str, message: str | None = None):
    """A callback request for this caller, at their place in line (or from now): its queue entry and request.
    A request made with a voicemail carries the message's address, so the person calling back hears of it."""
    target = target_of(world, state)
    entry = entry_for(world, state, target, entry_id=queueing.callback_queue_id(state.call))
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
    if message:
        request["message"] = message
    if state.last_note:  # the person calling back hears it too, before the customer is dialled
        request["note"] = state.last_note
    return entry, request


def _callback_requested(world: World, state: CallState, number: str | None) -> Outcome:
    if not number:
        return _ask_callback_number(state, "")
    entry, request = callback_request(world, state, number)
    text = (
        f"Thank you. You keep your place in line, and we'll call you at {spoken(number)} when it's your turn. Goodbye."
    )
    state = state.but(outcome="callback requested", leaving_for=None)
    return Outcome((Say(text), Hangup()), state, enqueue=entry, callback=request)
