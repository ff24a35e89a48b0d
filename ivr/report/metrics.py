"""The line's metrics over a period, from calls' records (ivr.call.call_record), pure. Each definition is
written in the README ("Metrics"); the tests hold scripted histories with exact values.

A contact is one inbound call. Callers are their HMAC; a withheld number (caller "") counts as a contact
but can never be a repeat, and is left out of first-contact resolution and open problems (nobody can tell
whether they called again).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

NOT_RESOLVED = ("unresolved", "follow-up")
ANSWERED_SOON_SECONDS = 60
DEFAULT_WINDOW = 7 * 86400
# The longest repeat window a flow may set (reporting.repeat_window_days, at most 90 in ivr.flows.load): a
# period's report reads records this much earlier, so every repeat in it is decided.
LONGEST_WINDOW = 90 * 86400


def window_of(record: dict) -> float:
    return float(record.get("repeat_window") or DEFAULT_WINDOW)


def line_metrics(records: list[dict], since: float, now: float, ended_callbacks: list[dict] = ()) -> dict:
    """The metrics of one line's records; `records` may start before `since` (up to a repeat window earlier):
    those only tell whether a contact in the period is a repeat. `ended_callbacks`: its callback requests
    that ended (completed or failed)."""
    ended = [c for c in ended_callbacks if since <= c.get("settled", 0) <= now]
    completed = [c for c in ended if c.get("outcome") == "completed"]
    records = sorted(records, key=lambda r: r.get("arrived", 0))
    by_caller: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        if record.get("caller"):
            by_caller[record["caller"]].append(record)
    contacts = [r for r in records if since <= r.get("arrived", 0) <= now]

    def earlier(record: dict) -> bool:
        at, window = record["arrived"], window_of(record)
        return any(at - window <= o["arrived"] < at for o in by_caller.get(record.get("caller"), ()) if o is not record)

    def later(record: dict) -> bool:
        at, window = record["arrived"], window_of(record)
        return any(at < o["arrived"] <= at + window for o in by_caller.get(record.get("caller"), ()) if o is not record)

    def resolved(record: dict) -> bool:
        return not later(record) and _wrap(record) not in NOT_RESOLVED

    repeats = [r for r in contacts if r.get("caller") and earlier(r)]
    firsts = [r for r in contacts if r.get("caller") and not earlier(r)]
    settled = [r for r in firsts if r["arrived"] + window_of(r) <= now]
    talked = [r for r in contacts if r.get("talked")]
    queued = [r for r in contacts if r.get("queued")]
    return {
        "contacts": len(contacts),
        "repeat_contacts": len(repeats),
        "repeat_call_rate": _share(len(repeats), len(contacts)),
        "first_contact_resolution": {
            "provisional": _share(sum(1 for r in firsts if resolved(r)), len(firsts)),
            "final": _share(sum(1 for r in settled if resolved(r)), len(settled)),
            "first_contacts": len(firsts),
        },
        "open_problems": _open_problems(by_caller, now),
        "agents": _agents(talked, later),
        "time_to_human_seconds": _spread([r["bridged"] - r["arrived"] for r in talked if r.get("bridged")]),
        "time_to_offer_seconds": _spread([r["offered"] - r["arrived"] for r in contacts if r.get("offered")]),
        "zero_outs_by_node": dict(Counter(r["zero_out"] for r in contacts if r.get("zero_out"))),
        "hang_ups_by_node": dict(Counter(r["hung_up_at"] for r in contacts if r.get("hung_up_at"))),
        "queue": {
            "queued": len(queued),
            "answered_within_60s": sum(
                1 for r in queued if r.get("bridged") and r["bridged"] - r["queued"] <= ANSWERED_SOON_SECONDS
            ),
            "abandoned": sum(1 for r in queued if r.get("hung_up_at") == "@hold"),
            "longest_wait_seconds": max((r.get("hold_seconds", 0) for r in queued), default=0),
            "average_wait_seconds": _mean([r.get("hold_seconds", 0) for r in queued]),
        },
        "callbacks": {
            "requested": sum(1 for r in contacts if r.get("callback")),
            "completed": len(completed),
            "failed": sum(1 for c in ended if c.get("outcome") == "failed"),
            "time_to_callback_seconds": _spread([c["settled"] - c["asked"] for c in completed if c.get("asked")]),
        },
        "messages": sum(1 for r in contacts if r.get("message")),
    }


def report(records: list[dict], since: float, now: float, line: str | None = None) -> dict:
    """Every line's metrics (or one line's), as `ivr report --json` prints them."""
    lines: dict[str, list[dict]] = defaultdict(list)
    ended_callbacks: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        (ended_callbacks if record.get("kind") == "callback" else lines)[record.get("line", "")].append(record)
    names = [line] if line else sorted(set(lines) | set(ended_callbacks))
    found = {name: line_metrics(lines.get(name, []), since, now, ended_callbacks.get(name, [])) for name in names}
    return {"since": since, "until": now, "lines": found}


def _open_problems(by_caller: dict[str, list[dict]], now: float) -> int:
    """Callers with two or more contacts in their window whose latest contact was not wrapped up resolved (a
    problem that came back after a resolution is open again), or whose latest wrap-up says not resolved or
    follow-up."""
    count = 0
    for history in by_caller.values():
        recent = [r for r in history if r["arrived"] > now - window_of(r)]
        if not recent:
            continue
        wrapped = [r for r in recent if _wrap(r)]
        latest_wrap = _wrap(max(wrapped, key=lambda r: (r.get("wrap") or {}).get("at", 0))) if wrapped else None
        latest_contact = max(recent, key=lambda r: r["arrived"])
        if latest_wrap in NOT_RESOLVED or (len(recent) >= 2 and _wrap(latest_contact) != "resolved"):
            count += 1
    return count


def _agents(talked: list[dict], later) -> dict:
    """Per person: contacts taken, and problems resolved (taken, wrapped up resolved, no repeat after)."""
    found: dict[str, dict] = {}
    for record in talked:
        person = found.setdefault(record["talked"], {"contacts_taken": 0, "problems_resolved": 0})
        person["contacts_taken"] += 1
        if _wrap(record) == "resolved" and not later(record):
            person["problems_resolved"] += 1
    return dict(sorted(found.items()))


def _wrap(record: dict) -> str | None:
    return (record.get("wrap") or {}).get("outcome")


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _spread(values: list[float]) -> dict:
    """p50, p90 (nearest rank) and max, in seconds; None for each with no values."""
    values = sorted(values)
    if not values:
        return {"p50": None, "p90": None, "max": None}

    def rank(p: int) -> float:
        return round(values[max(0, math.ceil(p / 100 * len(values)) - 1)], 1)

    return {"p50": rank(50), "p90": rank(90), "max": round(values[-1], 1)}
