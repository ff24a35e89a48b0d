"""Who to ring next for a route: the target's free people, longest idle first, then supervisors."""

from __future__ import annotations

from ivr.call.presence import free_agents
from ivr.flows.directory import Agent, Directory
from ivr.flows.model import Target


def next_people(
    target: Target, directory: Directory, presence: dict, now: float, tried: tuple[str, ...], per_route: int
) -> tuple[Agent, ...]:
    """People to try, in order, for a caller who has already been offered to `tried`.

    A group gets up to `per_route` of its own people (longest idle first); a named agent gets one try.
    Supervisors come after them, longest idle first, when they are escalation: behind people who are
    free, or once own people rang and did not answer. When nobody of the group is free and none has been
    tried, the answer is empty: the caller waits in line for the group rather than taking a supervisor.
    A named agent who is busy or away goes straight to the supervisors (a returning caller's own agent).
    Nobody is rung twice in one round, and only people free now (per `presence`) are offered.
    """
    free = free_agents(presence, directory.agents, now)

    def by_idle(people: list[Agent]) -> list[Agent]:
        return sorted((a for a in people if a.id in free and a.id not in tried), key=lambda a: free[a.id])

    if target.kind == "agent":
        own = [a for a in [directory.get(target.name)] if a is not None]
        budget = 1
    else:
        own = directory.group(target.name)
        budget = len(own) if target.is_supervisors else per_route
    own_tried = sum(1 for a in own if a.id in tried)
    first = by_idle(own)[: max(budget - own_tried, 0)]
    if not first and not own_tried and target.kind == "group":
        return ()
    chosen = {a.id for a in first}
    return tuple(first + [a for a in by_idle(directory.supervisors()) if a.id not in chosen])
