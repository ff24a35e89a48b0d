"""Out of hours: the on-call person where there is one, else a callback when we open, or a message (pure)."""

from __future__ import annotations

from dataclasses import replace

from ivr.call.actions import DialNumber, Say
from ivr.call.callback_dialog import offer_callback, system_ask
from ivr.call.callstate import CallState
from ivr.call.connecting import ask_for_message, asks_for_person, first_key, words_of
from ivr.call.events import Input
from ivr.call.menus import MISSES_TO_PERSON
from ivr.call.world import ON_CALL, Outcome, World
from ivr.flows.model import OPERATOR_KEY


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
    return Outcome((system_ask("@closed", " ".join(p for p in parts if p)),), state.but(node="@closed"))


def closed_choice(world: World, state: CallState, event: Input) -> Outcome:
    digits = first_key(event.digits)[:1]
    on_call = world.flow.settings.hours.on_call_number
    wants_person = digits == OPERATOR_KEY or (not digits and asks_for_person(words_of(event.speech)))
    if wants_person and on_call:
        state = state.but(path=(*state.path, "out of hours: on-call"))
        return _ring_on_call(world, state, on_call)
    if digits == "1" or wants_person:
        return offer_callback(world, state.but(path=(*state.path, "out of hours: callback")))
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
