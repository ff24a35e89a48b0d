"""Agent availability, as rules: available by default, ringing while reserved for a call, busy while bridged,
wrapping up after a call (writing their note; offered nothing), or away. Ringing, busy and wrap-up expire on
their own, so a lost webhook or a forgotten wrap-up never strands an agent (pure; the records
are kept by ivr.store.presence_records, and the indexes a webhook reads by ivr.store.presence_index).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ivr.flows.directory import SUPERVISORS, Directory

AVAILABLE, AWAY, RINGING, BUSY, WRAP_UP = "available", "away", "ringing", "busy", "wrap-up"
STATUSES = (AVAILABLE, AWAY, RINGING, BUSY, WRAP_UP)
HELD = (RINGING, BUSY, WRAP_UP)  # statuses that end by themselves at `until`
BUSY_AT_MOST = 4 * 3600  # a bridged call whose end we never heard of frees the agent after this


@dataclass(frozen=True)
class Presence:
    status: str = AVAILABLE
    idle_since: float = 0.0  # when they last became free: the longest idle is tried first
    until: float = 0.0
    call: str | None = None
    since: float = 0.0  # when the current ringing, call or wrap-up began (for people's screens)


def effective(p: Presence, now: float) -> str:
    """The status that holds now: an expired ringing, busy or wrap-up record means available again.

    Mirrored by free_now() in the Lua of ivr.store.scripts; keep the two alike.
    """
    if p.status in HELD and p.until and p.until < now:
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
    return Presence(BUSY, previous.idle_since, now + BUSY_AT_MOST, call, now)


EVERYONE = "*"  # the index group every person is in


@dataclass(frozen=True)
class Staffing:
    """Who could take a call now, as much of it as one webhook needs, whatever the size of the directory:

    - records: the people it may need by name (the person ringing for the call, a returning caller's own
      person, the person in its URL), a default record for one who has none;
    - free: per group, the first few people free now, longest idle first (supervisors under SUPERVISORS);
    - on_duty: per group, how many people are not away (supervisors who list the group counted in it).
    """

    records: dict[str, Presence] = field(default_factory=dict)
    free: dict[str, tuple[str, ...]] = field(default_factory=dict)
    on_duty: dict[str, int] = field(default_factory=dict)

    def is_free(self, agent_id: str, now: float) -> bool:
        if agent_id in self.records:
            return effective(self.records[agent_id], now) == AVAILABLE
        return any(agent_id in people for people in self.free.values())

    def is_wrapping_up(self, agent_id: str, now: float) -> bool:
        return agent_id in self.records and effective(self.records[agent_id], now) == WRAP_UP

    def is_on_duty(self, agent_id: str, now: float) -> bool:
        return agent_id in self.records and effective(self.records[agent_id], now) != AWAY

    @classmethod
    def from_records(cls, records: dict[str, Presence], directory: Directory, now: float, first: int = 0):
        """The view of a whole set of records (for tools and tests; a webhook reads the indexes instead).
        With `first`, only that many free people per group, as a webhook sees them."""
        free = free_agents(records, directory.agents, now)
        working = on_duty(records, directory.agents, now)
        by_idle = sorted(free, key=lambda a: (free[a], a))
        groups = {**{g: directory.group(g) for g in directory.groups()}, EVERYONE: list(directory.agents.values())}
        members = {g: {a.id for a in people} for g, people in groups.items()}
        return cls(
            {a: records.get(a, Presence()) for a in directory.agents},
            {g: tuple(a for a in by_idle if a in members[g])[: first or None] for g in groups},
            {g: len(members[g] & working) for g in groups},
        )


def index_groups(agent) -> tuple[str, ...]:
    """The indexes a person is in: their groups, SUPERVISORS for a supervisor, and EVERYONE."""
    return (*agent.groups, *((SUPERVISORS,) if agent.is_supervisor else ()), EVERYONE)
