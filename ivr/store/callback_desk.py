"""What people do to callback requests, and what a caller's next call knows of theirs: a pointer in the
caller's history to the request waiting in line (so they are never queued behind their own request), and
cancel, done and assign from the console or the API, each recorded with who and when."""

from __future__ import annotations

from ivr.call.queueing import QueueEntry
from ivr.store import audit, keys, scripts, wake
from ivr.store.caller_history import PENDING_CALLBACK

OK, GONE, BUSY, SETTLED = "ok", "gone", "busy", "settled"


def remember_pending(pipe, caller: str, entry: QueueEntry) -> None:
    """Queue the write of the pointer (the caller's hash keeps its window's expiry, set beside it)."""
    pipe.hset(keys.caller(caller), PENDING_CALLBACK, entry.to_json())


def manage(r, request_id: str, action: str, who: str, now: float, entry: QueueEntry | None = None) -> str:
    """cancel, done, merged, or assign (with the new entry: back in line at its place, its person first).
    Returns OK, GONE, BUSY (an attempt is being placed now) or SETTLED."""
    queue_id = entry.id if entry is not None else f"cb:{request_id}"
    result = scripts.Registered(r).call(
        "manage",
        [keys.callback(request_id)],
        [action, queue_id, entry.to_json() if entry else "", now, who],
        also=(lambda pipe: wake.nudge(pipe, "assigned")) if action == "assign" else None,
    )
    if result == OK:
        detail = entry.prefer if (action == "assign" and entry) else ""
        audit.record(r, audit.Change(now, who, f"callback {action}", f"callback {request_id}", detail or ""))
    return result
