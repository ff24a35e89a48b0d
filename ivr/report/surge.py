"""When a menu choice surges (pure): many callers choosing the same option at once is a fault they are all
reporting. The rule: at least `minimum` callers in the last `window` seconds, and at least `factor` times the
option's usual count for a window of that length over the past `history` seconds (with no history, the
minimum alone)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SurgeRule:
    minimum: int = 10
    window_seconds: int = 15 * 60
    factor: float = 4.0
    history_seconds: int = 7 * 86400


def usual(earlier: int, rule: SurgeRule) -> float:
    """The option's average count per window over the history before the current window."""
    return earlier / (rule.history_seconds / rule.window_seconds)


def surging(recent: int, earlier: int, rule: SurgeRule) -> bool:
    """`recent`: choices in the current window; `earlier`: in the history before it."""
    return recent >= rule.minimum and recent >= rule.factor * usual(earlier, rule)
