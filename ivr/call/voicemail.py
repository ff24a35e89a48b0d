"""Voicemail: the caller's message is kept with their contact; no message puts them back in line (pure)."""

from __future__ import annotations

from ivr.call.actions import Hangup, Say
from ivr.call.callstate import CallState
from ivr.call.connecting import enqueue, target_of
from ivr.call.events import Recorded
from ivr.call.out_of_hours import closed
from ivr.call.world import Outcome, World


def recorded(world: World, state: CallState, event: Recorded) -> Outcome:
    if event.seconds >= 1 and event.url:
        state = state.but(message=event.url, outcome="left a message")
        return Outcome((Say("Thank you. Your message is saved with your call. Goodbye."), Hangup()), state)
    if not world.flow.settings.hours.is_open(world.now):
        return closed(world, state, "I didn't hear a message.")
    target = target_of(world, state)
    return enqueue(world, state, target, (Say("I didn't hear a message."),))
