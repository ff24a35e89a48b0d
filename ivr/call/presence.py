"""Agent availability, as rules: available by default, ringing while reserved for a call, busy while bridged,
or away. Ringing and busy expire on their own, so a lost webhook never strands an agent (pure; the records
are kept by ivr.store.presence_records).
"""

from __future__ import annotations

from dataclasses import dataclass

AVAILABLE, AWAY, RINGING, BUSY = "available", "away", "ringing", "busy"
STATUSES = (AVAILABLE, AWAY, RINGING, BUSY)
BUSY_AT_MOST = 4 * 3600  # a bridged call whose end we never heard of frees the agent after this


@dataclass(frozen=True)
class Presence:
    status: str = AVAILABLE
    idle_since: float = 0.0  # when they last became free: the longest idle is tried first
    until: float = 0.0
    call: str | None = None


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
