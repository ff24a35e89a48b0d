"""The people calls go to: agents and supervisors, read from flows/agents.yaml."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from ivr.errors import FlowError, Problem
from ivr.flows import yamlfile
from ivr.flows.fields import Fields
from ivr.flows.yamlfile import Mapping, Sequence

SUPERVISORS = "supervisors"  # the reserved group name that means every supervisor
ROLES = ("agent", "supervisor")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


@dataclass(frozen=True)
class Agent:
    id: str
    name: str
    role: str
    groups: tuple[str, ...]
    number: str | None = None  # E.164, dialled with <Number>
    client: str | None = None  # a Twilio Client identity, dialled with <Client>

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"


@dataclass(frozen=True)
class Directory:
    agents: dict[str, Agent]

    def get(self, agent_id: str | None) -> Agent | None:
        return self.agents.get(agent_id) if agent_id else None

    def group(self, name: str) -> list[Agent]:
        return list(self._members.get(name, ()))

    def supervisors(self) -> list[Agent]:
        return self.group(SUPERVISORS)

    def groups(self) -> set[str]:
        return set(self._members)

    @cached_property
    def sorted_groups(self) -> tuple[str, ...]:
        return tuple(sorted(self._members))

    @cached_property
    def _members(self) -> dict[str, tuple[Agent, ...]]:
        """Group -> its people, built once: webhooks ask for groups on every call, whatever the directory size."""
        members: dict[str, list[Agent]] = {SUPERVISORS: []}
        for agent in self.agents.values():
            for g in agent.groups:
                members.setdefault(g, []).append(agent)
            if agent.is_supervisor:
                members[SUPERVISORS].append(agent)
        return {g: tuple(people) for g, people in members.items()}


def load_directory(path: Path) -> Directory:
    """Read and validate an agents file; raise FlowError naming every problem."""
    file = str(path)
    data = yamlfile.read(path)
    problems: list[Problem] = []
    top = Fields(file, data, None, problems, what="the agents file")
    top.only({"agents"})
    people = top.data.get("agents")
    if not isinstance(people, Sequence) or not people:
        top.problem("'agents' should be a list of people (id, name, number or client, role, groups)", "agents")
        raise FlowError(problems)
    agents: dict[str, Agent] = {}
    for index, entry in enumerate(people):
        agent = _agent(file, entry, people.line_of(index), problems)
        if agent is None:
            continue
        if agent.id in agents:
            problems.append(Problem(file, people.line_of(index), agent.id, "this id is used twice"))
        agents[agent.id] = agent
    if agents and not any(a.is_supervisor for a in agents.values()):
        problems.append(
            Problem(
                file,
                people.line,
                None,
                "no supervisor is listed: callers who cannot be helped need one (role: supervisor)",
            )
        )
    if problems:
        raise FlowError(problems)
    return Directory(agents)


def _agent(file: str, entry, line: int, problems: list[Problem]) -> Agent | None:
    if not isinstance(entry, Mapping):
        problems.append(Problem(file, line, None, "each agent should be a mapping of fields"))
        return None
    agent_id = entry.get("id") if isinstance(entry.get("id"), str) else None
    f = Fields(file, entry, agent_id, problems, what="an agent")
    f.only({"id", "name", "number", "client", "role", "groups"})
    agent_id = f.text("id", required=True)
    if agent_id and not _ID.match(agent_id):
        f.problem("'id' should be lower-case letters, digits, - or _ (for example alex or sam-k)", "id")
    name = f.text("name", required=True) or agent_id or "?"
    role = f.text("role", default="agent")
    if role not in ROLES:
        f.problem(f"'role' should be agent or supervisor, not {role!r}", "role")
    number = f.phone("number")
    client = f.text("client")
    if bool(number) == bool(client):
        f.problem("give exactly one of 'number' (E.164) or 'client' (a Twilio Client identity)")
    groups = f.texts("groups")
    if SUPERVISORS in groups:
        f.problem(f"'{SUPERVISORS}' is not a group to join: give the person role: supervisor", "groups")
    if role == "agent" and not groups:
        f.problem("an agent needs at least one group to answer for", "groups")
    if not agent_id:
        return None
    return Agent(id=agent_id, name=name, role=role or "agent", groups=groups, number=number, client=client)
