"""What a day's tiles count, decided where the call logic knows it (pure): a caller who reached a person,
within 60 seconds of calling or later, and a caller who hung up while waiting for one (abandoned)."""

from __future__ import annotations

import datetime

from ivr.flows.model import Flow

ANSWERED, ANSWERED_SOON, ABANDONED = "answered", "answered-60s", "abandoned"
COUNTED = (ANSWERED, ANSWERED_SOON, ABANDONED)
SOON_SECONDS = 60
GAVE_UP = ("hung up while waiting in line", "hung up while being connected", "hung up while ringing")


def day_of(flow: Flow, now: float) -> str:
    """The day in the line's own time zone: 'today' is the line's today."""
    return datetime.datetime.fromtimestamp(now, flow.settings.hours.zone()).date().isoformat()


def on_answer(started: float, now: float) -> tuple[str, ...]:
    return (ANSWERED, ANSWERED_SOON) if now - started <= SOON_SECONDS else (ANSWERED,)


def on_end(outcome: str | None) -> tuple[str, ...]:
    return (ABANDONED,) if outcome in GAVE_UP else ()
