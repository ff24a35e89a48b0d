"""Incidents: many callers making the same menu choice at once, noticed by the line itself (ivr.report.surge
decides), confirmed by a supervisor with a message callers then hear, and closed. Every choice is kept a
week per line and option; detection reads only the options chosen in the current window."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from ivr.report.surge import SurgeRule, surging
from ivr.store import audit, keys

SUSPECTED, CONFIRMED, CLOSED = "suspected", "confirmed", "closed"
KEPT_SECONDS = 8 * 86400  # a week of history before the current window, and a day to spare


@dataclass(frozen=True)
class Incident:
    id: str
    line: str
    option: str  # "menu:key"
    label: str  # what callers chose, in words
    status: str
    first_report: float
    detected_at: float
    reports: int  # callers who made the choice from its first report (to its close)
    message: str = ""
    confirmed_at: float = 0.0
    confirmed_by: str = ""
    closed_at: float = 0.0
    closed_by: str = ""
    texts_asked: int = 0


def chose(pipe, line: str, option: str, call: str, now: float) -> None:
    """Queue the writes that count a caller's choice (in the save of the webhook that took it)."""
    pipe.zadd(keys.choices(line, option), {call: now})
    pipe.zremrangebyscore(keys.choices(line, option), "-inf", now - KEPT_SECONDS)
    pipe.zadd(keys.choice_keys(), {f"{line}|{option}": now})


def detect(
    r, now: float, rule: SurgeRule, labels: dict[tuple[str, str], str], rules: dict[str, SurgeRule] | None = None
) -> list[Incident]:
    """Raise an incident for every option surging now that has none open; returns the new ones. `rules`:
    a line's own rule (its flow's settings), else `rule`."""
    rules = rules or {}
    longest = max((x.window_seconds for x in (rule, *rules.values())), default=rule.window_seconds)
    active = r.zrangebyscore(keys.choice_keys(), now - longest, "+inf")
    pairs = [tuple(a.split("|", 1)) for a in active if "|" in a]
    if not pairs:
        return []
    pipe = r.pipeline(transaction=False)
    for line, option in pairs:
        key, window = keys.choices(line, option), rules.get(line, rule).window_seconds
        pipe.zrangebyscore(key, now - window, now, withscores=True)
        pipe.zcount(key, now - window - rules.get(line, rule).history_seconds, f"({now - window}")
        pipe.exists(keys.incident_open(line, option))
    replies = pipe.execute()
    raised = []
    for n, (line, option) in enumerate(pairs):
        recent, earlier, already = replies[3 * n], replies[3 * n + 1], replies[3 * n + 2]
        if already or not surging(len(recent), earlier, rules.get(line, rule)):
            continue
        incident = Incident(
            id=secrets.token_hex(4),
            line=line,
            option=option,
            label=labels.get((line, option), option),
            status=SUSPECTED,
            first_report=min(score for _, score in recent),
            detected_at=now,
            reports=len(recent),
        )
        if r.set(keys.incident_open(line, option), incident.id, nx=True):  # one open incident per option
            _write(r, incident)
            raised.append(incident)
    return raised


def confirm(r, incident_id: str, message: str, who: str, now: float) -> Incident | None:
    """A supervisor confirms: from now on callers who make that choice hear the message."""
    incident = one(r, incident_id)
    if incident is None or incident.status == CLOSED:
        return incident
    pipe = r.pipeline(transaction=True)
    pipe.hset(
        keys.incident(incident_id),
        mapping={"status": CONFIRMED, "message": message, "confirmed_at": now, "confirmed_by": who},
    )
    heard = {"id": incident_id, "message": message, "label": incident.label, "since": incident.first_report}
    pipe.hset(keys.announcements(), f"{incident.line}|{incident.option}", json.dumps(heard))
    audit.record(pipe, audit.Change(now, who, "incident confirm", f"incident {incident_id}", message))
    pipe.execute()
    return one(r, incident_id)


def close(r, incident_id: str, who: str, now: float) -> Incident | None:
    """Fixed: callers no longer hear the message; the texts promised go out (the worker sends them)."""
    incident = one(r, incident_id)
    if incident is None or incident.status == CLOSED:
        return incident
    pipe = r.pipeline(transaction=True)
    pipe.hset(keys.incident(incident_id), mapping={"status": CLOSED, "closed_at": now, "closed_by": who})
    pipe.hdel(keys.announcements(), f"{incident.line}|{incident.option}")
    pipe.delete(keys.incident_open(incident.line, incident.option))
    pipe.sadd(keys.incidents_texting(), incident_id)  # the worker sends the texts promised, then forgets it
    audit.record(pipe, audit.Change(now, who, "incident close", f"incident {incident_id}", ""))
    pipe.execute()
    return one(r, incident_id)


def announcements(r) -> dict[tuple[str, str], dict]:
    """Confirmed incidents' messages by (line, option), each with how many callers reported it so far."""
    found = {}
    for where, raw in r.hgetall(keys.announcements()).items():
        line, _, option = where.partition("|")
        try:
            found[(line, option)] = json.loads(raw)
        except ValueError:
            continue
    pipe = r.pipeline(transaction=False)
    for (line, option), notice in found.items():
        pipe.zcount(keys.choices(line, option), float(notice.get("since", 0)), "+inf")
    for notice, reports in zip(found.values(), pipe.execute(), strict=True):
        notice["reports"] = reports
    return found


def ask_text(pipe, incident_id: str, call: str, sealed_number: str) -> None:
    """Queue the write of a caller's request for a text when the incident is fixed (the number sealed)."""
    pipe.hsetnx(keys.incident_texts(incident_id), call, sealed_number)
    pipe.expire(keys.incident_texts(incident_id), 30 * 86400)


def listing(r, limit: int = 50) -> list[Incident]:
    """The newest incidents first (three round trips, however many)."""
    ids = r.zrevrange(keys.incidents(), 0, limit - 1)
    pipe = r.pipeline(transaction=False)
    for incident_id in ids:
        pipe.hgetall(keys.incident(incident_id))
    found = [(i, data) for i, data in zip(ids, pipe.execute(), strict=True) if data.get("line")]
    return _with_counts(r, found)


def one(r, incident_id: str) -> Incident | None:
    data = r.hgetall(keys.incident(incident_id))
    found = _with_counts(r, [(incident_id, data)]) if data.get("line") else []
    return found[0] if found else None


def _with_counts(r, found: list[tuple[str, dict]]) -> list[Incident]:
    """Incidents from their hashes, with the callers who reported each (to its close) and the texts asked."""
    pipe = r.pipeline(transaction=False)
    for incident_id, data in found:
        until = float(data.get("closed_at") or 0) or "+inf"
        pipe.zcount(keys.choices(data["line"], data["option"]), float(data["first_report"]), until)
        pipe.hlen(keys.incident_texts(incident_id))
    counts = pipe.execute()
    return [
        Incident(
            id=incident_id,
            line=data["line"],
            option=data["option"],
            label=data.get("label", data["option"]),
            status=data.get("status", SUSPECTED),
            first_report=float(data["first_report"]),
            detected_at=float(data["detected_at"]),
            reports=counts[2 * n],
            message=data.get("message", ""),
            confirmed_at=float(data.get("confirmed_at") or 0),
            confirmed_by=data.get("confirmed_by", ""),
            closed_at=float(data.get("closed_at") or 0),
            closed_by=data.get("closed_by", ""),
            texts_asked=counts[2 * n + 1],
        )
        for n, (incident_id, data) in enumerate(found)
    ]


def _write(r, incident: Incident) -> None:
    pipe = r.pipeline(transaction=True)
    pipe.hset(
        keys.incident(incident.id),
        mapping={
            "line": incident.line,
            "option": incident.option,
            "label": incident.label,
            "status": incident.status,
            "first_report": incident.first_report,
            "detected_at": incident.detected_at,
        },
    )
    pipe.zadd(keys.incidents(), {incident.id: incident.detected_at})
    pipe.execute()


def texting(r) -> list[str]:
    """Closed incidents with texts still to send."""
    return sorted(r.smembers(keys.incidents_texting()))


def texts_due(r, incident_id: str) -> list[str]:
    """The calls whose callers still wait for this incident's text (once none is left, the incident leaves
    the list)."""
    due = r.hkeys(keys.incident_texts(incident_id))
    if not due:
        r.srem(keys.incidents_texting(), incident_id)
    return due


def take_text(r, incident_id: str, call: str) -> str | None:
    """Take one promised text to send (its sealed number), so no other worker sends it too; None if taken."""
    pipe = r.pipeline(transaction=True)
    pipe.hget(keys.incident_texts(incident_id), call)
    pipe.hdel(keys.incident_texts(incident_id), call)
    sealed, taken = pipe.execute()
    return sealed if taken else None


def give_back_text(r, incident_id: str, call: str, sealed: str) -> None:
    """A text Twilio did not take: kept for the next pass."""
    r.hsetnx(keys.incident_texts(incident_id), call, sealed)
