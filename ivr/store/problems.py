"""Open problems: callers who called more than once in their window, or whose last call was wrapped up as
not resolved, until a call of theirs is wrapped up resolved (or `ivr calls resolve`). A sorted set by their
latest call, trimmed by age, so a supervisor's screen reads the few newest, whatever the number of callers."""

from __future__ import annotations

from ivr.call.callstate import CallerMemory
from ivr.store import caller_history, keys

SHOWN = 50


def called_again(pipe, caller: str, now: float, window_seconds: int) -> None:
    """Queue the writes for a caller's repeat call (and drop problems older than the window)."""
    pipe.zadd(keys.open_problems(), {caller: now})
    pipe.zremrangebyscore(keys.open_problems(), "-inf", now - window_seconds)


def newest(r, limit: int = SHOWN) -> list[tuple[str, CallerMemory]]:
    """The open problems, newest first, each with the caller's history (two round trips)."""
    callers = r.zrevrange(keys.open_problems(), 0, limit - 1)
    pipe = r.pipeline(transaction=False)
    for caller in callers:
        pipe.hgetall(keys.caller(caller))
    found = []
    for caller, raw in zip(callers, pipe.execute(), strict=True):
        if raw:  # forgotten after the window: no longer a problem anyone can see
            found.append((caller, caller_history.parse(raw)))
    return found
