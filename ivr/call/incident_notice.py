"""A caller who makes a choice many others are making about a confirmed fault hears the supervisor's message
right after choosing, and need not report it again: 1 asks for a text when it is fixed, 0 (or the person
words) still reaches a person, and silence carries on along their path (pure)."""

from __future__ import annotations

from dataclasses import replace

from ivr.call.actions import Ask, Hangup, Say
from ivr.call.callstate import CallState
from ivr.call.connecting import asks_for_person, first_key, to_person, words_of
from ivr.call.events import Input
from ivr.call.world import Outcome, World

NODE = "@incident"
OFFER = "You don't need to report it again. Press 1 and we'll text you when it's fixed, or press 0 for a person."


def announced(world: World, option: str) -> dict | None:
    """The confirmed incident callers hear about after choosing this option of this line, if any."""
    return world.announcements.get((world.flow.name, option))


def tell(world: World, state: CallState, notice: dict, next_node: str, said: tuple) -> Outcome:
    state = state.but(node=NODE, incident=notice["id"], incident_next=next_node, misses=0)
    return Outcome((*said, Say(notice["message"]), Ask(NODE, OFFER, (), 6, input="dtmf speech")), state)


def choice(world: World, state: CallState, event: Input) -> Outcome:
    from ivr.call.menus import enter  # menus leads here: imported when a caller answers the offer

    digits = first_key(event.digits)[:1]
    words = words_of(event.speech)
    if digits == "0" or (not digits and asks_for_person(words)):
        return to_person(world, state, None, (Say("Connecting you to a person."),))
    if digits == "1" and state.incident:
        if not state.number:
            said = Say("Your number is withheld, so we can't text you. We're working on it. Goodbye.")
            return Outcome((said, Hangup()), state.but(outcome="told of a known fault"))
        text = f"Thank you. We'll text the number ending in {' '.join(state.number[-4:])} when it's fixed. Goodbye."
        outcome = Outcome((Say(text), Hangup()), state.but(outcome="asked for a text when the fault is fixed"))
        return replace(outcome, incident_text=state.incident)
    return enter(world, state.but(node=None), state.incident_next or world.flow.start, ())
