"""What every picture of a flow shows, whatever it is drawn in: each node's words and the edges between them.

Every node is drawn with its kind (menus, messages, go-tos, goodbyes, and routes to a person in their own
shape, naming the group or agent), every option is an edge labelled with its key and words, and the
zero-out is drawn too: one "a person (0 / agent)" node per person that 0 reaches, which every menu links
to with a dotted edge labelled 0. Each node carries its time to a human (ivr.flows.timing): when the caller
reaches it and how soon a person can ring from there, prompts heard in full.
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.flows.model import OPERATOR_KEY, PASSES_ON, Flow, Menu, Node, Route, Target
from ivr.flows.timing import FlowTiming, NodeTiming

PERSON = "a person (0 / agent)"
KINDS = {"menu": "menu", "message": "message", "goto": "go to", "goodbye": "goodbye", "route": "route"}


def target_text(target: Target | None) -> str:
    if target is None:
        return "nobody"
    if target.is_supervisors:
        return "the supervisors"
    return f"{target.kind} {target.name}"


def operator_of(flow: Flow, node: Menu) -> Target:
    return node.operator or flow.settings.operator


def _seconds(value: float | None) -> str:
    return f"{value:.1f} s"


def node_lines(flow: Flow, node: Node, t: NodeTiming | None, timing: FlowTiming) -> list[str]:
    """What a node's box says: its name, its kind (and who a route rings), its time to a human."""
    kind = KINDS[node.kind]
    if isinstance(node, Route):
        kind = f"route to {target_text(node.target)}"
    lines = [node.id, kind]
    if t is not None:
        person = f"person by {_seconds(t.to_person)}" if t.to_person is not None else "call ends"
        lines.append(f"reached at {_seconds(t.reach)}, {person}")
        if node.id == timing.offer_node and not timing.offer_connects:
            lines.append(f"0 offered at {_seconds(timing.first_offer)}")
    return lines


def option_text(key: str | None, words: tuple[str, ...]) -> str:
    return f"{key}: {', '.join(words)}" if words else str(key)


@dataclass(frozen=True)
class Edge:
    source: str  # node id, or a person id ("person-1")
    target: str
    label: str
    dotted: bool = False


def people_reached(flow: Flow) -> dict[Target, str]:
    """Each person 0 reaches from some menu, in the order menus appear: target -> person id."""
    found: dict[Target, str] = {}
    for node in flow.nodes.values():
        if isinstance(node, Menu):
            found.setdefault(operator_of(flow, node), f"person-{len(found) + 1}")
    return found


def edges(flow: Flow) -> list[Edge]:
    people = people_reached(flow)
    drawn = []
    for node in flow.nodes.values():
        if isinstance(node, Menu):
            drawn.extend(Edge(node.id, o.next, option_text(o.key, o.words)) for o in node.options if o.next)
            drawn.append(Edge(node.id, people[operator_of(flow, node)], OPERATOR_KEY, dotted=True))
        elif isinstance(node, PASSES_ON) and node.next:
            drawn.append(Edge(node.id, node.next, ""))
    return drawn


# --- Mermaid ------------------------------------------------------------------------------------------
