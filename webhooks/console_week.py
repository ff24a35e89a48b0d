"""The supervisors' week: the line's metrics over the last days (ivr.report), as headline figures and
server-rendered charts: repeat-call rate per day, time to a person, problems resolved per person, and the
menus that send callers to 0."""

from __future__ import annotations

import datetime

from flask import Blueprint, current_app, render_template, request
from markupsafe import Markup

from ivr.report import metrics
from ivr.store import call_records
from webhooks import bar_charts, console
from webhooks.console_setup import zone
from webhooks.people import Person, needs_supervisor

week_pages = console.guarded(Blueprint("week_pages", __name__, url_prefix="/console/week"))


@week_pages.get("/")
@needs_supervisor
def week(person: Person):
    """The last `days` days (7 by default, at most 35), every line."""
    services = current_app.extensions["ivr"]
    days = min(35, max(1, request.args.get("days", 7, type=int) or 7))
    now = services.clock()
    since = now - days * 86400
    records = call_records.read(services.redis, since - metrics.LONGEST_WINDOW)  # to the newest: ids are Redis's clock
    found = metrics.report(records, since, now)["lines"]
    lines = []
    for name, m in found.items():
        own = [x for x in records if x.get("line") == name]
        lines.append({"name": name, "m": m, "charts": _charts(own, m, since, now, days)})
    return render_template("console/week.html", person=person, lines=lines, days=days)


def _charts(records: list[dict], m: dict, since: float, now: float, days: int) -> list[tuple[str, Markup]]:
    line_zone = zone()
    per_day = []
    for n in range(days):
        start = since + n * 86400
        day = metrics.line_metrics(records, start, min(start + 86400, now))
        label = datetime.datetime.fromtimestamp(start, line_zone).strftime("%a %d %b")
        per_day.append((f"{label} ({day['contacts']})", round((day["repeat_call_rate"] or 0) * 100)))
    human = m["time_to_human_seconds"]
    spread = [(k, human[k]) for k in ("p50", "p90", "max") if human[k] is not None]
    resolved = [(agent, c["problems_resolved"]) for agent, c in m["agents"].items()]
    zero = sorted(m["zero_outs_by_node"].items(), key=lambda kv: -kv[1])
    charts = [
        ("Repeat-call rate per day (contacts in brackets)", per_day, "%"),
        ("Time to a person, seconds", spread, " s"),
        ("Problems resolved per person", resolved, ""),
        ("Callers who pressed 0, per menu", zero, ""),
    ]
    return [(title, Markup(bar_charts.bars(title, rows, unit))) for title, rows, unit in charts]
