"""Who to ring next for a route: the target's free people, longest idle first, then supervisors."""

from __future__ import annotations

from ivr.call.presence import Staffing
from ivr.flows.directory import SUPERVISORS, Agent, Directory
from ivr.flows.model import Target


def next_people(
    target: Target, directory: Directory, staffing: Staffing, now: float, tried: tuple[str, ...], per_route: int
) -> tuple[Agent, ...]:
    """People to try, in order, for a caller who has already been offered to `tried`.

    A group gets up to `per_route` of its own people (longest idle first); a named agent gets one try.
    Supervisors come after them, longest idle first, when they are escalation: behind people who are
    free, or once own people rang and did not answer. When nobody of the group is free and none has been
    tried, the answer is empty: the caller waits in line for the group rather than taking a supervisor.
    A named agent who is busy or away goes straight to the supervisors (a returning caller's own agent); one
    still wrapping up is rung (a caller calling straight back, most often after a dropped call).
    Nobody is rung twice in one round, and only people free now (per `staffing`) are offered.
    """

    def untried(group: str) -> list[Agent]:
        people = (directory.get(a) for a in staffing.free.get(group, ()) if a not in tried)
        return [a for a in people if a is not None]

    if target.kind == "agent":
        agent = directory.get(target.name)
        own_tried = 1 if agent is not None and agent.id in tried else 0
        reachable = agent is not None and (staffing.is_free(agent.id, now) or staffing.is_wrapping_up(agent.id, now))
        first = [agent] if reachable and not own_tried else []
    else:
        group = target.name
        budget = len(directory.group(group)) if target.is_supervisors else per_route
        own_tried = sum(1 for a in tried if (p := directory.get(a)) is not None and _in_group(p, group))
        first = untried(group)[: max(budget - own_tried, 0)]
        if not first and not own_tried:
            return ()
    chosen = {a.id for a in first}
    return tuple(first + [a for a in untried(SUPERVISORS) if a.id not in chosen])


def _in_group(agent: Agent, group: str) -> bool:
    return agent.is_supervisor if group == SUPERVISORS else group in agent.groups
