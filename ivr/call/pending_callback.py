"""A caller who calls again while their callback request waits in line: they keep it, or wait here at its
place, never behind their own request; 0 still reaches a person (pure)."""

from __future__ import annotations

from dataclasses import replace

from ivr.call.actions import Ask, Hangup, Say
from ivr.call.callstate import CallState
from ivr.call.connecting import asks_for_person, first_key, operator_for, route, words_of
from ivr.call.events import Input
from ivr.call.queueing import QueueEntry
from ivr.call.world import Outcome, World
from ivr.flows.directory import SUPERVISORS
from ivr.flows.model import Target

NODE = "@pending"
ASK = (
    "Welcome back. We have a callback for you in line. Press 1 to keep it, and we'll call you when it's your "
    "turn, or stay on the line to wait here in the same place. Press 0 for a person."
)


def waiting_request(raw: str | None) -> QueueEntry | None:
    """The caller's callback request still in line, as their history (or the call, while asking) names it."""
    entry = QueueEntry.from_json(raw) if raw else None
    return entry if entry is not None and entry.is_callback else None


def ask(state: CallState, entry: QueueEntry) -> Outcome:
    return Outcome(
        (Ask(NODE, ASK, (), 6, input="dtmf speech"),), state.but(node=NODE, pending_callback=entry.to_json())
    )


KEEP_WORDS = {"keep", "one", "yes"}


def choice(world: World, state: CallState, event: Input) -> Outcome:
    entry = waiting_request(state.pending_callback)
    state = state.but(pending_callback=None)
    digits = first_key(event.digits)[:1]
    words = words_of(event.speech)
    keeps = digits == "1" or (not digits and bool(KEEP_WORDS & set(words.split())))
    if keeps and entry is not None:
        text = "Thank you. You keep your place, and we'll call you back when it's your turn. Goodbye."
        return Outcome((Say(text), Hangup()), state.but(outcome="kept their callback request"))
    if entry is None:  # settled meanwhile (a person called them, or it was cancelled): on as a new call
        return route(world, state, operator_for(world.flow, None), ())
    # Merged: this call takes the request's place; the request is parked out of line, settled once a person
    # takes this call, and put back at its place if the call ends before (ivr.call.ringing).
    state = state.but(
        queued_since=entry.since, merged_callback=entry.id, path=(*state.path, "called again while a callback waited")
    )
    if digits == "0" or (not digits and asks_for_person(words)):
        target = operator_for(world.flow, None)
    else:
        target = _target_of(entry)
    said = (Say("Let's get you to a person now, and you keep your place in line."),)
    return _merged(route(world, state, target, said), entry)


def _target_of(entry: QueueEntry) -> Target:
    if entry.prefer:
        return Target("agent", entry.prefer)
    group = entry.groups[0] if entry.groups else SUPERVISORS
    return Target.supervisors() if group == SUPERVISORS else Target("group", group)


def _merged(outcome: Outcome, entry: QueueEntry) -> Outcome:
    return replace(outcome, callback_merge=("merged", entry.id))
