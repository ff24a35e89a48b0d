"""The flow's menus and messages: what callers hear and choose, with the zero-out on every menu (pure)."""

from __future__ import annotations

import re
from dataclasses import replace

from ivr.call import incident_notice
from ivr.call.actions import (
    Action,
    Ask,
    Hangup,
    Play,
    Say,
)
from ivr.call.callstate import CallState
from ivr.call.connecting import asks_for_person, first_key, route, to_person, words_of
from ivr.call.events import Input
from ivr.call.world import Outcome, World
from ivr.flows.model import OPERATOR_KEY, OPERATOR_WORDS, Flow, Goodbye, Goto, Menu, Message, Option, Route, Target
from ivr.flows.prompts import CONNECTING_LINE, ZERO_OUT_HINT

MISSES_TO_PERSON = 2  # silences or wrong keys in a row before the caller is put through to a person
MIN_SPEECH_CONFIDENCE = 0.35  # below this, words choose no menu option ("sorry, I didn't get that")


def enter(world: World, state: CallState, node_id: str, said: tuple[Action, ...]) -> Outcome:
    """Play a node and everything that follows it without a choice (messages and go-tos)."""
    flow = world.flow
    for _ in range(len(flow.nodes) + 1):  # validation forbids loops of messages; this is a second net
        node = flow.node(node_id)
        if node is None:
            return to_person(world, state, None, said + (Say("Let me get you a person."),))
        if isinstance(node, Menu):
            state = state.but(node=node.id, misses=0)
            return Outcome(said + (_ask(world, node, state, ""),), state)
        if isinstance(node, Message):
            said += (_spoken(world, node),)
            state = state.but(outcome=node.outcome or state.outcome)
            node_id = node.next
        elif isinstance(node, Goto):
            node_id = node.next
        elif isinstance(node, Route):
            state = state.but(node=node.id)
            return route(world, state, node.target, said + ((Say(node.say),) if node.say else ()))
        else:  # goodbye: the caller chose to be done
            state = state.but(node=node.id, outcome=node.outcome or "self-served")
            return Outcome(said + (_spoken(world, node), Hangup()), state)
    return to_person(world, state, None, said)


def first_stop_routes(flow) -> bool:
    """Whether a new call reaches a person before any menu (its start leads, through messages and go-tos, to
    a route): only then does an arrival need to know who is free."""
    node_id = flow.start
    for _ in range(len(flow.nodes) + 1):
        node = flow.node(node_id)
        if isinstance(node, (Message, Goto)):
            node_id = node.next
            continue
        return not isinstance(node, (Menu, Goodbye))
    return True


def agents_routed_to(flow: Flow, node_id: str | None = None) -> tuple[str, ...]:
    """The agents the flow's `agent:` targets name (routes, menu operators, the line's operator), those one step
    from menu `node_id` first (its options' routes and its operator), then the line's operator and its first
    stop, then the rest: a webhook reads these people's records by name, since the first few free of a group
    may leave them out. Computed once per flow version and menu."""
    if not isinstance(flow.node(node_id), Menu):
        node_id = None  # a node from a URL: only the flow's own menus are remembered
    if not flow.version:  # a flow built in code, not read from a file: no version to remember it by
        return _agents_routed_to(flow, node_id)
    key = (flow.name, flow.version)
    per_menu = _ROUTED_TO.get(key)
    if per_menu is None:
        if len(_ROUTED_TO) >= _VERSIONS_KEPT:
            _ROUTED_TO.clear()
        per_menu = _ROUTED_TO[key] = {}
    if node_id not in per_menu:
        per_menu[node_id] = _agents_routed_to(flow, node_id)
    return per_menu[node_id]


_ROUTED_TO: dict[tuple[str, str], dict[str | None, tuple[str, ...]]] = {}
_VERSIONS_KEPT = 64  # flow versions remembered (a reload adds one; the older ones serve only calls in progress)


def _agents_routed_to(flow: Flow, node_id: str | None) -> tuple[str, ...]:
    def stop(next_id: str) -> Target | None:
        """The target a caller reaches from `next_id` through messages and go-tos, if a route."""
        for _ in range(len(flow.nodes) + 1):
            node = flow.node(next_id)
            if not isinstance(node, (Message, Goto)):
                return node.target if isinstance(node, Route) else None
            next_id = node.next
        return None

    menu = flow.node(node_id)
    near = [menu.operator, *(stop(o.next) for o in menu.options)] if isinstance(menu, Menu) else []
    rest = [n.operator if isinstance(n, Menu) else n.target for n in flow.nodes.values() if isinstance(n, Menu | Route)]
    targets = (*near, flow.settings.operator, stop(flow.start), *rest)
    return tuple(dict.fromkeys(t.name for t in targets if t is not None and t.kind == "agent"))


def _ask(world: World, node: Menu, state: CallState, before: str) -> Ask:
    flow = world.flow
    # The way to a person comes first, before the menu's own words: a caller never sits through a menu to
    # learn that 0 was there all along.
    hint = ZERO_OUT_HINT if node.id == flow.start or not state.path or before else ""
    lead = " ".join(p for p in (before, hint) if p)
    prompt = " ".join(p for p in (lead, node.say) if p)
    hints = tuple(dict.fromkeys([w for o in node.options for w in o.words] + list(OPERATOR_WORDS)))
    audio = world.audio.get(node.play) if node.play else None
    return Ask(node.id, prompt, hints, node.timeout, audio=audio, lead=lead)


def _spoken(world: World, node: Message | Goodbye) -> Action:
    """A node's recorded prompt when its audio is usable, else its text (the fallback `ivr check` warns of)."""
    audio = world.audio.get(node.play) if node.play else None
    return Play(audio) if audio else Say(node.say)


def take_input(world: World, state: CallState, event: Input) -> Outcome:
    node = world.flow.node(event.node)
    if not isinstance(node, Menu):
        # The flow changed under the call, or the URL was tampered with: a person sorts it out.
        return to_person(world, state, None, (Say("Let me get you a person."),))
    digits = first_key(event.digits)
    words = words_of(event.speech)
    if digits[:1] == OPERATOR_KEY or (not digits and asks_for_person(words)):
        state = state.but(path=(*state.path, "asked for a person"), zero_out=state.zero_out or node.id)
        return to_person(world, state, node, (Say(CONNECTING_LINE),))
    if not digits and event.confidence is not None and event.confidence < MIN_SPEECH_CONFIDENCE:
        # Better to ask again than to send the caller somewhere they did not ask for; asking for a person
        # (above) is honoured at any confidence, since a person can always help.
        words = ""
        heard_something = True
    else:
        heard_something = bool(digits or words)
    option = _match(node, digits, words)
    if option is not None:
        picked = f"{node.id}:{option.key or option.label}"
        state = state.but(path=(*state.path, option.label), misses=0, chosen=(*state.chosen, picked))
        notice = incident_notice.announced(world, picked)
        if notice:
            outcome = incident_notice.tell(world, state, notice, option.next, ())
        else:
            outcome = enter(world, state, option.next, ())
        return replace(outcome, choice=(world.flow.name, picked))
    misses = state.misses + 1
    if misses >= MISSES_TO_PERSON:
        state = state.but(misses=0, path=(*state.path, f"no choice made at {node.id}"))
        return to_person(world, state, node, (Say("Let me connect you with a person who can help."),))
    heard = "Sorry, I didn't get that." if heard_something else "Sorry, I didn't hear anything."
    return Outcome((_ask(world, node, state, heard),), state.but(node=node.id, misses=misses))


def _match(node: Menu, digits: str, words: str) -> Option | None:
    if digits:
        return next((o for o in node.options if o.key == digits[:1]), None)
    if not words:
        return None
    return next((o for o in node.options for w in o.words if re.search(rf"\b{re.escape(w)}\b", words)), None)
