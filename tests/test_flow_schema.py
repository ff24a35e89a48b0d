"""The editor schemas in flows/ agree with the loader: what one accepts the other accepts, field for field.

Editors parse YAML the plain way (yaml.safe_load here), so the schemas are checked against that parse,
and every broken snippet is fed to the real loader too, which must name the right line and node.
"""

from __future__ import annotations

import datetime
import json
import re
import textwrap
import zoneinfo
from pathlib import Path

import jsonschema
import pytest
import yaml

from ivr.errors import FlowError, Problem
from ivr.flows.catalog import AGENTS_FILE, flow_files
from ivr.flows.directory import load_directory
from ivr.flows.load import load_flow
from ivr.flows.model import KEYS, NODE_TYPES, OPERATOR_KEY, OPERATOR_WORDS

FLOWS = Path(__file__).resolve().parents[1] / "flows"
FLOW_SCHEMA = json.loads((FLOWS / "flow.schema.json").read_text(encoding="utf-8"))
AGENTS_SCHEMA = json.loads((FLOWS / "agents.schema.json").read_text(encoding="utf-8"))
FLOW_VALIDATOR = jsonschema.Draft7Validator(FLOW_SCHEMA)
AGENTS_VALIDATOR = jsonschema.Draft7Validator(AGENTS_SCHEMA)
DEFS = FLOW_SCHEMA["definitions"]
MARK = "# <-"  # marks the line a snippet's problem must be reported on


@pytest.fixture(scope="module")
def directory():
    return load_directory(FLOWS / AGENTS_FILE)


class _EditorLoader(yaml.SafeLoader):
    """yaml.safe_load without dates: editors read YAML 1.2, where 2026-12-25 is text, not a date."""


_EditorLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def schema_errors(validator: jsonschema.Draft7Validator, text: str) -> list[str]:
    return [e.message for e in validator.iter_errors(yaml.load(text, Loader=_EditorLoader))]


def flow_problems(tmp_path: Path, text: str, directory) -> list[Problem]:
    path = tmp_path / "snippet.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_flow(path, directory)
    except FlowError as exc:
        return exc.problems
    return []


def agents_problems(tmp_path: Path, text: str) -> list[Problem]:
    path = tmp_path / AGENTS_FILE
    path.write_text(text, encoding="utf-8")
    try:
        load_directory(path)
    except FlowError as exc:
        return exc.problems
    return []


def flow_with(node: dict | None = None, **top) -> str:
    """A small valid flow whose start node is `node` (default: a menu), as YAML text."""
    nodes = {"main": node or {"type": "menu", "say": "Press 1.", "options": [{"key": "1", "next": "end"}]}}
    if any(n == "end" for n in _exits(nodes["main"])):
        nodes["end"] = {"type": "goodbye", "say": "Goodbye."}
    return yaml.safe_dump({"start": "main", **top, "nodes": nodes}, sort_keys=False)


def _exits(node: dict) -> list:
    return [o.get("next") for o in node.get("options") or [] if isinstance(o, dict)] + [node.get("next")]


# --- the files themselves ---------------------------------------------------------------------------


def test_schemas_are_valid_draft_07():
    for schema in (FLOW_SCHEMA, AGENTS_SCHEMA):
        jsonschema.Draft7Validator.check_schema(schema)
        assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
        assert schema["$id"] and schema["title"] and schema["description"]


def _properties(node, path=""):
    if isinstance(node, dict):
        for name, sub in (node.get("properties") or {}).items():
            yield f"{path}/{name}", sub
        for key, sub in node.items():
            if key not in ("if", "then", "else", "contains", "not"):  # conditions, not fields people write
                yield from _properties(sub, f"{path}/{key}")
    elif isinstance(node, list):
        for index, sub in enumerate(node):
            yield from _properties(sub, f"{path}/{index}")


@pytest.mark.parametrize("schema", [FLOW_SCHEMA, AGENTS_SCHEMA], ids=["flow", "agents"])
def test_every_field_tells_people_what_it_does(schema):
    for path, sub in _properties(schema):
        if path.endswith("/type") and "const" in sub:
            continue  # the node-kind branches repeat 'type' only to pin it
        assert ("$ref" in sub and len(sub) == 1) or sub.get("description"), f"{path} has no description"
        assert not ("$ref" in sub and len(sub) > 1), f"{path}: draft-07 ignores keywords beside $ref"


@pytest.mark.parametrize("path", flow_files(FLOWS), ids=lambda p: p.name)
def test_every_flow_file_matches_the_schema(path, directory):
    assert schema_errors(FLOW_VALIDATOR, path.read_text(encoding="utf-8")) == []
    load_flow(path, directory)  # and the loader agrees


def test_agents_file_matches_the_schema():
    assert schema_errors(AGENTS_VALIDATOR, (FLOWS / AGENTS_FILE).read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", [*flow_files(FLOWS), FLOWS / AGENTS_FILE], ids=lambda p: p.name)
def test_every_file_names_its_schema_for_editors(path):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    expected = "agents.schema.json" if path.name == AGENTS_FILE else "flow.schema.json"
    assert first == f"# yaml-language-server: $schema={expected}"
    assert (FLOWS / expected).is_file()


# --- broken flows: the schema flags them in the editor, the loader names the line and node --------------

BROKEN_FLOWS = {
    "unknown field": (
        """
        start: main
        nodes:
          main:
            type: message
            say: Hello.
            colour: blue  # <-
            next: end
          end:
            type: goodbye
            say: Goodbye.
        """,
        "main",
        "unknown field 'colour' (expected one of: next, outcome, play, say, type)",
    ),
    "option key 0": (
        """
        start: main
        nodes:
          main:
            type: menu
            say: Press 1 or 2.
            options:
              - key: "1"
                next: end
              - key: "0"  # <-
                next: end
          end:
            type: goodbye
            say: Goodbye.
        """,
        "main",
        "key 0 is kept for reaching a person",
    ),
    "option key 0 unquoted": (
        """
        start: main
        nodes:
          main:
            type: menu
            say: Press 0.
            options:
              - key: 0  # <-
                next: end
          end:
            type: goodbye
            say: Goodbye.
        """,
        "main",
        "key 0 is kept for reaching a person",
    ),
    "option key 10": (
        """
        start: main
        nodes:
          main:
            type: menu
            say: Press 10.
            options:
              - key: 10  # <-
                next: end
          end:
            type: goodbye
            say: Goodbye.
        """,
        "main",
        "'key' should be one of 1-9, * or #, not '10'",
    ),
    # a problem about the node as a whole names the line of its first field
    "route with both group and agent": (
        """
        start: main
        nodes:
          main:
            type: route  # <-
            say: Connecting you.
            group: billing
            agent: alex
        """,
        "main",
        "give exactly one of 'group'",
    ),
    "route with neither group nor agent": (
        """
        start: main
        nodes:
          main:
            type: route  # <-
            say: Connecting you.
        """,
        "main",
        "give exactly one of 'group'",
    ),
    "menu operator with both group and agent": (
        """
        start: main
        nodes:
          main:
            type: menu
            say: Press 1.
            operator:
              group: billing  # <-
              agent: alex
            options:
              - key: "1"
                next: end
          end:
            type: goodbye
            say: Goodbye.
        """,
        "main",
        "give exactly one of 'group'",
    ),
    "menu without options": (
        """
        start: main
        nodes:
          main:
            type: menu  # <-
            say: Hello.
        """,
        "main",
        "a menu needs 'options'",
    ),
    "menu with an empty list of options": (
        """
        start: main
        nodes:
          main:
            type: menu
            say: Hello.
            options: []  # <-
        """,
        "main",
        "a menu needs 'options'",
    ),
    "unknown node type": (
        """
        start: main
        nodes:
          main:
            type: menus  # <-
            say: Hello.
        """,
        "main",
        "'type' should be one of menu, message, route, goto, goodbye, not 'menus'",
    ),
    "node without a type": (
        """
        start: main
        nodes:
          main:
            say: Hello.  # <-
        """,
        "main",
        "'type' is required",
    ),
    "option with words but no key": (
        """
        start: main
        nodes:
          main:
            type: menu
            say: Say billing.
            options:
              - words: [billing]  # <-
                next: end
          end:
            type: goodbye
            say: Goodbye.
        """,
        "main",
        "an option needs a 'key'",
    ),
    "option without next": (
        """
        start: main
        nodes:
          main:
            type: menu
            say: Hello.
            options:
              - key: "1"  # <-
          end:
            type: goodbye
            say: Goodbye.
        """,
        "main",
        "an option needs 'next'",
    ),
    "option words that reach a person": (
        """
        start: main
        nodes:
          main:
            type: menu
            say: Hello.
            options:
              - key: "1"
                words: [billing, talk to a Person]  # <-
                next: end
          end:
            type: goodbye
            say: Goodbye.
        """,
        "main",
        "the words 'talk to a person' are kept for reaching a person",
    ),
    "message without next": (
        """
        start: main
        nodes:
          main:
            type: message  # <-
            say: Hello.
        """,
        "main",
        "a message node is a dead end without 'next'",
    ),
    "goodbye without say": (
        """
        start: main
        nodes:
          main:
            type: goodbye  # <-
            outcome: done
        """,
        "main",
        "'say' is required",
    ),
    "menu timeout too long": (
        """
        start: main
        nodes:
          main:
            type: menu
            say: Press 1.
            timeout: 31  # <-
            options:
              - key: "1"
                next: end
          end:
            type: goodbye
            say: Goodbye.
        """,
        "main",
        "'timeout' should be from 2 to 30, not 31",
    ),
    "bad node name": (
        """
        start: main
        nodes:
          main:
            type: goodbye
            say: Goodbye.
          the end:  # <-
            type: goodbye
            say: Goodbye.
        """,
        "the end",
        "node names may use letters, digits, - and _ only",
    ),
    "unknown top-level field": (
        """
        start: main
        phone: "+15005550006"  # <-
        nodes:
          main:
            type: goodbye
            say: Goodbye.
        """,
        None,
        "unknown field 'phone'",
    ),
    "number without a plus": (
        """
        start: main
        numbers: ["15005550006"]  # <-
        nodes:
          main:
            type: goodbye
            say: Goodbye.
        """,
        None,
        "'numbers' should hold E.164 numbers",
    ),
    "default that is not true or false": (
        """
        start: main
        default: "yes"  # <-
        nodes:
          main:
            type: goodbye
            say: Goodbye.
        """,
        None,
        "'default' should be true or false",
    ),
    "no start": (
        """
        name: nowhere  # <-
        nodes:
          main:
            type: goodbye
            say: Goodbye.
        """,
        None,
        "'start' is required",
    ),
    "unknown setting": (
        """
        start: main
        settings:
          voice: Polly.Amy
          ring_time: 20  # <-
        nodes:
          main:
            type: goodbye
            say: Goodbye.
        """,
        None,
        "unknown field 'ring_time'",
    ),
    "unknown repeat-caller setting": (
        """
        start: main
        settings:
          repeat_callers:
            window_days: 3  # <-
        nodes:
          main:
            type: goodbye
            say: Goodbye.
        """,
        None,
        "unknown field 'window_days'",
    ),
    "unknown queue setting": (
        """
        start: main
        settings:
          queue:
            max_hold: 60  # <-
        nodes:
          main:
            type: goodbye
            say: Goodbye.
        """,
        None,
        "unknown field 'max_hold'",
    ),
    "unknown callback setting": (
        """
        start: main
        settings:
          callbacks:
            attempts: 3  # <-
        nodes:
          main:
            type: goodbye
            say: Goodbye.
        """,
        None,
        "unknown field 'attempts'",
    ),
    "voicemail too long": (
        """
        start: main
        settings:
          voicemail_max_seconds: 900  # <-
        nodes:
          main:
            type: goodbye
            say: Goodbye.
        """,
        None,
        "'voicemail_max_seconds' should be from 10 to 600, not 900",
    ),
    "hours table with a day spelt out": (
        """
        start: main
        settings:
          hours:
            timezone: America/New_York
            open:
              mon-fri: 08:00-20:00
              sunday: 10:00-14:00  # <-
            holidays: [2026-12-25, 2027-01-01]
        nodes:
          main:
            type: goodbye
            say: Goodbye.
        """,
        None,
        "'sunday' is not a day or range of days (mon, tue, ... or mon-fri)",
    ),
    "hours table with times that are not a span": (
        """
        start: main
        settings:
          hours:
            open:
              mon-fri: 08:00-12:00, 13:00-17:00
              sat: 9am-1pm  # <-
        nodes:
          main:
            type: goodbye
            say: Goodbye.
        """,
        None,
        "'9am-1pm' should be times such as 08:00-20:00",
    ),
    "hours table with a closing time past midnight": (
        """
        start: main
        settings:
          hours:
            open:
              fri: 08:00-24:30  # <-
        nodes:
          main:
            type: goodbye
            say: Goodbye.
        """,
        None,
        "'08:00-24:30' should be times such as 08:00-20:00",
    ),
    "hours without an open table": (
        """
        start: main
        settings:
          hours:
            timezone: Europe/London  # <-
            holidays: [2026-12-25]
        nodes:
          main:
            type: goodbye
            say: Goodbye.
        """,
        None,
        "'open' should list days and times",
    ),
    "hours with an unknown field": (
        """
        start: main
        settings:
          hours:
            open:
              mon-fri: 08:00-20:00
            closed: [sun]  # <-
        nodes:
          main:
            type: goodbye
            say: Goodbye.
        """,
        None,
        "unknown field 'closed'",
    ),
    "hours in a time zone that is not a zone name": (
        """
        start: main
        settings:
          hours:
            timezone: US Eastern  # <-
            open:
              mon-fri: 08:00-20:00
        nodes:
          main:
            type: goodbye
            say: Goodbye.
        """,
        None,
        "'timezone' should be a time zone name such as America/New_York, not 'US Eastern'",
    ),
    "holiday that is not a year-month-day date": (
        """
        start: main
        settings:
          hours:
            open:
              mon-fri: 08:00-20:00
            holidays: [2026-12-25, 25/12/2026]  # <-
        nodes:
          main:
            type: goodbye
            say: Goodbye.
        """,
        None,
        "holiday '25/12/2026' should be a date such as 2026-12-25",
    ),
    "on-call number without a plus": (
        """
        start: main
        settings:
          hours:
            open:
              mon-fri: 08:00-20:00
            on_call_number: "15005550999"  # <-
        nodes:
          main:
            type: goodbye
            say: Goodbye.
        """,
        None,
        "'on_call_number' should be a number in E.164 form",
    ),
    "recorded prompt that is not a file name": (
        """
        start: main
        nodes:
          main:
            type: goodbye
            say: Goodbye.
            play: [audio/bye.mp3]  # <-
        """,
        "main",
        "'play' should be text",
    ),
}


def _marked_line(text: str) -> int:
    lines = [n for n, line in enumerate(text.splitlines(), 1) if line.rstrip().endswith(MARK)]
    assert len(lines) == 1, "mark exactly one line with # <-"
    return lines[0]


@pytest.mark.parametrize(("text", "node", "message"), BROKEN_FLOWS.values(), ids=BROKEN_FLOWS.keys())
def test_broken_flow_is_flagged_by_the_schema_and_named_by_the_loader(tmp_path, directory, text, node, message):
    text = textwrap.dedent(text).lstrip()
    assert schema_errors(FLOW_VALIDATOR, text), "the schema let it through"
    problems = flow_problems(tmp_path, text, directory)
    assert len(problems) == 1, problems
    [problem] = problems
    assert (problem.file, problem.line, problem.node) == (str(tmp_path / "snippet.yaml"), _marked_line(text), node)
    assert message in problem.message


BROKEN_AGENTS = {
    "number and client": (
        """
        agents:
          - id: alex  # <-
            name: Alex
            number: "+15005550101"
            client: alex-desk
            groups: [billing]
          - id: rosa
            name: Rosa
            number: "+15005550201"
            role: supervisor
        """,
        "alex",
        "give exactly one of 'number'",
    ),
    "agent without groups": (
        """
        agents:
          - id: alex  # <-
            name: Alex
            number: "+15005550101"
          - id: rosa
            name: Rosa
            number: "+15005550201"
            role: supervisor
        """,
        "alex",
        "an agent needs at least one group",
    ),
    "supervisors as a group": (
        """
        agents:
          - id: alex
            name: Alex
            number: "+15005550101"
            groups: [billing, supervisors]  # <-
          - id: rosa
            name: Rosa
            number: "+15005550201"
            role: supervisor
        """,
        "alex",
        "'supervisors' is not a group to join",
    ),
    "unknown role": (
        """
        agents:
          - id: alex
            name: Alex
            number: "+15005550101"
            role: manager  # <-
            groups: [billing]
          - id: rosa
            name: Rosa
            number: "+15005550201"
            role: supervisor
        """,
        "alex",
        "'role' should be agent or supervisor",
    ),
    "id with capitals": (
        """
        agents:
          - id: Alex  # <-
            name: Alex
            number: "+15005550101"
            groups: [billing]
          - id: rosa
            name: Rosa
            number: "+15005550201"
            role: supervisor
        """,
        "Alex",
        "'id' should be lower-case letters",
    ),
    "unknown field": (
        """
        agents:
          - id: alex
            name: Alex
            phone: "+15005550101"  # <-
            client: alex-desk
            groups: [billing]
          - id: rosa
            name: Rosa
            number: "+15005550201"
            role: supervisor
        """,
        "alex",
        "unknown field 'phone'",
    ),
    "no supervisor": (
        """
        agents:
          - id: alex  # <-
            name: Alex
            number: "+15005550101"
            groups: [billing]
        """,
        None,
        "no supervisor is listed",
    ),
}


@pytest.mark.parametrize(("text", "node", "message"), BROKEN_AGENTS.values(), ids=BROKEN_AGENTS.keys())
def test_broken_agents_file_is_flagged_by_the_schema_and_named_by_the_loader(tmp_path, text, node, message):
    text = textwrap.dedent(text).lstrip()
    assert schema_errors(AGENTS_VALIDATOR, text), "the schema let it through"
    problems = agents_problems(tmp_path, text)
    assert len(problems) == 1, problems
    [problem] = problems
    assert (problem.line, problem.node) == (_marked_line(text), node)
    assert message in problem.message


# --- field for field: the schema allows exactly what the loader reads --------------------------------------


def _loader_fields(problems: list[Problem]) -> set[str]:
    [found] = [
        m for p in problems if (m := re.search(r"unknown field 'zz_bogus' \(expected one of: (.*)\)$", p.message))
    ]
    return set(found.group(1).split(", "))


def _branch(kind: str) -> dict:
    return DEFS[f"{kind}Node"]


def test_every_node_type_has_a_schema_branch():
    assert DEFS["node"]["properties"]["type"]["enum"] == list(NODE_TYPES)
    branches = {b["if"]["properties"]["type"]["const"]: b["then"]["$ref"] for b in DEFS["node"]["allOf"]}
    assert branches == {kind: f"#/definitions/{kind}Node" for kind in NODE_TYPES}
    for kind in NODE_TYPES:
        assert _branch(kind)["additionalProperties"] is False
        assert _branch(kind)["properties"]["type"] == {"const": kind}


@pytest.mark.parametrize("kind", NODE_TYPES)
def test_node_fields_match_the_loader(tmp_path, directory, kind):
    text = flow_with({"type": kind, "zz_bogus": "x"})
    assert set(_branch(kind)["properties"]) == _loader_fields(flow_problems(tmp_path, text, directory))
    assert schema_errors(FLOW_VALIDATOR, text)


SAMPLE = {"say": "Hello.", "next": "end", "options": [{"key": "1", "next": "end"}], "group": "billing"}


@pytest.mark.parametrize("kind", NODE_TYPES)
def test_required_node_fields_match_the_loader(tmp_path, directory, kind):
    branch = _branch(kind)
    required = [f for f in branch["required"] if f != "type"]
    if "oneOf" in branch:  # a route: one of group or agent
        required.append(branch["oneOf"][0]["required"][0])
    node = {"type": kind, **{f: SAMPLE[f] for f in required}}
    assert schema_errors(FLOW_VALIDATOR, flow_with(node)) == []
    assert flow_problems(tmp_path, flow_with(node), directory) == []
    for field in required:
        without = flow_with({k: v for k, v in node.items() if k != field})
        assert schema_errors(FLOW_VALIDATOR, without), f"{kind} without {field}"
        assert flow_problems(tmp_path, without, directory), f"{kind} without {field}"


@pytest.mark.parametrize(
    ("where", "text"),
    [
        ("the flow file", flow_with(zz_bogus="x")),
        ("settings", flow_with(settings={"zz_bogus": "x"})),
        ("repeat_callers", flow_with(settings={"repeat_callers": {"zz_bogus": "x"}})),
        ("queue", flow_with(settings={"queue": {"zz_bogus": "x"}})),
        ("callbacks", flow_with(settings={"callbacks": {"zz_bogus": "x"}})),
        ("hours", flow_with(settings={"hours": {"open": {"mon-fri": "08:00-20:00"}, "zz_bogus": "x"}})),
        (
            "an option",
            flow_with({"type": "menu", "say": "Hi.", "options": [{"key": "1", "next": "end", "zz_bogus": "x"}]}),
        ),
    ],
)
def test_other_fields_match_the_loader(tmp_path, directory, where, text):
    schema = {
        "the flow file": FLOW_SCHEMA,
        "settings": DEFS["settings"],
        "repeat_callers": DEFS["settings"]["properties"]["repeat_callers"],
        "queue": DEFS["settings"]["properties"]["queue"],
        "callbacks": DEFS["settings"]["properties"]["callbacks"],
        "hours": DEFS["settings"]["properties"]["hours"],
        "an option": DEFS["option"],
    }[where]
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == _loader_fields(flow_problems(tmp_path, text, directory))
    assert schema_errors(FLOW_VALIDATOR, text)


def test_agent_fields_match_the_loader(tmp_path):
    text = yaml.safe_dump(
        {"agents": [{"id": "rosa", "name": "Rosa", "number": "+15005550201", "role": "supervisor", "zz_bogus": "x"}]}
    )
    agent = AGENTS_SCHEMA["definitions"]["agent"]
    assert agent["additionalProperties"] is False
    assert set(agent["properties"]) == _loader_fields(agents_problems(tmp_path, text))
    assert schema_errors(AGENTS_VALIDATOR, text)
    assert set(AGENTS_SCHEMA["properties"]) == {"agents"}


def test_the_operator_is_a_group_or_an_agent():
    for target in (DEFS["settings"]["properties"]["operator"], _branch("menu")["properties"]["operator"]):
        assert set(target["properties"]) == {"group", "agent"}
        assert target["additionalProperties"] is False
    route = _branch("route")
    assert {"group", "agent"} <= set(route["properties"])
    assert route["oneOf"] == [{"required": ["group"]}, {"required": ["agent"]}]


# --- values: scalars may be typed plainly or in quotes, as the loader reads every scalar as text ----------

# (where the field sits, its low and high bound as the loader checks them, the loader's default)
WHOLE_NUMBERS = {
    "timeout": (
        lambda v: {"type": "menu", "say": "Hi.", "timeout": v, "options": [{"key": "1", "next": "end"}]},
        _branch("menu")["properties"]["timeout"],
        2,
        30,
        6,
    ),
    "ring_seconds": (
        lambda v: {"settings": {"ring_seconds": v}},
        DEFS["settings"]["properties"]["ring_seconds"],
        5,
        60,
        20,
    ),
    "agents_per_route": (
        lambda v: {"settings": {"agents_per_route": v}},
        DEFS["settings"]["properties"]["agents_per_route"],
        1,
        10,
        2,
    ),
    "window_hours": (
        lambda v: {"settings": {"repeat_callers": {"window_hours": v}}},
        DEFS["settings"]["properties"]["repeat_callers"]["properties"]["window_hours"],
        1,
        2160,
        72,
    ),
    "prior_agent_from_call": (
        lambda v: {"settings": {"repeat_callers": {"prior_agent_from_call": v, "supervisor_from_call": 99}}},
        DEFS["settings"]["properties"]["repeat_callers"]["properties"]["prior_agent_from_call"],
        2,
        99,
        2,
    ),
    "supervisor_from_call": (
        lambda v: {"settings": {"repeat_callers": {"supervisor_from_call": v}}},
        DEFS["settings"]["properties"]["repeat_callers"]["properties"]["supervisor_from_call"],
        2,
        99,
        3,
    ),
    "voicemail_max_seconds": (
        lambda v: {"settings": {"voicemail_max_seconds": v}},
        DEFS["settings"]["properties"]["voicemail_max_seconds"],
        10,
        600,
        120,
    ),
    "max_hold_seconds": (
        lambda v: {"settings": {"queue": {"max_hold_seconds": v}}},
        DEFS["settings"]["properties"]["queue"]["properties"]["max_hold_seconds"],
        15,
        600,
        60,
    ),
    "offer_every_seconds": (
        lambda v: {"settings": {"queue": {"offer_every_seconds": v}}},
        DEFS["settings"]["properties"]["queue"]["properties"]["offer_every_seconds"],
        30,
        600,
        60,
    ),
    "prior_agent_wait_seconds": (
        lambda v: {"settings": {"queue": {"prior_agent_wait_seconds": v}}},
        DEFS["settings"]["properties"]["queue"]["properties"]["prior_agent_wait_seconds"],
        0,
        1800,
        120,
    ),
    "max_attempts": (
        lambda v: {"settings": {"callbacks": {"max_attempts": v}}},
        DEFS["settings"]["properties"]["callbacks"]["properties"]["max_attempts"],
        1,
        10,
        3,
    ),
    "retry_minutes": (
        lambda v: {"settings": {"callbacks": {"retry_minutes": v}}},
        DEFS["settings"]["properties"]["callbacks"]["properties"]["retry_minutes"],
        1,
        240,
        5,
    ),
    "time_to_human_budget_seconds": (
        lambda v: {"settings": {"time_to_human_budget_seconds": v}},
        DEFS["settings"]["properties"]["time_to_human_budget_seconds"],
        5,
        600,
        30,
    ),
}


@pytest.mark.parametrize(
    ("place", "schema", "low", "high", "default"), WHOLE_NUMBERS.values(), ids=WHOLE_NUMBERS.keys()
)
def test_whole_numbers_take_the_loaders_range_typed_or_quoted(tmp_path, directory, place, schema, low, high, default):
    assert schema["default"] == default
    check = jsonschema.Draft7Validator(schema)
    for n in range(high + 12):
        for value in (n, str(n), f"0{n}"):
            assert check.is_valid(value) == (low <= n <= high), value
    # (6.0 gets through: an editor's YAML parser cannot tell it from 6; the loader rejects it)
    for value in ("", "six", "-3", "2.5", "6.0", 2.5, True, None, [6]):
        assert not check.is_valid(value), value

    def flow(value):
        data = place(value)
        return flow_with(data) if "type" in data else flow_with(**data)

    for n in (low - 1, low, high, high + 1):
        for text in (flow(n), flow(str(n))):
            accepted = low <= n <= high
            assert (schema_errors(FLOW_VALIDATOR, text) == []) == accepted, text
            assert (flow_problems(tmp_path, text, directory) == []) == accepted, text


@pytest.mark.parametrize("key", [*sorted(KEYS), OPERATOR_KEY, "10", "a", "", *range(11)])
def test_option_keys_agree_with_the_loader(tmp_path, directory, key):
    text = flow_with({"type": "menu", "say": "Hi.", "options": [{"key": key, "next": "end"}]})
    accepted = str(key) in KEYS
    assert (schema_errors(FLOW_VALIDATOR, text) == []) == accepted
    assert (flow_problems(tmp_path, text, directory) == []) == accepted


@pytest.mark.parametrize(
    "words",
    [
        *OPERATOR_WORDS,
        *(w.upper() for w in OPERATOR_WORDS),
        *(f"talk to {w} please" for w in OPERATOR_WORDS),
        "agents",
        "personal",
        "humanity",
        "operators",
        "billing",
        "real",
        "customer",
        "no",
        "yes",
        "on",
        "off",
    ],
)
def test_spoken_words_agree_with_the_loader(tmp_path, directory, words):
    # yes/no/on/off are quoted by safe_dump, as the schema's description asks people to do
    text = flow_with({"type": "menu", "say": "Hi.", "options": [{"key": "1", "words": [words], "next": "end"}]})
    accepted = not any(re.search(rf"\b{re.escape(w)}\b", words.lower()) for w in OPERATOR_WORDS)
    assert (schema_errors(FLOW_VALIDATOR, text) == []) == accepted
    assert (flow_problems(tmp_path, text, directory) == []) == accepted


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("true", True),
        ("false", True),
        ("True", True),
        ("FALSE", True),
        (True, True),
        (False, True),
        ("yes", False),
        ("1", False),
        ("", False),
    ],
)
def test_default_is_true_or_false(tmp_path, directory, value, accepted):
    text = flow_with(default=value)
    assert (schema_errors(FLOW_VALIDATOR, text) == []) == accepted
    assert (flow_problems(tmp_path, text, directory) == []) == accepted


@pytest.mark.parametrize(
    ("numbers", "accepted"),
    [
        ("+15005550006", True),
        (["+15005550006", "+442071838750"], True),
        ("+1555", False),
        ("15005550006", False),
        ("+05005550006", False),
        ("+1 500 555 0006", False),
    ],
)
def test_numbers_are_e164(tmp_path, directory, numbers, accepted):
    text = flow_with(numbers=numbers)
    assert (schema_errors(FLOW_VALIDATOR, text) == []) == accepted
    assert (flow_problems(tmp_path, text, directory) == []) == accepted


def hours_flow(**hours) -> str:
    return flow_with(settings={"hours": {"open": {"mon-fri": "08:00-20:00"}, **hours}})


@pytest.mark.parametrize(
    ("days", "accepted"),
    [
        ("mon", True),
        ("SUN", True),
        ("Mon-Fri", True),
        ("sat,sun", True),
        ("sat, sun", True),
        ("mon - fri", True),
        ("fri-mon", True),
        ("mon-wed,fri", True),
        ("monday", False),
        ("weekdays", False),
        ("mon-", False),
        ("mon,,tue", False),
        ("mon,", False),
        ("", False),
        ("mon/fri", False),
        ("1-5", False),
    ],
)
def test_open_days_agree_with_the_loader(tmp_path, directory, days, accepted):
    text = flow_with(settings={"hours": {"open": {days: "08:00-20:00"}}})
    assert (schema_errors(FLOW_VALIDATOR, text) == []) == accepted
    assert (flow_problems(tmp_path, text, directory) == []) == accepted


@pytest.mark.parametrize(
    ("spans", "accepted"),
    [
        ("08:00-20:00", True),
        ("8:00-20:00", True),
        ("08:00 - 20:00", True),
        ("00:00-24:00", True),
        ("08:00-12:00, 13:00-17:00", True),
        ("08:00-12:00,13:00-17:00", True),
        ("23:59-24:00", True),
        ("8am-8pm", False),
        ("08:00", False),
        ("08:00-", False),
        ("08:60-20:00", False),
        ("08:00-24:30", False),
        ("24:00-24:00", False),
        ("25:00-26:00", False),
        ("08:00-20:00,", False),
        ("8-20", False),
        ("08.00-20.00", False),
        ("", False),
    ],
)
def test_open_times_agree_with_the_loader(tmp_path, directory, spans, accepted):
    text = flow_with(settings={"hours": {"open": {"mon-fri": spans}}})
    assert (schema_errors(FLOW_VALIDATOR, text) == []) == accepted
    assert (flow_problems(tmp_path, text, directory) == []) == accepted


def test_open_times_must_close_after_they_open_which_only_the_loader_can_tell(tmp_path, directory):
    text = flow_with(settings={"hours": {"open": {"fri": "20:00-08:00"}}})
    assert schema_errors(FLOW_VALIDATOR, text) == []  # a pattern cannot compare two times
    assert [p.message for p in flow_problems(tmp_path, text, directory)] == [
        "'20:00-08:00' should be times such as 08:00-20:00 (or 08:00-12:00, 13:00-17:00)"
    ]


def test_an_open_table_is_required_and_not_empty(tmp_path, directory):
    for hours in ({"timezone": "UTC"}, {"open": {}}, {"open": "mon-fri 08:00-20:00"}, None):
        text = flow_with(settings={"hours": hours})
        assert schema_errors(FLOW_VALIDATOR, text), hours
        assert flow_problems(tmp_path, text, directory), hours


def test_every_time_zone_name_fits_the_schema():
    check = jsonschema.Draft7Validator(DEFS["settings"]["properties"]["hours"]["properties"]["timezone"])
    zones = zoneinfo.available_timezones()
    assert "America/Argentina/Buenos_Aires" in zones and "Etc/GMT+5" in zones
    assert [zone for zone in zones if not check.is_valid(zone)] == []


@pytest.mark.parametrize(
    ("zone", "accepted"),
    [
        ("America/New_York", True),
        ("Europe/London", True),
        ("UTC", True),
        ("Etc/GMT-3", True),
        ("US Eastern", False),
        ("America/New York", False),
        ("/etc/localtime", False),
        ("../../etc/passwd", False),
    ],
)
def test_time_zones_agree_with_the_loader(tmp_path, directory, zone, accepted):
    text = hours_flow(timezone=zone)
    assert (schema_errors(FLOW_VALIDATOR, text) == []) == accepted
    assert (flow_problems(tmp_path, text, directory) == []) == accepted


def test_a_zone_name_the_schema_cannot_know_is_refused_by_the_loader(tmp_path, directory):
    text = hours_flow(timezone="Mars/Olympus_Mons")
    assert schema_errors(FLOW_VALIDATOR, text) == []  # the schema checks the form; `ivr check` knows the zones
    assert len(flow_problems(tmp_path, text, directory)) == 1


@pytest.mark.parametrize(
    ("holidays", "accepted"),
    [
        ("2026-12-25", True),
        (["2026-12-25", "2027-01-01"], True),
        ([], True),
        ("25/12/2026", False),
        (["2026-12-25", "Dec 26"], False),
        (["2026-13-01"], False),
        ([""], False),
    ],
)
def test_holidays_agree_with_the_loader(tmp_path, directory, holidays, accepted):
    text = hours_flow(holidays=holidays)
    assert (schema_errors(FLOW_VALIDATOR, text) == []) == accepted
    assert (flow_problems(tmp_path, text, directory) == []) == accepted


def test_holidays_typed_plainly_are_dates_for_editors_and_the_loader(tmp_path, directory):
    text = (
        "start: main\nsettings:\n  hours:\n    open: {mon-fri: 08:00-20:00}\n"
        "    holidays: [2026-12-25, 2027-01-01]\nnodes:\n  main: {type: goodbye, say: Bye.}\n"
    )
    assert yaml.safe_load(text)["settings"]["hours"]["holidays"][0] == datetime.date(2026, 12, 25)  # YAML 1.1
    assert yaml.load(text, Loader=_EditorLoader)["settings"]["hours"]["holidays"] == ["2026-12-25", "2027-01-01"]
    assert schema_errors(FLOW_VALIDATOR, text) == []
    path = tmp_path / "holidays.yaml"
    path.write_text(text, encoding="utf-8")
    assert load_flow(path, directory).settings.hours.holidays == {"2026-12-25", "2027-01-01"}


@pytest.mark.parametrize(("number", "accepted"), [("+15005550999", True), ("15005550999", False), ("911", False)])
def test_the_on_call_number_is_e164(tmp_path, directory, number, accepted):
    text = hours_flow(on_call_number=number)
    assert (schema_errors(FLOW_VALIDATOR, text) == []) == accepted
    assert (flow_problems(tmp_path, text, directory) == []) == accepted


@pytest.mark.parametrize("kind", ["menu", "message", "goodbye"])
def test_recorded_prompts_are_a_file_name_beside_say(tmp_path, directory, kind):
    node = {"type": kind, "say": "Hello.", "play": "audio/welcome.mp3"}
    node.update({"menu": {"options": [{"key": "1", "next": "end"}]}, "message": {"next": "end"}}.get(kind, {}))
    assert schema_errors(FLOW_VALIDATOR, flow_with(node)) == []
    assert flow_problems(tmp_path, flow_with(node), directory) == []
    assert "say" in _branch(kind)["required"]  # the spoken text stays: it plays when the file cannot
    for bad in ({**node, "play": ["a.mp3", "b.mp3"]}, {k: v for k, v in node.items() if k != "say"}):
        assert schema_errors(FLOW_VALIDATOR, flow_with(bad)), bad
        assert flow_problems(tmp_path, flow_with(bad), directory), bad


@pytest.mark.parametrize(("value", "accepted"), [("audio/hold.mp3", True), ("hold.wav", True), (["a.mp3"], False)])
def test_hold_music_is_a_file_name(tmp_path, directory, value, accepted):
    text = flow_with(settings={"hold_music": value})
    assert (schema_errors(FLOW_VALIDATOR, text) == []) == accepted
    assert (flow_problems(tmp_path, text, directory) == []) == accepted


def test_unquoted_numbers_that_editors_read_as_integers_are_accepted(tmp_path, directory):
    # YAML turns +15005550006 into the integer 15005550006 for an editor; the loader keeps the text.
    text = "start: main\nnumbers: [+15005550006]\nnodes:\n  main: {type: goodbye, say: Bye.}\n"
    assert yaml.safe_load(text)["numbers"] == [15005550006]
    assert schema_errors(FLOW_VALIDATOR, text) == []
    assert flow_problems(tmp_path, text, directory) == []


def test_empty_settings_are_allowed(tmp_path, directory):
    text = "start: main\nsettings:\nnodes:\n  main: {type: goodbye, say: Bye.}\n"
    assert schema_errors(FLOW_VALIDATOR, text) == []
    assert flow_problems(tmp_path, text, directory) == []


def test_schema_defaults_are_the_loaders(tmp_path, directory):
    path = tmp_path / "defaults.yaml"
    path.write_text(flow_with(), encoding="utf-8")
    flow = load_flow(path, directory)
    settings = DEFS["settings"]["properties"]
    assert settings["voice"]["default"] == flow.settings.voice
    assert settings["language"]["default"] == flow.settings.language
    assert settings["ring_seconds"]["default"] == flow.settings.ring_seconds
    assert settings["agents_per_route"]["default"] == flow.settings.agents_per_route
    assert settings["operator"]["default"] == {flow.settings.operator.kind: flow.settings.operator.name}
    repeat = settings["repeat_callers"]["properties"]
    assert {k: v["default"] for k, v in repeat.items()} == {
        "window_hours": flow.settings.repeat.window_hours,
        "prior_agent_from_call": flow.settings.repeat.prior_agent_from_call,
        "supervisor_from_call": flow.settings.repeat.supervisor_from_call,
    }
    queue, callbacks = settings["queue"]["properties"], settings["callbacks"]["properties"]
    assert {k: v["default"] for k, v in queue.items()} == {
        "max_hold_seconds": flow.settings.queue.max_hold_seconds,
        "offer_every_seconds": flow.settings.queue.offer_every_seconds,
        "prior_agent_wait_seconds": flow.settings.queue.prior_agent_wait_seconds,
    }
    assert {k: v["default"] for k, v in callbacks.items()} == {
        "max_attempts": flow.settings.callbacks.max_attempts,
        "retry_minutes": flow.settings.callbacks.retry_minutes,
    }
    assert settings["voicemail_max_seconds"]["default"] == flow.settings.voicemail_seconds
    assert settings["time_to_human_budget_seconds"]["default"] == flow.settings.time_to_human_budget_seconds
    assert settings["hours"]["properties"]["timezone"]["default"] == flow.settings.hours.timezone
    assert "default" not in settings["hold_music"] and flow.settings.hold_music is None
    assert FLOW_SCHEMA["properties"]["default"]["default"] is flow.default is False
    assert _branch("menu")["properties"]["timeout"]["default"] == flow.nodes["main"].timeout
    assert AGENTS_SCHEMA["definitions"]["agent"]["properties"]["role"]["default"] == "agent"


def test_speech_always_has_a_keypad_fallback(tmp_path, directory):
    text = flow_with(
        {
            "type": "menu",
            "say": "Say billing or help.",
            "options": [{"words": ["billing"], "next": "end"}, {"words": ["help"], "next": "end"}],
        }
    )
    assert schema_errors(FLOW_VALIDATOR, text) != []
    assert [p.message[:26] for p in flow_problems(tmp_path, text, directory)] == ["an option needs a 'key': c"] * 2


def test_yes_and_no_typed_plainly_are_words(tmp_path, directory):
    # yaml.safe_load (YAML 1.1) reads them as true/false; the loader and editors on YAML 1.2 read text
    text = flow_with({"type": "menu", "say": "Yes or no?", "options": [{"key": "1", "words": ["x"], "next": "end"}]})
    text = text.replace("- x", "- yes\n      - no")
    assert yaml.safe_load(text)["nodes"]["main"]["options"][0]["words"] == [True, False]
    assert schema_errors(FLOW_VALIDATOR, text) == []
    assert flow_problems(tmp_path, text, directory) == []
