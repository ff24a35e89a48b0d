"""The presence indexes: who is free in each group (longest idle first), who is on duty, who is held and until
when, so a webhook reads a few people, never the whole directory (client passed in).

The records stay the truth (ivr.store.presence_records); every Lua script that writes a record updates its
person's indexes in the same step (ivr.store.scripts). The indexes follow the directory: each process that
loads agents.yaml calls sync(), which rebuilds them once per directory, atomically; the dispatcher compares
the fingerprint every round and syncs when it differs, so indexes lost with a Redis that kept nothing come
back by themselves.
"""

from __future__ import annotations

import hashlib

from ivr.call.presence import Presence, Staffing, index_groups
from ivr.flows.directory import Directory
from ivr.store import keys, presence_records, scripts


def members(directory: Directory) -> list[tuple[str, str]]:
    """(agent id, comma-separated index groups) for every person, in a stable order."""
    return sorted((a.id, ",".join(index_groups(a))) for a in directory.agents.values())


def fingerprint(directory: Directory) -> str:
    text = "\n".join(f"{agent} {groups}" for agent, groups in members(directory))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class PresenceIndex:
    """Syncs the indexes with a directory, sets records through them, and reads a webhook's view of them."""

    def __init__(self, r):
        self.r = r
        self.scripts = scripts.Registered(r)
        self._synced: dict[int, str] = {}  # id(directory) -> its fingerprint

    def mark(self, directory: Directory) -> str:
        """The directory's fingerprint, computed once per directory loaded."""
        if id(directory) not in self._synced:
            self._synced = {id(directory): fingerprint(directory)}
        return self._synced[id(directory)]

    def sync(self, directory: Directory, now: float) -> bool:
        """Rebuild the indexes if they were built for another directory (or lost); True when rebuilt."""
        flat = [x for pair in members(directory) for x in pair]
        return self.scripts.call("sync", [keys.people_version()], [self.mark(directory), now, *flat]) == 1

    def put(self, agent_id: str, record: Presence, now: float) -> None:
        """Write one person's record and their indexes with it (the CLI, tools and tests use this)."""
        self.scripts.call("put", [keys.presence()], [agent_id, presence_records.dump(record), now])


def staffing(groups: tuple[str, ...], records: list, free: list, on_duty: list) -> Staffing:
    """A webhook's view from what the LOAD script returned (see ivr.store.scripts.LOAD)."""
    return Staffing(
        {records[i]: presence_records.parse(records[i + 1]) for i in range(0, len(records), 2)},
        {g: tuple(people) for g, people in zip(groups, free, strict=False)},  # none when not read
        dict(zip(groups, (int(n) for n in on_duty), strict=False)),
    )
