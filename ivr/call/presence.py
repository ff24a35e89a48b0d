"""Agent availability: available by default, ringing while reserved for a call, busy while bridged, or away.

Records live in one Redis hash (ivr.store.keys.presence) as JSON: {"s": status, "idle": since, "until": expiry,
"call": CallSid}. Ringing and busy expire on their own, so a lost callback never strands an agent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ivr.store import keys

AVAILABLE, AWAY, RINGING, BUSY = "available", "away", "ringing", "busy"
STATUSES = (AVAILABLE, AWAY, RINGING, BUSY)
BUSY_AT_MOST = 4 * 3600  # a bridged call whose end we never heard of frees the agent after this


@dataclass(frozen=True)
class Presence:
    status: str = AVAILABLE
    idle_since: float = 0.0  # when they last became free: the longest idle is tried first
    until: float = 0.0
    call: str | None = None


def parse(raw: str | None) -> Presence:
    if not raw:
        return Presence()
    try:
        data = json.loads(raw)
        return Presence(
            str(data.get("s", AVAILABLE)), float(data.get("idle", 0)), float(data.get("until", 0)), data.get("call")
        )
    except (ValueError, TypeError, AttributeError):
        return Presence()


def dump(p: Presence) -> str:
    data = {"s": p.status, "idle": p.idle_since}
    if p.until:
        data["until"] = p.until
    if p.call:
        data["call"] = p.call
    return json.dumps(data, separators=(",", ":"))


def effective(p: Presence, now: float) -> str:
    """The status that holds now: an expired ringing or busy record means available again.

    Mirrored by free_now() in the Lua of ivr.store.scripts; keep the two alike.
    """
    if p.status in (RINGING, BUSY) and p.until and p.until < now:
        return AVAILABLE
    return p.status if p.status in STATUSES else AVAILABLE


def on_duty(records: dict[str, Presence], agent_ids, now: float) -> set[str]:
    """The listed agents who are not away: they take a call when their current one ends."""
    return {a for a in agent_ids if effective(records.get(a, Presence()), now) != AWAY}


def free_agents(records: dict[str, Presence], agent_ids, now: float) -> dict[str, float]:
    """Agent id -> idle-since, for every listed agent who could take a call now."""
    free = {}
    for agent_id in agent_ids:
        p = records.get(agent_id, Presence())
        if effective(p, now) == AVAILABLE:
            free[agent_id] = p.idle_since
    return free


def busy(previous: Presence, call: str, now: float) -> Presence:
    return Presence(BUSY, previous.idle_since, now + BUSY_AT_MOST, call)


def set_status(r, agent_id: str, status: str, now: float) -> None:
    """Set an agent available (idle from now) or away, from the CLI or an agent tool."""
    if status not in (AVAILABLE, AWAY):
        raise ValueError(f"status must be {AVAILABLE} or {AWAY}")
    pipe = r.pipeline(transaction=False)
    pipe.hset(keys.presence(), agent_id, dump(Presence(status, now)))
    if status == AVAILABLE:  # the worker gives them the longest-waiting caller straight away
        nudge_dispatcher(pipe, "available")
    pipe.execute()


WAKE_KEPT = 100


def nudge_dispatcher(pipe, why: str) -> None:
    """Wake the worker (a person freed up, or someone started waiting); trimmed so it never grows unread."""
    pipe.rpush(keys.wake(), why)
    pipe.ltrim(keys.wake(), -WAKE_KEPT, -1)


def read_all(r) -> dict[str, Presence]:
    return {agent: parse(raw) for agent, raw in r.hgetall(keys.presence()).items()}
