"""After a call: who took it (kept for the caller's repeat window, so its wrap-up can come later), and the
wrap-up itself: an outcome and a note kept with the caller's history, the person who wrapped up offered
calls again at once, and the change recorded with who and when."""

from __future__ import annotations

from dataclasses import dataclass

from ivr.call.callstate import WrapUp
from ivr.store import audit, call_records, caller_history, keys, scripts, wake


@dataclass(frozen=True)
class Taken:
    call: str
    agent: str  # who took it
    caller: str  # HMAC of the caller's number ("" for a withheld number: nothing is remembered of them)
    window: int  # the caller's repeat window, in seconds, on that line


def remember_taker(pipe, call: str, agent: str, caller: str | None, window_seconds: int) -> None:
    """Queue the writes that keep who took a call (in the save of the webhook that bridged it)."""
    key = keys.taken(call)
    pipe.hset(key, mapping={"agent": agent, "caller": caller or "", "window": window_seconds})
    pipe.expire(key, window_seconds)


def taken(r, call: str) -> Taken | None:
    found = r.hgetall(keys.taken(call))
    if not found.get("agent"):
        return None
    return Taken(call, found["agent"], found.get("caller", ""), int(found.get("window", 0) or 0))


def wrap_up(r, taken_call: Taken, wrap: WrapUp) -> bool:
    """Keep the wrap-up with the caller's history and free its person if they are still wrapping up this
    call (they are offered calls again straight away). One round trip. Returns whether they were freed."""

    def build(pipe, shas) -> None:
        pipe.evalsha(shas["wrapped"], 1, keys.presence(), taken_call.agent, taken_call.call, wrap.at)
        if taken_call.caller:
            caller_history.wrap_up(pipe, taken_call.caller, taken_call.call, wrap, taken_call.window)
        wake.nudge(pipe, "available")
        call_records.wrapped(pipe, taken_call.call, wrap)
        detail = f"{wrap.outcome}: {wrap.note}" if wrap.note else wrap.outcome
        audit.record(pipe, audit.Change(wrap.at, wrap.by, "wrap-up", f"call {taken_call.call}", detail))

    replies = scripts.Registered(r).run(build)
    return replies[0] == 1
