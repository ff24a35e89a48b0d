"""A flow as Mermaid text: GitHub draws it in Markdown (pure: a Flow and its FlowTiming in, text out)."""

from __future__ import annotations

import re

from ivr.flows.model import Flow
from ivr.flows.timing import FlowTiming
from ivr.tools.graph.drawing import PERSON, edges, node_lines, people_reached, target_text

_MERMAID_SHAPES = {
    "menu": ("{{", "}}"),
    "message": ("[", "]"),
    "goto": (">", "]"),
    "goodbye": ("([", "])"),
    "route": ("[[", "]]"),
    "person": ("((", "))"),
}
_MERMAID_STYLES = {
    "menu": "fill:#e8f0fe,stroke:#1a73e8,color:#202124",
    "message": "fill:#f1f3f4,stroke:#5f6368,color:#202124",
    "goto": "fill:#ffffff,stroke:#5f6368,color:#202124",
    "goodbye": "fill:#fce8e6,stroke:#c5221f,color:#202124",
    "route": "fill:#e6f4ea,stroke:#137333,stroke-width:2px,color:#202124",
    "person": "fill:#fef7e0,stroke:#b06000,stroke-width:2px,color:#202124",
    "late": "stroke:#d93025,stroke-width:3px,stroke-dasharray:6 3",
}
# characters that mean something to Mermaid (or to the HTML it makes) are written as entity codes
_MERMAID_ESCAPES = {
    '"': "#quot;",
    "#": "#35;",
    "&": "#38;",
    "<": "#60;",
    ">": "#62;",
    "`": "#96;",
    "|": "#124;",
    "[": "#91;",
    "]": "#93;",
    "{": "#123;",
    "}": "#125;",
    "(": "#40;",
    ")": "#41;",
}


def mermaid_text(text: str) -> str:
    """TEXT made safe inside a quoted Mermaid label: one line, special characters as entity codes."""
    return "".join(_MERMAID_ESCAPES.get(ch, ch) for ch in " ".join(str(text).split()))


def _mermaid_ids(flow: Flow) -> dict[str, str]:
    ids: dict[str, str] = {}
    for node_id in flow.nodes:
        base = "n_" + re.sub(r"[^A-Za-z0-9_]", "_", node_id)
        candidate, n = base, 1
        while candidate in ids.values():
            n += 1
            candidate = f"{base}_{n}"
        ids[node_id] = candidate
    for person in people_reached(flow).values():
        ids[person] = person.replace("-", "_")
    return ids


def mermaid(flow: Flow, timing: FlowTiming) -> str:
    """The flow as a Mermaid flowchart, top to bottom."""
    ids = _mermaid_ids(flow)
    out = [
        "flowchart TD",
        f"    %% {mermaid_text(flow.name)}: drawn by `ivr graph`. Times are seconds of prompts heard in full "
        f"from the start of the call; budget {timing.budget} s",
    ]
    classes: dict[str, list[str]] = {}
    for node in flow.nodes.values():
        t = timing.nodes.get(node.id)
        label = "<br/>".join(mermaid_text(line) for line in node_lines(flow, node, t, timing))
        opening, closing = _MERMAID_SHAPES[node.kind]
        out.append(f'    {ids[node.id]}{opening}"{label}"{closing}')
        classes.setdefault(node.kind, []).append(ids[node.id])
        if t is not None and t.over_budget:
            classes.setdefault("late", []).append(ids[node.id])
    for target, person in people_reached(flow).items():
        label = "<br/>".join(mermaid_text(line) for line in (PERSON, target_text(target)))
        opening, closing = _MERMAID_SHAPES["person"]
        out.append(f'    {ids[person]}{opening}"{label}"{closing}')
        classes.setdefault("person", []).append(ids[person])
    for edge in edges(flow):
        arrow = "-.->" if edge.dotted else "-->"
        label = f'|"{mermaid_text(edge.label)}"|' if edge.label else ""
        out.append(f"    {ids[edge.source]} {arrow}{label} {ids[edge.target]}")
    for name, style in _MERMAID_STYLES.items():
        if name in classes:
            out.append(f"    classDef {name} {style}")
    for name in _MERMAID_STYLES:
        if name in classes:
            out.append(f"    class {','.join(classes[name])} {name}")
    return "\n".join(out) + "\n"


# --- SVG ----------------------------------------------------------------------------------------------
# A small layered layout: nodes in rows by their distance from the start (the people 0 reaches in the
# last row); an edge that skips rows passes through a thin slot in each row between, so it never crosses
# a box; rows are ordered to put children under their parents, then boxes are pulled towards their
# neighbours. An edge back up (or across) a row leaves from the bottom right of its box, runs along the
# gap under its row to a lane on the right, up to the gap over its target's row, and in from the top.
