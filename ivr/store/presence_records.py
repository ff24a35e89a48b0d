"""Presence records in Redis: one hash (ivr.store.keys.presence), agent id -> JSON {"s": status,
"idle": since, "until": expiry, "call": CallSid}. The rules that read them are in ivr.call.presence.
"""

from __future__ import annotations

import json

from ivr.call.presence import AVAILABLE, AWAY, Presence
from ivr.store import keys, scripts, wake


def parse(raw: str | None) -> Presence:
    if not raw:
        return Presence()
    try:
        data = json.loads(raw)
        return Presence(
            str(data.get("s", AVAILABLE)),
            float(data.get("idle", 0)),
            float(data.get("until", 0)),
            data.get("call"),
            float(data.get("since", 0)),
        )
    except (ValueError, TypeError, AttributeError):
        return Presence()


def dump(p: Presence) -> str:
    data = {"s": p.status, "idle": p.idle_since}
    if p.until:
        data["until"] = p.until
    if p.call:
        data["call"] = p.call
    if p.since:
        data["since"] = p.since
    return json.dumps(data, separators=(",", ":"))


def set_status(r, agent_id: str, status: str, now: float) -> str:
    """Set a person available (idle from now, or from the end of the call they wrapped up) or away, from the
    CLI, the console or the API. Returns "" when set; "after:<ringing|busy>" when a call holds them and the
    choice applies when it ends (away, or available clearing an away chosen during the call); or the status
    of the call holding them when available has nothing to do (a click never offers a second call)."""
    if status not in (AVAILABLE, AWAY):
        raise ValueError(f"status must be {AVAILABLE} or {AWAY}")
    # through the script that keeps the presence indexes in step; the worker, nudged, gives someone who
    # became available the longest-waiting caller straight away
    also = (lambda pipe: wake.nudge(pipe, "available")) if status == AVAILABLE else None
    return scripts.Registered(r).call("status", [keys.presence()], [agent_id, status, now], also=also) or ""


def read_all(r) -> dict[str, Presence]:
    return {agent: parse(raw) for agent, raw in r.hgetall(keys.presence()).items()}
