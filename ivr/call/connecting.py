"""Reaching a person: who to ring next, or a place in line when nobody is free (pure)."""

from __future__ import annotations

import re

from ivr.call.actions import (
    Action,
    Dial,
    DialFirstFree,
    DialNumber,
    Enqueue,
    Pause,
    Record,
    Redirect,
    RingEveryone,
    Say,
)
from ivr.call.callstate import CallState
from ivr.call.queueing import QueueEntry
from ivr.call.routing import next_people
from ivr.call.world import FALLBACK, Outcome, World
from ivr.flows.directory import SUPERVISORS, Directory
from ivr.flows.model import OPERATOR_WORDS, Flow, Menu, Node, Target


def settle(outcome: Outcome, claimed: str | None) -> tuple[Action, ...]:
    """Replace a DialFirstFree with a Dial to the person the edge claimed (or its if_none actions)."""
    settled: list[Action] = []
    for action in outcome.actions:
        if isinstance(action, DialFirstFree):
            agent = next((a for a in action.candidates if a.id == claimed), None)
            settled.extend([Dial(agent, action.ring_seconds)] if agent else action.if_none)
        else:
            settled.append(action)
    return tuple(settled)


MAX_DIAL_NOUNS = 10


def degraded(flow: Flow, directory: Directory, fallback_number: str | None) -> tuple:
    """What a caller gets when our own machinery fails: every supervisor rung at once, and the fallback."""
    numbers = tuple(dict.fromkeys(n for n in (flow.settings.fallback_number, fallback_number) if n))
    # Twilio rings at most ten numbers or clients from one <Dial>: the fallback numbers always, then as
    # many supervisors as fit.
    people = tuple(directory.supervisors())[: MAX_DIAL_NOUNS - len(numbers)]
    return (Say("I'm connecting you to a person now."), RingEveryone(people, numbers))


def operator_for(flow: Flow, node: Node | None) -> Target:
    """Who 0 reaches from NODE: a menu's own operator, else the line's."""
    return (node.operator if isinstance(node, Menu) else None) or flow.settings.operator


def target_of(world: World, state: CallState) -> Target:
    """Who this caller is being connected to: their current target, else the line's operator."""
    return state.target or operator_for(world.flow, None)


def first_key(digits: str | None) -> str:
    """The keys a caller pressed, without anything else Twilio might send; "" for none."""
    return re.sub(r"[^0-9*#]", "", digits or "")


def to_person(world: World, state: CallState, node: Node | None, said: tuple[Action, ...]) -> Outcome:
    return route(world, state, operator_for(world.flow, node), said)


def route(world: World, state: CallState, target: Target, said: tuple[Action, ...]) -> Outcome:
    """Ring the next free person for the target; with nobody on duty, the fallback number; else wait in line."""
    if state.target != target:
        state = state.but(target=target, tried=())
    if state.offered_at is None:
        state = state.but(offered_at=world.now)
    settings = world.flow.settings
    candidates = next_people(target, world.directory, world.staffing, world.now, state.tried, settings.agents_per_route)
    if candidates:
        busy_now = (Say("Please hold a moment."), Pause(3), Redirect("retry"))
        own = target.name if target.kind == "agent" else None
        return Outcome(said + (DialFirstFree(candidates, settings.ring_seconds, busy_now, own),), state)
    fallback = settings.fallback_number or world.fallback_number
    if fallback and FALLBACK not in state.tried and not _anyone_on_duty(world, target):
        state = state.but(tried=(*state.tried, FALLBACK))
        return Outcome(said + (DialNumber(fallback, settings.ring_seconds),), state)
    return enqueue(world, state, target, said)


def _anyone_on_duty(world: World, target: Target) -> bool:
    """Whether anyone who could take this caller is not away: they will take a call when their current one ends."""
    staffing = world.staffing
    if staffing.on_duty.get(SUPERVISORS, 0):
        return True
    if target.kind == "agent":
        return staffing.is_on_duty(target.name, world.now)
    return staffing.on_duty.get(target.name, 0) > 0


def entry_for(world: World, state: CallState, target: Target, entry_id: str | None = None) -> QueueEntry:
    since = state.queued_since or world.now
    if target.kind == "agent":
        agent = world.directory.get(target.name)
        groups = (*(agent.groups if agent else ()), SUPERVISORS)
        return QueueEntry(
            entry_id or state.call,
            since,
            tuple(dict.fromkeys(groups)),
            world.flow.name,
            prefer=target.name,
            prefer_until=since + world.flow.settings.queue.prior_agent_wait_seconds,
        )
    return QueueEntry(entry_id or state.call, since, (target.name,), world.flow.name)


def enqueue(world: World, state: CallState, target: Target, said: tuple[Action, ...]) -> Outcome:
    """Nobody who could help is free (busy, or rung without answering): wait in line, keeping any place held."""
    entry = entry_for(world, state, target)
    state = state.but(target=target, tried=(), queued_since=entry.since, leaving_for=None)
    state = state.but(queued_at=state.queued_at or world.now, offered_at=state.offered_at or world.now)
    text = (
        "Nobody who could help is free just now. I'm putting you in line for the next person; "
        "you will not be disconnected."
    )
    return Outcome(said + (Say(text), Enqueue(world.flow.name)), state, enqueue=entry)


def ask_for_message(world: World, state: CallState, before: str = "") -> Outcome:
    text = " ".join(
        p
        for p in (
            before,
            "Please leave your name and your message after the tone, then press the "
            "pound key. If you call again, the person you reach will know you left it.",
        )
        if p
    )
    return Outcome((Say(text), Record(world.flow.settings.voicemail_seconds)), state.but(leaving_for=None))


def words_of(speech: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]", " ", (speech or "").lower()).split())


def asks_for_person(words: str) -> bool:
    return any(re.search(rf"\b{re.escape(w)}\b", words) for w in OPERATOR_WORDS)
