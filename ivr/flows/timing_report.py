"""What `ivr check` says about time to a person: the refusal over budget, the warnings, the table."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ivr.errors import Problem
from ivr.flows.model import Flow, Goodbye
from ivr.flows.timing import FlowTiming, time_to_human


def _seconds(value: float) -> str:
    return f"{value:.1f} s"


def budget_problems(timing: FlowTiming) -> list[Problem]:
    """The hard failure: the first offer of a person comes later than the flow's budget."""
    if timing.within_budget:
        return []
    what = "before a person's phone rings" if timing.offer_connects else "before being offered a person"
    return [_at_the_offer(timing, f"{what} (budget {timing.budget} s)")]


def check_budgets(flows: Iterable[Flow], audio_seconds: Mapping[str, float] | None = None) -> list[Problem]:
    """budget_problems for every flow (recordings lasting their measured AUDIO_SECONDS)."""
    return [p for flow in flows for p in budget_problems(time_to_human(flow, audio_seconds))]


def first_offer_warnings(timing: FlowTiming) -> list[Problem]:
    """A warning, not a failure: callers wait longer than the flow's warning limit to hear that 0 is there."""
    limit = timing.flow.settings.first_offer_warning_seconds
    if timing.first_offer is None or timing.first_offer <= limit or not timing.within_budget:
        return []
    return [
        _at_the_offer(
            timing, f"before they learn 0 reaches a person (warning over {limit} s; shorten what comes first)"
        )
    ]


def _at_the_offer(timing: FlowTiming, what: str) -> Problem:
    """A problem at the node of the first offer: how long callers listen before it, and to what."""
    node = timing.flow.nodes[timing.offer_node]
    path = " -> ".join(str(step) for step in timing.offer_path)
    return Problem(
        timing.flow.file, node.line, node.id, f"callers hear {_seconds(timing.first_offer)} of prompts {what}: {path}"
    )


def summary(timing: FlowTiming) -> str:
    """One line per line: when a person is first offered, against the warning limit and the budget."""
    limit = timing.flow.settings.first_offer_warning_seconds
    if timing.first_offer is None:
        return f"{timing.flow.name}: no person is offered (the call ends first)"
    how = "put through to a person" if timing.offer_connects else "offered a person (0)"
    return (
        f"{timing.flow.name}: callers are {how} {_seconds(timing.first_offer)} after the call is answered, "
        f"at '{timing.offer_node}' (warning over {limit} s, budget {timing.budget} s)"
    )


def late_nodes(timing: FlowTiming) -> list[Problem]:
    """The warnings: nodes from which a person is further away than the budget (however the caller got there)."""
    warnings = []
    for t in timing.nodes.values():
        if t.over_budget:
            path = " -> ".join(str(step) for step in t.path)
            warnings.append(
                Problem(
                    timing.flow.file,
                    t.line,
                    t.node,
                    f"from here a person's phone rings {_seconds(t.to_person - t.reach)} later at "
                    f"the earliest (budget {timing.budget} s): {path}",
                )
            )
    return warnings


HEADERS = ("node", "type", "reach s", "offered s", "to a person s", "barge-in reach s", "barge-in person s", "note")


def rows(timing: FlowTiming) -> list[tuple[str, ...]]:
    """The table `ivr check` prints: one row per node, in the file's order."""

    def figure(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    table = []
    for t in timing.nodes.values():
        notes = []
        if t.node == timing.offer_node:
            notes.append("puts through to a person" if timing.offer_connects else "offers a person (0)")
        if t.recorded:
            notes.append("recorded")
        if t.kind == Goodbye.kind:
            notes.append("call ends")
        if t.over_budget:
            notes.append(f"over budget ({timing.budget} s)")
        table.append(
            (
                t.node,
                t.kind,
                figure(t.reach),
                figure(t.offered),
                figure(t.to_person),
                figure(t.reach_floor),
                figure(t.to_person_floor),
                "; ".join(notes),
            )
        )
    return table
