"""The record of what people changed (status, wrap-ups and notes, callbacks, messages): who, what, on what,
when, kept in a Redis stream trimmed to a bounded length. Callers appear masked, never by their number."""

from __future__ import annotations

from dataclasses import dataclass

from ivr.store import keys

KEPT = 50_000  # entries, about 10 MB: months of a busy line's changes


@dataclass(frozen=True)
class Change:
    at: float
    who: str  # agent id of the person who made it
    action: str  # "status", "wrap-up", "callback cancel", ...
    subject: str  # what it was done to: a person, a call, a callback request
    detail: str = ""


def record(pipe, change: Change) -> None:
    """Queue the entry on a pipeline (or write it on a client), beside the change it describes."""
    pipe.xadd(
        keys.audit(),
        {
            "at": change.at,
            "who": change.who,
            "action": change.action,
            "subject": change.subject,
            "detail": change.detail,
        },
        maxlen=KEPT,
        approximate=True,
    )


def recent(r, count: int = 50, who: str | None = None) -> list[Change]:
    """The latest changes, newest first (only one person's with `who`, among the latest 10 x count)."""
    found = []
    for _, fields in r.xrevrange(keys.audit(), count=count * 10 if who else count):
        if who and fields.get("who") != who:
            continue
        found.append(
            Change(
                float(fields.get("at", 0)),
                fields.get("who", ""),
                fields.get("action", ""),
                fields.get("subject", ""),
                fields.get("detail", ""),
            )
        )
        if len(found) == count:
            break
    return found
