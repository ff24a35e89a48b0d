"""Business hours and holidays for a line, in its own time zone (pure: the time is passed in)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class Hours:
    """When people answer. No `open` table at all means always open."""

    timezone: str = "UTC"
    open: dict = field(default_factory=dict)  # weekday 0-6 -> ((start minute, end minute), ...)
    holidays: frozenset = frozenset()  # ISO dates, closed all day
    on_call_number: str | None = None  # who 0 reaches out of hours
    always_open: bool = True

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_open(self, now: float) -> bool:
        if self.always_open:
            return True
        local = datetime.fromtimestamp(now, self.zone())
        if local.date().isoformat() in self.holidays:
            return False
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.open.get(local.weekday(), ()))

    def next_opening(self, now: float) -> datetime | None:
        """The next local time the line opens (within two weeks), or None if it never does."""
        if self.always_open:
            return None
        local = datetime.fromtimestamp(now, self.zone())
        for days in range(15):
            day: date = (local + timedelta(days=days)).date()
            if day.isoformat() in self.holidays:
                continue
            for start, _end in sorted(self.open.get(day.weekday(), ())):
                opening = datetime(day.year, day.month, day.day, start // 60, start % 60, tzinfo=self.zone())
                if opening > local:
                    return opening
        return None

    def spoken_next_opening(self, now: float) -> str:
        opening = self.next_opening(now)
        if opening is None:
            return ""
        local = datetime.fromtimestamp(now, self.zone())
        when = opening.strftime("%I:%M %p").lstrip("0").replace(":00", "")
        if opening.date() == local.date():
            return f"We open again today at {when}."
        if opening.date() == local.date() + timedelta(days=1):
            return f"We open again tomorrow at {when}."
        return f"We open again on {opening.strftime('%A')} at {when}."


def parse_days(text: str) -> list[int] | None:
    """'mon', 'mon-fri' or 'sat,sun' -> weekday numbers; None if not understood."""
    result: list[int] = []
    for part in text.lower().replace(" ", "").split(","):
        if "-" in part:
            first, _, last = part.partition("-")
            if first not in DAYS or last not in DAYS:
                return None
            a, b = DAYS.index(first), DAYS.index(last)
            result.extend(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        elif part in DAYS:
            result.append(DAYS.index(part))
        else:
            return None
    return result


def parse_spans(text: str) -> list[tuple[int, int]] | None:
    """'08:00-20:00' or '08:00-12:00, 13:00-17:00' -> minute spans; None if not understood."""
    spans = []
    for part in text.split(","):
        match = _SPAN.match(part.strip())
        if not match:
            return None
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if not (0 <= start < end <= 24 * 60 and m1 < 60 and m2 < 60):
            return None
        spans.append((start, end))
    return spans


def valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
        return True
    except (ZoneInfoNotFoundError, ValueError):
        return False
