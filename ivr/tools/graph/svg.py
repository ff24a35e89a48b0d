"""A flow as an SVG picture, laid out here with no external tools: nodes in rows by how many steps they are
from the start, boxes and arrows, person nodes in the last row (pure: a Flow and its FlowTiming in, text out).
"""

from __future__ import annotations

import textwrap
from collections import deque
from dataclasses import dataclass
from itertools import pairwise
from xml.sax.saxutils import escape, quoteattr

from ivr.flows.model import Flow, exits
from ivr.flows.timing import FlowTiming
from ivr.tools.graph.drawing import PERSON, Edge, edges, node_lines, people_reached, target_text

CHAR_WIDTH = 7.0  # px, an average for 12 px sans-serif text
LABEL_CHAR_WIDTH = 6.2  # px, for 11 px edge labels
LABEL_WRAP = 24  # characters per line of an edge label
LINE_HEIGHT = 16
PAD = 10
ROW_GAP = 100
COLUMN_GAP = 30
SLOT_WIDTH = 16
MARGIN = 30
TITLE_HEIGHT = 30
_SVG_FILL = {
    "menu": ("#e8f0fe", "#1a73e8"),
    "message": ("#f1f3f4", "#5f6368"),
    "goto": ("#ffffff", "#5f6368"),
    "goodbye": ("#fce8e6", "#c5221f"),
    "route": ("#e6f4ea", "#137333"),
    "person": ("#fef7e0", "#b06000"),
}
LATE = "#d93025"


@dataclass
class _Item:
    """A box in a row, or the slot an edge passes through (lines empty)."""

    id: str
    kind: str
    lines: list[str]
    row: int
    late: bool = False
    min_width: float = 0.0  # room for the label of the edge arriving here
    x: float = 0.0  # left
    y: float = 0.0  # top

    @property
    def is_slot(self) -> bool:
        return self.kind == "slot"

    @property
    def width(self) -> float:
        if self.is_slot:
            return max(SLOT_WIDTH, self.min_width)
        return max(120.0, max(len(line) for line in self.lines) * CHAR_WIDTH + 2 * PAD, self.min_width)

    @property
    def height(self) -> float:
        return len(self.lines) * LINE_HEIGHT + 2 * PAD

    @property
    def cx(self) -> float:
        return self.x + self.width / 2


def depths(flow: Flow) -> dict[str, int]:
    """How many steps each node is from the start (breadth first, options in order)."""
    found = {flow.start: 0} if flow.start in flow.nodes else {}
    todo = deque(found)
    while todo:
        node = flow.nodes[todo.popleft()]
        nexts = exits(node)
        for target in nexts:
            if target in flow.nodes and target not in found:
                found[target] = found[node.id] + 1
                todo.append(target)
    deepest = max(found.values(), default=-1)
    for node_id in flow.nodes:
        found.setdefault(node_id, deepest + 1)
    return found


def _svg_edges(flow: Flow) -> list[Edge]:
    """The edges once each: options from one menu to one node share an edge and a label."""
    merged: dict[tuple[str, str, bool], list[str]] = {}
    for edge in edges(flow):
        merged.setdefault((edge.source, edge.target, edge.dotted), []).append(edge.label)
    return [
        Edge(s, t, " / ".join(label for label in labels if label), dotted) for (s, t, dotted), labels in merged.items()
    ]


def _label_lines(label: str) -> list[str]:
    return textwrap.wrap(label, LABEL_WRAP) if label else []


@dataclass
class _Layout:
    items: dict[str, _Item]
    rows: list[list[_Item]]
    routes: dict[int, list[str]]  # forward edge index -> the items it passes, source to target
    width: float
    height: float


def _layout(flow: Flow, timing: FlowTiming, drawn: list[Edge]) -> _Layout:
    row_of = depths(flow)
    items: dict[str, _Item] = {}
    for node_id in sorted(flow.nodes, key=lambda n: row_of[n]):  # the file's order within a row, to start
        t = timing.nodes.get(node_id)
        node = flow.nodes[node_id]
        items[node_id] = _Item(
            node_id, node.kind, node_lines(flow, node, t, timing), row_of[node_id], late=bool(t and t.over_budget)
        )
    last = max(row_of.values(), default=-1) + 1
    for target, person in people_reached(flow).items():
        items[person] = _Item(person, "person", [PERSON, target_text(target)], last)
    routes: dict[int, list[str]] = {}
    for index, edge in enumerate(drawn):
        source, target = items[edge.source], items[edge.target]
        if target.row <= source.row:
            continue
        way = [source.id]
        for row in range(source.row + 1, target.row):
            slot = _Item(f"slot-{index}-{row}", "slot", [], row)
            items[slot.id] = slot
            way.append(slot.id)
        way.append(target.id)
        routes[index] = way
        width = max((len(line) for line in _label_lines(edge.label)), default=0) * LABEL_CHAR_WIDTH + 8
        first = items[way[1]]
        first.min_width = max(first.min_width, width)  # the label sits just above the first item it reaches
    rows: list[list[_Item]] = [[] for _ in range(last + 1)]
    for item in items.values():
        rows[item.row].append(item)
    if not rows[-1]:
        rows.pop()  # no menu, so no one reached by 0
    above: dict[str, list[str]] = {i: [] for i in items}
    below: dict[str, list[str]] = {i: [] for i in items}
    for way in routes.values():
        for upper, lower in pairwise(way):
            below[upper].append(lower)
            above[lower].append(upper)
    _order(rows, above, below)
    _place(rows, above, below)
    y = MARGIN + TITLE_HEIGHT
    for row in rows:
        for item in row:
            item.y = y
        y += max((i.height for i in row if not i.is_slot), default=LINE_HEIGHT) + ROW_GAP
    left = min((i.x for i in items.values()), default=0)
    for item in items.values():
        item.x += MARGIN - left
    right = max((i.x + i.width for i in items.values()), default=0)
    backs = sum(1 for index in range(len(drawn)) if index not in routes)
    return _Layout(items, rows, routes, right + 40 + 14 * backs + MARGIN, y - ROW_GAP + MARGIN)


def _order(rows: list[list[_Item]], above: dict, below: dict) -> None:
    """Sort each row by where its neighbours sit (the barycentre rule), sweeping down and up a few times."""
    first = {i.id: n for row in rows for n, i in enumerate(row)}  # ties keep this order: options in order
    for sweep in range(9):  # ending with a sweep down, so children line up under their parents
        neighbours, sequence = (above, rows[1:]) if sweep % 2 == 0 else (below, rows[-2::-1])
        position = {i.id: n for row in rows for n, i in enumerate(row)}
        for row in sequence:

            def key(item, links=neighbours, where=position):
                linked = [where[j] for j in links[item.id]]
                return (sum(linked) / len(linked) if linked else where[item.id], first[item.id])

            row.sort(key=key)
            position.update({i.id: n for n, i in enumerate(row)})


def _place(rows: list[list[_Item]], above: dict, below: dict) -> None:
    """Pack each row, then pull every item towards the middle of its neighbours without overlapping."""
    for row in rows:
        x = 0.0
        for item in row:
            item.x = x
            x += item.width + COLUMN_GAP
    items = {i.id: i for row in rows for i in row}
    for sweep in range(12):
        sequence = rows[1:] if sweep % 2 == 0 else rows[-2::-1]
        for row in sequence:
            wanted = []
            for item in row:
                linked = [items[j].cx for j in (*above[item.id], *below[item.id])]
                wanted.append(sum(linked) / len(linked) - item.width / 2 if linked else item.x)
            pushed, pulled = [], []
            for n in range(len(row)):  # left to right: never closer than the gap to the left
                pushed.append(wanted[n] if n == 0 else max(wanted[n], pushed[-1] + row[n - 1].width + COLUMN_GAP))
            for n in range(len(row) - 1, -1, -1):  # right to left: never closer than the gap to the right
                limit = None if n == len(row) - 1 else pulled[0] - COLUMN_GAP - row[n].width
                pulled.insert(0, wanted[n] if limit is None else min(wanted[n], limit))
            for n, item in enumerate(row):  # both keep the gaps, so their average does
                item.x = (pushed[n] + pulled[n]) / 2


def _f(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def svg(flow: Flow, timing: FlowTiming) -> str:
    """The flow as a standalone SVG picture, laid out in rows from the start down."""
    drawn = _svg_edges(flow)
    layout = _layout(flow, timing, drawn)
    items = layout.items
    title = f"{flow.name}: time to a person (prompts heard in full; budget {timing.budget} s)"
    legend, legend_width, legend_height = _legend(MARGIN, layout.height)
    width, height = max(layout.width, legend_width + MARGIN), layout.height + legend_height
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_f(width)}" height="{_f(height)}" '
        f'viewBox="0 0 {_f(width)} {_f(height)}" font-family="Helvetica, Arial, sans-serif" '
        'font-size="12">',
        f"<title>{escape(title)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5f6368"/></marker></defs>',
        '<rect width="100%" height="100%" fill="#ffffff"/>',
        f'<text x="{MARGIN}" y="{MARGIN + 4}" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]
    row_top = [row[0].y for row in layout.rows]
    row_bottom = [row[0].y + max((i.height for i in row if not i.is_slot), default=LINE_HEIGHT) for row in layout.rows]
    tracks_below: dict[int, int] = {}
    tracks_above: dict[int, int] = {}
    lane = max(i.x + i.width for i in items.values()) + 40
    labels = []
    for index, edge in enumerate(drawn):
        source, target = items[edge.source], items[edge.target]
        lines = _label_lines(edge.label)
        if index in layout.routes:
            way = [items[i] for i in layout.routes[index]]
            points = [(source.cx, source.y + source.height)]
            for slot in way[1:-1]:
                points += [(slot.cx, row_top[slot.row]), (slot.cx, row_bottom[slot.row])]
            points.append((target.cx, target.y))
            d = f"M{_f(points[0][0])},{_f(points[0][1])}"
            for (x1, y1), (x2, y2) in pairwise(points):
                if x1 == x2:
                    d += f" L{_f(x2)},{_f(y2)}"
                else:
                    bend = (y2 - y1) / 2
                    d += f" C{_f(x1)},{_f(y1 + bend)} {_f(x2)},{_f(y2 - bend)} {_f(x2)},{_f(y2)}"
            (lx, ly) = points[1] if len(points) > 2 else points[-1]
            # Just above the first thing the edge reaches, beside the arrow and away from where it comes from,
            # so the arrow never runs through its own words.
            side = "end" if points[0][0] > lx else "start"
            label_at = (lx - 5 if side == "end" else lx + 5, ly - 8 - 14 * len(lines))
        else:  # back up (or across): under the row, out to a lane on the right, over the target's row, in
            below = tracks_below[source.row] = tracks_below.get(source.row, 0) + 1
            over = tracks_above[target.row] = tracks_above.get(target.row, 0) + 1
            lane += 14
            x1, y1 = source.x + source.width - 14, source.y + source.height
            y_below = row_bottom[source.row] + 10 * below
            y_over = row_top[target.row] - 10 * over
            x2 = target.x + target.width - 14
            d = f"M{_f(x1)},{_f(y1)} V{_f(y_below)} H{_f(lane)} V{_f(y_over)} H{_f(x2)} V{_f(target.y)}"
            label_at = (x1 + 6, y_below + 4)
            side = "start"
        dash = ' stroke-dasharray="5 4"' if edge.dotted else ""
        out.append(
            f'<path class="edge" data-from={quoteattr(edge.source)} data-to={quoteattr(edge.target)} '
            f'd="{d}" fill="none" stroke="#5f6368" stroke-width="1.3"{dash} marker-end="url(#arrow)"/>'
        )
        if lines:
            labels.append((label_at, lines, side, edge))
    for item in items.values():
        if item.is_slot:
            continue
        fill, stroke = _SVG_FILL[item.kind]
        person = item.kind == "person"
        css = "person" if person else f"node {item.kind}" + (" late" if item.late else "")
        out.append(f'<g class="{css}" id={quoteattr(("" if person else "node-") + item.id)}>')
        out.append(_shape(item, fill, LATE if item.late else stroke))
        for n, line in enumerate(item.lines):
            weight = ' font-weight="bold"' if n == 0 else ""
            y = item.y + PAD + LINE_HEIGHT * (n + 1) - 4
            out.append(f'<text x="{_f(item.cx)}" y="{_f(y)}" text-anchor="middle"{weight}>{escape(line)}</text>')
        out.append("</g>")
    for (lx, ly), lines, anchor, edge in labels:  # last, on a white ground, so no line runs through their words
        width = max(len(line) for line in lines) * LABEL_CHAR_WIDTH + 4
        left = lx - width if anchor == "end" else lx
        out.append(
            f'<rect class="label-ground" data-from={quoteattr(edge.source)} data-to={quoteattr(edge.target)} '
            f'x="{_f(left - 2)}" y="{_f(ly)}" width="{_f(width)}" '
            f'height="{_f(14 * len(lines) + 2)}" fill="#ffffff"/>'
        )
        out.append(
            f'<text class="label" x="{_f(lx)}" y="{_f(ly + 11)}" text-anchor="{anchor}" font-size="11" fill="#3c4043">'
            + "".join(
                f'<tspan x="{_f(lx)}" dy="{0 if n == 0 else 14}">{escape(line)}</tspan>' for n, line in enumerate(lines)
            )
            + "</text>"
        )
    out.extend(legend)
    out.append("</svg>")
    return "\n".join(out) + "\n"


LEGEND = (
    ("menu", "menu: a key or words"),
    ("message", "message"),
    ("goto", "go to"),
    ("goodbye", "goodbye: the call ends"),
    ("route", "route: rings a person"),
    ("person", PERSON),
)


def _legend(left: float, top: float) -> tuple[list[str], float, float]:
    """A key to the shapes, the two kinds of arrow and the red border: SVG lines, its width and height."""
    out = [f'<g class="legend"><text x="{_f(left)}" y="{_f(top + 14)}" font-weight="bold">Key</text>']
    x, y = left, top + 24
    for kind, caption in LEGEND:
        item = _Item(f"legend-{kind}", kind, [caption], row=0, x=x, y=y)
        fill, stroke = _SVG_FILL[kind]
        out.append(_shape(item, fill, stroke))
        out.append(
            f'<text x="{_f(item.cx)}" y="{_f(y + PAD + LINE_HEIGHT - 4)}" text-anchor="middle">{escape(caption)}</text>'
        )
        x += item.width + 12
    shapes_width = x - left
    y += LINE_HEIGHT + 2 * PAD + 16
    samples = (
        ("", "a choice: its key and words"),
        (' stroke-dasharray="5 4"', "0 or agent: a person, from every menu"),
    )
    x = left
    for dash, caption in samples:
        out.append(
            f'<path d="M{_f(x)},{_f(y)} H{_f(x + 40)}" stroke="#5f6368" stroke-width="1.3"{dash} '
            'marker-end="url(#arrow)"/>'
        )
        out.append(f'<text x="{_f(x + 48)}" y="{_f(y + 4)}">{escape(caption)}</text>')
        x += 48 + len(caption) * CHAR_WIDTH + 24
    late = _Item("legend-late", "message", ["far from a person"], row=0, late=True, x=x, y=y - 18)
    out.append(_shape(late, "#ffffff", LATE))
    out.append(f'<text x="{_f(late.cx)}" y="{_f(y + 4)}" text-anchor="middle">far from a person</text>')
    out.append(f'<text x="{_f(late.x + late.width + 8)}" y="{_f(y + 4)}">(over the budget from there)</text>')
    out.append("</g>")
    width = max(shapes_width, late.x + late.width + 8 + 30 * CHAR_WIDTH - left)
    return out, width, y + 18 - top + MARGIN


def _shape(item: _Item, fill: str, stroke: str) -> str:
    x, y, w, h = _f(item.x), _f(item.y), _f(item.width), _f(item.height)
    if item.kind == "person":
        return (
            f'<ellipse cx="{_f(item.cx)}" cy="{_f(item.y + item.height / 2)}" rx="{_f(item.width / 2)}" '
            f'ry="{_f(item.height / 2)}" fill="{fill}" stroke="{stroke}" stroke-width="2"/>'
        )
    width = 2 if item.late else 1.5
    if item.kind == "route":  # a double border: the one shape that puts the caller through to a person
        return (
            f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="4" fill="{fill}" stroke="{stroke}" '
            f'stroke-width="{width}"/><rect x="{_f(item.x + 4)}" y="{_f(item.y + 4)}" '
            f'width="{_f(item.width - 8)}" height="{_f(item.height - 8)}" rx="2" fill="none" stroke="{stroke}"/>'
        )
    radius = {"menu": 2, "message": 8, "goto": 8, "goodbye": item.height / 2}[item.kind]
    dash = ' stroke-dasharray="4 3"' if item.kind == "goto" else ""
    return (
        f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="{_f(radius)}" fill="{fill}" stroke="{stroke}" '
        f'stroke-width="{width}"{dash}/>'
    )
