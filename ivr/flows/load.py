"""Reading a flow file: every field checked, every mistake reported at its line with its node, and the
graph checked (unknown targets, unreachable nodes, loops no caller could leave) before any caller hears it.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import replace
from datetime import date
from pathlib import Path

from ivr.errors import FlowError, Problem
from ivr.flows import hours as hours_rules
from ivr.flows import yamlfile
from ivr.flows.directory import Directory
from ivr.flows.fields import Fields
from ivr.flows.hours import Hours
from ivr.flows.model import (
    KEYS,
    NODE_TYPES,
    OPERATOR_KEY,
    OPERATOR_WORDS,
    PASSES_ON,
    CallbackPolicy,
    Flow,
    Goodbye,
    Goto,
    Menu,
    Message,
    Node,
    Option,
    QueuePolicy,
    RepeatPolicy,
    ReportingPolicy,
    Route,
    Settings,
    Target,
    exits,
)
from ivr.flows.yamlfile import Mapping, Sequence

_NODE_ID = re.compile(r"^[A-Za-z0-9_-]{1,60}$")


def load_flow(path: Path, directory: Directory) -> Flow:
    """Read and validate one flow file against the agents directory; raise FlowError naming every problem."""
    file = str(path)
    data = yamlfile.read(path)
    problems: list[Problem] = []
    flow = _read_flow(file, path.stem, data, directory, problems)
    if flow is not None:
        flow = replace(flow, version=hashlib.sha256(path.read_bytes()).hexdigest()[:10])
    if flow is not None:
        _check_graph(flow, set(data.get("nodes") or ()), problems)
    if problems or flow is None:
        raise FlowError(problems)
    return flow


def _read_flow(file, stem, data, directory, problems) -> Flow | None:
    top = Fields(file, data, None, problems, what="the flow file")
    top.only({"name", "numbers", "default", "start", "settings", "nodes"})
    numbers = top.texts("numbers")
    for number in numbers:
        if not re.match(r"^\+[1-9]\d{6,14}$", number):
            top.problem(f"'numbers' should hold E.164 numbers such as +15551234567, not {number!r}", "numbers")
    start = top.text("start", required=True)
    settings = _read_settings(top.mapping("settings"), directory)
    raw_nodes = top.data.get("nodes")
    if not isinstance(raw_nodes, Mapping) or not raw_nodes:
        top.problem("'nodes' should map node names to nodes (menu, message, route, goto, goodbye)", "nodes")
        return None
    nodes = {}
    for node_id, raw in raw_nodes.items():
        line = raw_nodes.line_of(node_id)
        if not _NODE_ID.match(str(node_id)):
            problems.append(Problem(file, line, str(node_id), "node names may use letters, digits, - and _ only"))
            continue
        node = _read_node(Fields(file, raw, node_id, problems, what="a node"), node_id, line, directory)
        if node is not None:
            nodes[node_id] = node
    if start and start not in raw_nodes:
        top.problem(f"'start' names '{start}', which is not a node", "start")
    return Flow(
        name=top.text("name") or stem,
        file=file,
        numbers=numbers,
        default=top.flag("default"),
        start=start or "",
        nodes=nodes,
        settings=settings,
    )


def _read_settings(f: Fields, directory: Directory) -> Settings:
    f.only(
        {
            "voice",
            "language",
            "ring_seconds",
            "agents_per_route",
            "operator",
            "fallback_number",
            "repeat_callers",
            "hours",
            "queue",
            "callbacks",
            "voicemail_max_seconds",
            "wrap_up_seconds",
            "reporting",
            "hold_music",
            "time_to_human_budget_seconds",
            "first_offer_warning_seconds",
        }
    )
    d = Settings()
    queue = f.mapping("queue")
    queue.only({"max_hold_seconds", "offer_every_seconds", "prior_agent_wait_seconds"})
    callbacks = f.mapping("callbacks")
    callbacks.only({"max_attempts", "retry_minutes"})
    reporting = f.mapping("reporting")
    reporting.only({"repeat_window_days", "incident_min_reports", "incident_window_minutes", "incident_factor"})
    repeat = f.mapping("repeat_callers")
    repeat.only({"window_hours", "prior_agent_from_call", "supervisor_from_call"})
    operator = _read_operator(f, directory) or d.operator
    repeat_policy = RepeatPolicy(
        window_hours=repeat.integer("window_hours", 72, 1, 24 * 90),
        prior_agent_from_call=repeat.integer("prior_agent_from_call", 2, 2, 99),
        supervisor_from_call=repeat.integer("supervisor_from_call", 3, 2, 99),
    )
    if repeat_policy.prior_agent_from_call > repeat_policy.supervisor_from_call:
        repeat.problem(
            "'prior_agent_from_call' is later than 'supervisor_from_call', so it would never apply",
            "prior_agent_from_call",
        )
    return Settings(
        voice=f.text("voice", d.voice),
        language=f.text("language", d.language),
        ring_seconds=f.integer("ring_seconds", d.ring_seconds, 5, 60),
        agents_per_route=f.integer("agents_per_route", d.agents_per_route, 1, 10),
        operator=operator or d.operator,
        fallback_number=f.phone("fallback_number"),
        repeat=repeat_policy,
        hours=_read_hours(f),
        queue=QueuePolicy(
            max_hold_seconds=queue.integer("max_hold_seconds", 60, 15, 600),
            offer_every_seconds=queue.integer("offer_every_seconds", 60, 30, 600),
            prior_agent_wait_seconds=queue.integer("prior_agent_wait_seconds", 120, 0, 1800),
        ),
        callbacks=CallbackPolicy(
            max_attempts=callbacks.integer("max_attempts", 3, 1, 10),
            retry_minutes=callbacks.integer("retry_minutes", 5, 1, 240),
        ),
        voicemail_seconds=f.integer("voicemail_max_seconds", 120, 10, 600),
        wrap_up_seconds=f.integer("wrap_up_seconds", d.wrap_up_seconds, 0, 1800),
        reporting=ReportingPolicy(
            repeat_window_days=reporting.integer("repeat_window_days", 7, 1, 90),
            incident_min_reports=reporting.integer("incident_min_reports", 10, 2, 10_000),
            incident_window_minutes=reporting.integer("incident_window_minutes", 15, 1, 24 * 60),
            incident_factor=reporting.integer("incident_factor", 4, 1, 100),
        ),
        hold_music=f.text("hold_music"),
        time_to_human_budget_seconds=f.integer("time_to_human_budget_seconds", d.time_to_human_budget_seconds, 5, 600),
        first_offer_warning_seconds=f.integer("first_offer_warning_seconds", d.first_offer_warning_seconds, 1, 600),
    )


def _read_hours(f: Fields) -> Hours:
    """`hours:` with a time zone, the open days and times, holidays and an on-call number."""
    if "hours" not in f.data:
        return Hours()
    h = f.mapping("hours")
    h.only({"timezone", "open", "holidays", "on_call_number"})
    zone = h.text("timezone", "UTC") or "UTC"
    if not hours_rules.valid_zone(zone):
        h.problem(f"'timezone' should be a time zone name such as America/New_York, not {zone!r}", "timezone")
        zone = "UTC"
    table: dict[int, tuple] = {}
    raw = h.data.get("open")
    if not isinstance(raw, Mapping) or not raw:
        h.problem("'open' should list days and times, such as  mon-fri: 08:00-20:00", "open")
    else:
        for days, spans in raw.items():
            weekdays = hours_rules.parse_days(str(days))
            times = hours_rules.parse_spans(spans) if isinstance(spans, str) else None
            if weekdays is None:
                h.problem(f"{days!r} is not a day or range of days (mon, tue, ... or mon-fri)", line=raw.line_of(days))
            elif times is None:
                h.problem(
                    f"{spans!r} should be times such as 08:00-20:00 (or 08:00-12:00, 13:00-17:00)",
                    line=raw.line_of(days),
                )
            else:
                for day in weekdays:
                    table[day] = tuple(sorted((*table.get(day, ()), *times)))
    holidays = h.texts("holidays")
    for day in holidays:
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
                raise ValueError(day)
            date.fromisoformat(day)
        except ValueError:
            h.problem(f"holiday {day!r} should be a date such as 2026-12-25", "holidays")
    return Hours(
        timezone=zone,
        open=table,
        holidays=frozenset(holidays),
        on_call_number=h.phone("on_call_number"),
        always_open=False,
    )


def _read_operator(f: Fields, directory: Directory) -> Target | None:
    """An optional `operator:` block: who 0 and the person words reach."""
    if "operator" not in f.data:
        return None
    block = f.mapping("operator")
    block.only({"group", "agent"})
    return _read_target(block, directory)


def _read_target(f: Fields, directory: Directory) -> Target | None:
    """A person to reach: `group: NAME` (supervisors is a group) or `agent: ID`."""
    group, agent = f.text("group"), f.text("agent")
    if bool(group) == bool(agent):
        f.problem("give exactly one of 'group' (a group from agents.yaml, or supervisors) or 'agent' (an id)")
        return None
    if group:
        if not directory.group(group):
            known = ", ".join(sorted(directory.groups()))
            hint = did_you_mean(group, directory.groups())
            f.problem(f"no one in agents.yaml answers for the group '{group}'{hint} (groups: {known})", "group")
        return Target("group", group)
    if directory.get(agent) is None:
        f.problem(f"there is no agent '{agent}' in agents.yaml{did_you_mean(agent, directory.agents)}", "agent")
    return Target("agent", agent)


def _read_node(f: Fields, node_id: str, line: int, directory: Directory) -> Node | None:
    kind = f.text("type", required=True)
    if kind not in NODE_TYPES:
        if kind:
            f.problem(f"'type' should be one of {', '.join(NODE_TYPES)}, not {kind!r}", "type")
        return None
    if kind == "menu":
        f.only({"type", "say", "play", "options", "operator", "timeout"})
        return Menu(
            node_id,
            line,
            say=f.text("say", required=True) or "",
            options=_read_options(f),
            operator=_read_operator(f, directory),
            timeout=f.integer("timeout", 6, 2, 30),
            play=f.text("play"),
        )
    if kind == "message":
        f.only({"type", "say", "play", "next", "outcome"})
        return Message(
            node_id,
            line,
            say=f.text("say", required=True) or "",
            next=_next(f, kind) or "",
            next_line=f.line("next"),
            outcome=f.text("outcome"),
            play=f.text("play"),
        )
    if kind == "route":
        f.only({"type", "say", "group", "agent"})
        return Route(node_id, line, say=f.text("say", "") or "", target=_read_target(f, directory))
    if kind == "goto":
        f.only({"type", "next"})
        return Goto(node_id, line, next=_next(f, kind) or "", next_line=f.line("next"))
    f.only({"type", "say", "play", "outcome"})
    return Goodbye(
        node_id, line, say=f.text("say", required=True) or "", outcome=f.text("outcome"), play=f.text("play")
    )


def _next(f: Fields, kind: str) -> str | None:
    target = f.text("next")
    if not target:
        f.problem(
            f"a {kind} node is a dead end without 'next': say where the caller goes after it "
            "(use a goodbye node to end the call on purpose)"
        )
    return target


def _read_options(f: Fields) -> tuple[Option, ...]:
    raw = f.data.get("options")
    if not isinstance(raw, Sequence) or not raw:
        f.problem("a menu needs 'options': a list of choices, each with a key and/or words and a next node", "options")
        return ()
    options, keys, words_seen = [], set(), set()
    for index, item in enumerate(raw):
        line = raw.line_of(index)
        o = Fields(f.file, item, f.node, f.problems, what="an option")
        o.only({"key", "words", "label", "next"})
        key = o.text("key")
        words = tuple(w.lower() for w in o.texts("words") if w)
        target = o.text("next")
        if key == OPERATOR_KEY:
            o.problem("key 0 is kept for reaching a person from every menu; choose another key", "key")
        elif key is not None and key not in KEYS:
            o.problem(f"'key' should be one of 1-9, * or #, not {key!r}", "key")
        elif key is not None and key in keys:
            o.problem(f"key {key} is used twice in this menu", "key")
        for word in words:
            if any(re.search(rf"\b{re.escape(w)}\b", word) for w in OPERATOR_WORDS):
                o.problem(f"the words {word!r} are kept for reaching a person from every menu", "words")
            if word in words_seen:
                o.problem(f"the words {word!r} are used twice in this menu", "words")
            words_seen.add(word)
        if key is None:
            o.problem(
                "an option needs a 'key': callers who cannot or will not speak must be able to press it", line=line
            )
        if not target:
            o.problem("an option needs 'next': the node it leads to", line=line)
        keys.add(key)
        label = o.text("label") or (words[0] if words else target) or ""
        options.append(Option(key=key, words=words, label=label, next=target or "", next_line=o.line("next") or line))
    return tuple(options)


def _check_graph(flow: Flow, declared: set[str], problems: list[Problem]) -> None:
    """Unknown targets, unreachable nodes and loops no caller could leave.

    Reachability and loops are judged only on a flow whose nodes all loaded, so one typo is not
    reported three times.
    """

    def where(node: Node, message: str, line: int | None = None) -> None:
        problems.append(Problem(flow.file, line or node.line, node.id, message))

    for node in flow.nodes.values():
        for target, line in _targets(node):
            if target not in declared:
                where(
                    node,
                    f"'next' names '{target}', which is not a node in this file{did_you_mean(target, declared)}",
                    line,
                )
    if problems:
        return
    seen, todo = set(), [flow.start]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(exits(flow.nodes[current]))
    for node in flow.nodes.values():
        if node.id not in seen:
            where(node, f"no caller can reach this node from the start node '{flow.start}'")
    # message and goto nodes pass the caller on with no choice: a cycle made only of them never ends.
    reported: set[str] = set()
    for node in flow.nodes.values():
        chain: list[str] = []
        current = node
        while isinstance(current, PASSES_ON) and current.id not in chain:
            chain.append(current.id)
            current = flow.nodes[current.next]
        if current.id in chain and not reported & set(chain):
            loop = chain[chain.index(current.id) :]
            reported.update(loop)
            where(
                flow.nodes[loop[0]],
                "loops with no way out: " + " -> ".join([*loop, loop[0]]) + " (add a menu, a route or a goodbye)",
            )


def _targets(node: Node) -> list[tuple[str, int]]:
    """Each node a caller can go to from NODE, with the line of the `next:` that names it."""
    if isinstance(node, Menu):
        return [(o.next, o.next_line) for o in node.options if o.next]
    if isinstance(node, PASSES_ON) and node.next:
        return [(node.next, node.next_line)]
    return []


def did_you_mean(name: str, known) -> str:
    """' (did you mean 'billing'?)' when a known name is close to NAME, else ''."""
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""
