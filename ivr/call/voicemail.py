"""Voicemail: a message is never a dead end. It lands in the inbox of the team the caller was trying to
reach (or of their own person, for a returning caller), and becomes a callback request at the caller's place
in line when their number is known; the caller hears exactly that. No message puts them back in line (pure).
"""

from __future__ import annotations

from ivr.call.actions import Hangup, Say
from ivr.call.callback_dialog import callback_request
from ivr.call.callstate import CallState
from ivr.call.connecting import enqueue, entry_for, target_of
from ivr.call.events import Recorded
from ivr.call.out_of_hours import closed
from ivr.call.world import Outcome, World


def recorded(world: World, state: CallState, event: Recorded) -> Outcome:
    if event.seconds >= 1 and event.url:
        return _message_left(world, state, event)
    if not world.flow.settings.hours.is_open(world.now):
        return closed(world, state, "I didn't hear a message.")
    target = target_of(world, state)
    return enqueue(world, state, target, (Say("I didn't hear a message."),))


def _message_left(world: World, state: CallState, event: Recorded) -> Outcome:
    target = target_of(world, state)
    entry = entry_for(world, state, target)
    message = {
        "id": state.call,
        "flow": world.flow.name,
        "caller": state.caller,
        "number": state.number,
        "url": event.url,
        "seconds": event.seconds,
        "at": world.now,
        "groups": list(entry.groups),
        "owner": entry.prefer,
        "path": list(state.path),
    }
    state = state.but(message=event.url, outcome="left a message")
    if not state.number:
        text = (
            "Thank you. Your message is saved for the team. Your number is withheld, so we can't call you "
            "back: please call us again if you need to. Goodbye."
        )
        return Outcome((Say(text), Hangup()), state, message=message)
    when = "when it's your turn" if state.queued_since else "as soon as someone is free"
    if not world.flow.settings.hours.is_open(world.now):
        when = "as soon as we're open"
    entry, request = callback_request(world, state, state.number, message=event.url)
    message["callback"] = request["id"]
    text = (
        f"Thank you. Your message is saved, and we'll call you back at the number ending in "
        f"{' '.join(state.number[-4:])}, {when}. You don't need to call again. Goodbye."
    )
    state = state.but(outcome="left a message; callback requested")
    return Outcome((Say(text), Hangup()), state, enqueue=entry, callback=request, message=message)
