"""`ivr report` and `ivr export`: the line's metrics, and its calls' records, over a period (`--since 7d`),
from REDIS_URL or the Redis of an `ivr serve` in this folder."""

from __future__ import annotations

import json
import re
import sys
import time

import click
from rich.console import Console
from rich.table import Table

from ivr.report import metrics
from ivr.store import call_records, incidents
from ivr.tools.line_commands import _redis

console = Console(highlight=False)
UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def period(text: str) -> float:
    """'7d', '12h', '30m', '2w' -> seconds."""
    found = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", text or "")
    if not found or int(found.group(1)) <= 0:
        raise click.BadParameter("give a period such as 7d, 12h, 30m or 2w")
    return int(found.group(1)) * UNITS[found.group(2)]


@click.command(name="export")
@click.option("--since", "since_text", default="7d", show_default=True, help="How far back: 30m, 12h, 7d, 2w.")
def export_command(since_text: str) -> None:
    """Write the records of the calls that ended in the period, one JSON object a line (callers as HMACs)."""
    now = time.time()
    for record in call_records.read(_redis(), now - period(since_text), now):
        sys.stdout.write(json.dumps(record, separators=(",", ":")) + "\n")


@click.command(name="report")
@click.option("--since", "since_text", default="7d", show_default=True, help="How far back: 30m, 12h, 7d, 2w.")
@click.option("--line", default=None, help="One line (a flow's name); all lines by default.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on standard output, and nothing else.")
def report_command(since_text: str, line: str | None, as_json: bool) -> None:
    """The line's metrics: repeat calls, first-contact resolution, open problems, time to a person, ..."""
    now = time.time()
    since = now - period(since_text)
    records = call_records.read(_redis(), since - metrics.LONGEST_WINDOW, now)
    found = metrics.report(records, since, now, line)
    if as_json:
        sys.stdout.write(json.dumps(found, sort_keys=True) + "\n")
        return
    for name, m in found["lines"].items():
        table = Table("metric", "value", title=f"{name or '(no line)'}: the last {since_text}")
        fcr = m["first_contact_resolution"]
        rows = [
            ("contacts (calls)", m["contacts"]),
            ("repeat contacts", m["repeat_contacts"]),
            ("repeat-call rate", _pct(m["repeat_call_rate"])),
            (
                "first-contact resolution",
                f"{_pct(fcr['provisional'])} so far, {_pct(fcr['final'])} final, "
                f"of {fcr['first_contacts']} first contacts",
            ),
            ("open problems", m["open_problems"]),
            ("time to a person (p50 / p90 / max)", _spread(m["time_to_human_seconds"])),
            ("time to be offered one", _spread(m["time_to_offer_seconds"])),
            ("menus sending callers to 0", _counts(m["zero_outs_by_node"])),
            ("hang-ups by where", _counts(m["hang_ups_by_node"])),
            (
                "queue: answered within 60 s / abandoned",
                f"{m['queue']['answered_within_60s']} / {m['queue']['abandoned']} of {m['queue']['queued']}",
            ),
            (
                "queue: longest / average wait",
                f"{m['queue']['longest_wait_seconds']} s / {m['queue']['average_wait_seconds']} s",
            ),
            ("callbacks requested", m["callbacks"]["requested"]),
            ("messages", m["messages"]),
        ]
        for label, value in rows:
            table.add_row(label, str(value))
        console.print(table)
        people = Table("person", "contacts taken", "problems resolved", title="problems resolved per person")
        for person, counts in m["agents"].items():
            people.add_row(person, str(counts["contacts_taken"]), str(counts["problems_resolved"]))
        console.print(people)


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.0f}%"


def _spread(spread: dict) -> str:
    return "-" if spread["p50"] is None else f"{spread['p50']} / {spread['p90']} / {spread['max']} s"


def _counts(counts: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])) or "-"


@click.group(name="incident")
def incident_group() -> None:
    """Incidents the line noticed: many callers making the same menu choice at once."""


@incident_group.command(name="list")
def incident_list() -> None:
    """List incidents, newest first."""
    found = incidents.listing(_redis())
    for i in found:  # one line each: readable in any terminal, and by grep
        first = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(i.first_report))
        said = f"  message: {i.message}" if i.message else ""
        click.echo(f"{i.id}  {i.status:9}  {i.line} {i.option} ({i.label}): {i.reports} callers since {first}{said}")
    if not found:
        click.echo("no incidents")


@incident_group.command(name="confirm")
@click.argument("incident_id")
@click.argument("message")
def incident_confirm(incident_id: str, message: str) -> None:
    """Confirm INCIDENT_ID: callers who make that choice hear MESSAGE from now on."""
    found = incidents.confirm(_redis(), incident_id, " ".join(message.split()), "cli", time.time())
    if found is None:
        raise click.ClickException(f"no incident {incident_id} (`ivr incident list`)")
    console.print(f"incident {incident_id} confirmed: callers choosing {found.label!r} hear the message")


@incident_group.command(name="close")
@click.argument("incident_id")
def incident_close(incident_id: str) -> None:
    """Close INCIDENT_ID: fixed; callers no longer hear its message."""
    found = incidents.close(_redis(), incident_id, "cli", time.time())
    if found is None:
        raise click.ClickException(f"no incident {incident_id} (`ivr incident list`)")
    console.print(f"incident {incident_id} closed ({found.reports} callers reported it)")
