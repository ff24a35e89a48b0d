"""Small bar charts as inline SVG, server-rendered (no JavaScript): values in, markup out. Every bar carries
its value as text and the chart a title and label, so it reads without colour and to a screen reader."""

from __future__ import annotations

from html import escape

WIDTH, BAR_HEIGHT, GAP, LABEL_WIDTH = 640, 22, 6, 190


def bars(title: str, rows: list[tuple[str, float]], unit: str = "", fmt=lambda v: f"{v:g}") -> str:
    """A horizontal bar chart: one labelled bar per (label, value)."""
    top = max((v for _, v in rows), default=0) or 1
    height = max(1, len(rows)) * (BAR_HEIGHT + GAP) + 30
    label = f"{title}: " + "; ".join(f"{name} {fmt(value)}{unit}" for name, value in rows) if rows else f"{title}: none"
    out = [
        f'<svg class="chart" role="img" aria-label="{escape(label)}" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    if not rows:
        out.append('<text x="0" y="20">No calls in this period.</text>')
    for n, (name, value) in enumerate(rows):
        y = n * (BAR_HEIGHT + GAP)
        length = (WIDTH - LABEL_WIDTH - 90) * (value / top)
        out.append(
            f'<g class="bar"><text x="0" y="{y + 16}">{escape(name)}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{length:.1f}" height="{BAR_HEIGHT}" fill="#0b5cad"></rect>'
            f'<text x="{LABEL_WIDTH + length + 6:.1f}" y="{y + 16}">{escape(fmt(value))}{escape(unit)}</text></g>'
        )
    out.append("</svg>")
    return "".join(out)
