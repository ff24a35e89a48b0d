"""The record of every call (ivr.call.call_record), and the wrap-ups written of them later, in one Redis
stream trimmed by time (its entry ids are milliseconds): kept RETENTION_DAYS, durable with the store, read a
period at a time for reports and exports. A record written twice (a re-sent pipeline) is read once."""

from __future__ import annotations

import json
from collections.abc import Iterator

from ivr.call.callstate import WrapUp
from ivr.store import keys

RETENTION_DAYS = 35
PAGE = 1000  # entries read per round trip


def append(pipe, record: dict, now: float, retention_days: int = RETENTION_DAYS) -> None:
    """Queue the record of an ended call, and trim what is older than the retention."""
    pipe.xadd(
        keys.records(),
        {"r": json.dumps(record, separators=(",", ":"))},
        minid=_ms(now - retention_days * 86400),
        approximate=True,
    )


def callback_settled(pipe, request: dict, outcome: str, now: float) -> None:
    """Queue the record of a callback request that ended: "completed" (a person talked with the customer)
    or "failed" (its last try, or its number lost: a supervisor's list)."""
    settled = {
        "kind": "callback",
        "call": request.get("id", ""),
        "line": request.get("flow", ""),
        "caller": request.get("caller") or "",
        "asked": request.get("since"),
        "settled": round(now, 3),
        "outcome": outcome,
    }
    pipe.xadd(keys.records(), {"c": json.dumps(settled, separators=(",", ":"))})


def wrapped(pipe, call: str, wrap: WrapUp) -> None:
    """Queue a wrap-up of a call, kept beside its record (it may come long after the call)."""
    pipe.xadd(keys.records(), {"w": wrap.to_json(), "call": call})


def read(r, since: float, until: float | None = None) -> list[dict]:
    """The records of calls that ended in [since, until], oldest first, each with its latest wrap-up (as
    "wrap": {outcome, note, by, at}) when one was written by `until`; and the callback requests that ended
    then ("kind": "callback")."""
    records: dict[str, dict] = {}
    wraps: dict[str, dict] = {}
    for fields in _entries(r, since, until):
        if "r" in fields or "c" in fields:  # a call's record, or a callback request's end ("kind": "callback")
            record = _json(fields.get("r") or fields["c"])
            if record.get("call"):
                records[f"{record.get('kind', 'call')}:{record['call']}"] = record
        elif "w" in fields and fields.get("call"):
            wraps[fields["call"]] = _json(fields["w"])
    for call, wrap in wraps.items():
        if f"call:{call}" in records:
            records[f"call:{call}"]["wrap"] = wrap
    return sorted(records.values(), key=lambda rec: rec.get("ended", 0))


def _entries(r, since: float, until: float | None) -> Iterator[dict]:
    start, end = str(_ms(since)), str(_ms(until)) if until is not None else "+"
    while True:
        page = r.xrange(keys.records(), start, end, count=PAGE)
        yield from (fields for _, fields in page)
        if len(page) < PAGE:
            return
        start = "(" + page[-1][0]


def _ms(moment: float) -> int:
    return max(0, int(moment * 1000))


def _json(raw: str) -> dict:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
