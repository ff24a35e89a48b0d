"""Time to a human: how many seconds of prompts a caller hears before a person is offered, and rings.

Computed from the flow alone (pure: no Redis, no Flask, no clock), for every node:

- reach: seconds of prompts heard on the quickest way from the start of the call to entering the node.
- offered: seconds until the caller is told they can press 0 for a person (the engine's reminder, said
  first, before the first menu's own words), or is put through to a person, whichever comes first, on a
  call that goes through the node. The reminder comes at the first menu every caller meets, so this is
  the same figure for every node of a flow: `FlowTiming.first_offer`.
- to_person: seconds until a person's phone starts to ring on the quickest way from the start through
  the node: pressing 0 at a menu (then the engine says "Connecting you to a person.") or taking a route
  (its `say` intro, then the ring). None when the node cannot lead to a person (a goodbye ends the call).

The caller model. A first-time caller listens to each menu's prompt in full, the reminder included, and
then chooses: that is what `reach`, `offered` and `to_person` assume, and what the budget judges. Choosing
costs nothing but the prompt before it. A caller who already knows the key may barge in, because a menu's
prompt plays inside the Gather: the `*_floor` figures assume menus cost nothing at all, which leaves only
what cannot be skipped (messages, route intros and the "connecting you" line). The ring itself, a busy
person and the wait in line are not counted: this measures the flow, not the staffing. Nor are a
returning caller's shortcuts (they skip the menus) or out-of-hours messages.

How long a prompt lasts. A recorded prompt (`play`) lasts its measured duration, when `ivr check` or the
server could use the file (Catalog.audio_seconds); otherwise, and for every `say`, the text is estimated
at SPEAKING_RATE: 150 words a minute, the pace of Twilio's Polly voices at their default rate, plus 0.4 s
for the pause after each sentence. Figures are kept in tenths of a second, so they add up exactly and
read the same on every run.

The budget (`settings.time_to_human_budget_seconds`, default 30) is the longest a caller may listen
before being offered a person. A flow whose first offer comes later is refused; one whose first offer
comes later than `settings.first_offer_warning_seconds` (default 10) is warned of, and so is a node whose
quickest way to a person rings later than the budget (ivr.flows.timing_report says all three).
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ivr.flows.model import PASSES_ON, Flow, Menu, Node, Route, exits, recording, words_said
from ivr.flows.prompts import CONNECTING_LINE, ZERO_OUT_HINT


@dataclass(frozen=True)
class SpeakingRate:
    """How fast a text-to-speech voice reads: words a minute, and the pause after each sentence."""

    words_per_minute: float
    sentence_pause_seconds: float


# Polly voices at Twilio's default rate read about 150 words a minute, with a short pause between sentences.
SPEAKING_RATE = SpeakingRate(words_per_minute=150, sentence_pause_seconds=0.4)

_WORD = re.compile(r"[\w']+")
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")


def _tenths(seconds: float) -> int:
    return round(seconds * 10)


def speech_tenths(text: str, rate: SpeakingRate = SPEAKING_RATE) -> int:
    """Tenths of a second a voice takes to read TEXT aloud: its words at the rate, plus a pause per sentence."""
    text = (text or "").strip()
    if not text:
        return 0
    words = len(_WORD.findall(text))
    sentences = len(_SENTENCE_END.findall(text)) + (0 if text[-1] in ".!?" else 1)
    return _tenths(words * 60 / rate.words_per_minute + sentences * rate.sentence_pause_seconds)


def speech_seconds(text: str, rate: SpeakingRate = SPEAKING_RATE) -> float:
    """Seconds a voice takes to read TEXT aloud (see SPEAKING_RATE), to a tenth of a second."""
    return speech_tenths(text, rate) / 10


@dataclass(frozen=True)
class Step:
    """One stretch of a caller's way: a node (or "0", the key to a person) and the seconds heard there."""

    node: str
    seconds: float

    def __str__(self) -> str:
        return f"{self.node} ({self.seconds:.1f} s)"


@dataclass(frozen=True)
class NodeTiming:
    node: str
    kind: str  # the node's `type:` in the file, for the table
    line: int
    prompt: float  # seconds of the node's own prompt as heard in full (the first menu: with the reminder)
    recorded: bool  # the prompt is a recording whose measured duration is used
    reach: float
    offered: float | None  # None: the call ends before anyone offers a person (a flow that only says goodbye)
    to_person: float | None  # None: no person can be reached through this node
    reach_floor: float  # barging in at every menu
    to_person_floor: float | None
    path: tuple[Step, ...]  # the quickest way to a person through this node (ends with "0" or a route)
    over_budget: bool  # from entering this node, a person rings later than the flow's budget: a warning


@dataclass(frozen=True)
class FlowTiming:
    flow: Flow
    budget: int
    nodes: dict[str, NodeTiming]
    first_offer: float | None  # seconds until the caller is first offered (or put through to) a person
    offer_node: str | None  # the node where that happens: the first menu, or a route before any menu
    offer_path: tuple[Step, ...]  # what the caller hears until then
    offer_connects: bool  # True when the first "offer" is a route putting the caller through

    @property
    def within_budget(self) -> bool:
        return self.first_offer is None or self.first_offer <= self.budget


_INFINITE = 10**12


def time_to_human(
    flow: Flow, audio_seconds: Mapping[str, float] | None = None, rate: SpeakingRate = SPEAKING_RATE
) -> FlowTiming:
    """Every node's time to a human in FLOW; AUDIO_SECONDS maps usable recordings (as written) to seconds."""
    audio_seconds = audio_seconds or {}
    nodes = flow.nodes
    hint = speech_tenths(ZERO_OUT_HINT, rate)
    connecting = speech_tenths(CONNECTING_LINE, rate)

    def own(node: Node) -> int:
        played = recording(node)
        if played and played in audio_seconds:
            return _tenths(audio_seconds[played])
        return speech_tenths(words_said(node), rate)

    # The caller passes through messages and go-tos from the start without a choice, to the first menu
    # (or a route, or a goodbye). The engine adds the reminder to the start menu every time it plays and
    # to the first menu the first time (while the caller has chosen nothing yet).
    prefix = _prefix(flow)
    first_menu = prefix[-1] if prefix and isinstance(nodes[prefix[-1]], Menu) else None

    def again(node_id: str) -> int:  # a node's prompt heard in full, any time but the first
        node = nodes[node_id]
        return own(node) + (hint if isinstance(node, Menu) and node_id == flow.start else 0)

    def first(node_id: str) -> int:  # heard in full on the way in from the start
        return again(node_id) + (hint if node_id == first_menu and node_id != flow.start else 0)

    def floor(node_id: str) -> int:  # barging in: a menu costs nothing
        return 0 if isinstance(nodes[node_id], Menu) else again(node_id)

    def exit_to_person(node_id: str, cost: int) -> int | None:  # after the prompt: a person rings
        node = nodes[node_id]
        if isinstance(node, Route):
            return cost  # the intro is the prompt; then the ring
        if isinstance(node, Menu):
            return cost + connecting
        return None

    reach, came_from = _forward(flow, first)
    reach_floor, _ = _forward(flow, floor)
    onward, via = _backward(flow, again, exit_to_person)
    onward_floor, _ = _backward(flow, floor, exit_to_person)
    # The prefix and the first menu are heard on the way in, reminder included: their way on differs.
    onward_in, via_in = dict(onward), dict(via)
    for node_id in reversed(prefix):
        node = nodes[node_id]
        if isinstance(node, PASSES_ON):
            rest = onward_in.get(node.next)
            onward_in[node_id] = first(node_id) + rest if rest is not None else None
            via_in[node_id] = node.next
        elif isinstance(node, Menu):
            best = (first(node_id) + connecting, "0")
            for option in node.options:
                rest = onward.get(option.next)
                if rest is not None and first(node_id) + rest < best[0]:
                    best = (first(node_id) + rest, option.next)
            onward_in[node_id], via_in[node_id] = best

    end = nodes[prefix[-1]] if prefix else None
    offer, offer_path, connects = None, (), False
    if isinstance(end, Menu | Route):
        # A menu offers a person with its first words (the reminder comes first); a route after its intro.
        heard = {**{n: first(n) for n in prefix}, **({end.id: hint} if isinstance(end, Menu) else {})}
        offer = reach[end.id] + heard[end.id]
        offer_path = tuple(Step(n, heard[n] / 10) for n in prefix if heard[n] or n == end.id)
        connects = isinstance(end, Route)

    budget = flow.settings.time_to_human_budget_seconds
    timings = {}
    for node_id, node in nodes.items():
        if node_id not in reach:
            continue  # no caller reaches it (`ivr check` refuses such a flow anyway)
        on_way_in = node_id in prefix
        rest = (onward_in if on_way_in else onward).get(node_id)
        to_person = reach[node_id] + rest if rest is not None else None
        rest_floor = onward_floor.get(node_id)
        steps = _steps_to(node_id, came_from, first)
        steps += _steps_on(node_id, nodes, on_way_in, (via_in, first), (via, again), connecting)
        timings[node_id] = NodeTiming(
            node=node_id,
            kind=node.kind,
            line=node.line,
            prompt=(first(node_id) if on_way_in else again(node_id)) / 10,
            recorded=recording(node) in audio_seconds,
            reach=reach[node_id] / 10,
            offered=None if offer is None else offer / 10,
            to_person=None if to_person is None else to_person / 10,
            reach_floor=reach_floor[node_id] / 10,
            to_person_floor=None if rest_floor is None else (reach_floor[node_id] + rest_floor) / 10,
            path=steps if to_person is not None else (),
            over_budget=rest is not None and rest > budget * 10,
        )
    return FlowTiming(
        flow=flow,
        budget=budget,
        nodes=timings,
        first_offer=None if offer is None else offer / 10,
        offer_node=end.id if offer is not None else None,
        offer_path=offer_path,
        offer_connects=connects,
    )


def _prefix(flow: Flow) -> list[str]:
    """The nodes every caller passes through from the start without a choice, ending at the first other."""
    chain: list[str] = []
    node = flow.node(flow.start)
    while node is not None and node.id not in chain:
        chain.append(node.id)
        if not isinstance(node, PASSES_ON):
            break
        node = flow.node(node.next)
    return chain


def _exits(node: Node) -> list[str]:
    return list(dict.fromkeys(exits(node)))


def _forward(flow: Flow, cost) -> tuple[dict[str, int], dict[str, str]]:
    """Dijkstra from the start: tenths of a second heard before entering each node, and where from."""
    dist: dict[str, int] = {}
    came_from: dict[str, str] = {}
    if flow.start not in flow.nodes:
        return dist, came_from
    best = {flow.start: 0}
    heap = [(0, 0, flow.start)]
    order = 0
    while heap:
        d, _, node_id = heapq.heappop(heap)
        if node_id in dist:
            continue
        dist[node_id] = d
        for target in _exits(flow.nodes[node_id]):
            if target in flow.nodes and target not in dist:
                candidate = d + cost(node_id)
                if candidate < best.get(target, _INFINITE):
                    best[target] = candidate
                    came_from[target] = node_id
                    order += 1
                    heapq.heappush(heap, (candidate, order, target))
    return dist, came_from


def _backward(flow: Flow, cost, exit_to_person) -> tuple[dict[str, int | None], dict[str, str]]:
    """Dijkstra towards a person: tenths of a second from entering each node until a person rings.

    `via` names the next node on that way, or "0" when pressing 0 there is quickest (or the route itself).
    """
    before: dict[str, list[str]] = {n: [] for n in flow.nodes}
    for node_id, node in flow.nodes.items():
        for target in _exits(node):
            if target in before:
                before[target].append(node_id)
    best: dict[str, int] = {}
    via: dict[str, str] = {}
    heap: list[tuple[int, int, str]] = []
    for order, node_id in enumerate(flow.nodes):
        done = exit_to_person(node_id, cost(node_id))
        if done is not None:
            best[node_id], via[node_id] = done, "0"
            heap.append((done, order, node_id))
    heapq.heapify(heap)
    settled: dict[str, int | None] = {}
    order = len(flow.nodes)
    while heap:
        d, _, node_id = heapq.heappop(heap)
        if node_id in settled:
            continue
        settled[node_id] = d
        for source in before[node_id]:
            candidate = cost(source) + d
            if source not in settled and candidate < best.get(source, _INFINITE):
                best[source], via[source] = candidate, node_id
                order += 1
                heapq.heappush(heap, (candidate, order, source))
    for node_id in flow.nodes:
        settled.setdefault(node_id, None)
    return settled, via


def _steps_to(node_id: str, came_from: dict[str, str], cost) -> tuple[Step, ...]:
    way = []
    current = came_from.get(node_id)
    while current is not None:
        way.append(Step(current, cost(current) / 10))
        current = came_from.get(current)
    return tuple(reversed(way))


def _steps_on(node_id, nodes, on_way_in, way_in, way_again, connecting) -> tuple[Step, ...]:
    """The way on from NODE_ID to a person: each node with its prompt, then "0" or the route's ring.

    Until the caller leaves the first menu they are on the way in (the reminder still to hear).
    """
    way: list[Step] = []
    current = node_id
    for _ in range(len(nodes) + 1):
        choose, cost = way_in if on_way_in else way_again
        nxt = choose.get(current)
        if nxt is None:
            return ()
        way.append(Step(current, cost(current) / 10))
        if nxt == "0":
            if isinstance(nodes[current], Menu):
                way.append(Step("0", connecting / 10))
            return tuple(way)
        on_way_in = on_way_in and isinstance(nodes[current], PASSES_ON)
        current = nxt
    return ()  # pragma: no cover - the graph search never loops
