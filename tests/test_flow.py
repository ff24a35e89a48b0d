"""Flow files: broken ones are refused with the file, line and node named; good ones load as written."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from ivr.errors import FlowError
from ivr.flows.catalog import load_catalog
from ivr.flows.directory import load_directory
from ivr.flows.load import load_flow
from ivr.flows.model import Menu

FLOWS = Path(__file__).resolve().parents[1] / "flows"
DIRECTORY = load_directory(FLOWS / "agents.yaml")

GOOD = """\
numbers: ["+15005550007"]
start: main
nodes:
  main:
    type: menu
    say: Press 1 for billing.
    options:
      - key: 1
        words: [billing]
        next: billing
  billing:
    type: route
    group: billing
"""


def write(tmp_path: Path, text: str, name: str = "line.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problems(tmp_path: Path, text: str) -> list:
    with pytest.raises(FlowError) as caught:
        load_flow(write(tmp_path, text), DIRECTORY)
    return caught.value.problems


def only(tmp_path, text):
    found = problems(tmp_path, text)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


def test_a_good_flow_loads(tmp_path):
    flow = load_flow(write(tmp_path, GOOD), DIRECTORY)
    assert flow.numbers == ("+15005550007",) and flow.node("main").options[0].key == "1"


def test_numbers_keep_their_plus_and_yes_no_stay_words(tmp_path):
    text = GOOD.replace('["+15005550007"]', "[+15005550007]")
    text = text.replace("words: [billing]", "words: [billing, no, yes, off]")
    flow = load_flow(write(tmp_path, text), DIRECTORY)
    assert flow.numbers == ("+15005550007",)
    assert flow.node("main").options[0].words == ("billing", "no", "yes", "off")


def test_unknown_target_names_file_line_and_node(tmp_path):
    p = only(tmp_path, GOOD.replace("next: billing", "next: bliling"))
    assert (p.node, p.line) == ("main", 10), "the line of the mistaken `next:`, not the node's first line"
    assert p.file.endswith("line.yaml")
    expected = "'next' names 'bliling', which is not a node in this file; did you mean 'billing'?"
    assert str(p) == f"{p.file}:10: node 'main': {expected}"


def test_unreachable_node(tmp_path):
    p = only(tmp_path, GOOD + "  orphan:\n    type: goodbye\n    say: Bye.\n")
    assert p.node == "orphan" and p.line == 14 and "reach" in p.message


def test_dead_end_message(tmp_path):
    p = only(tmp_path, GOOD.replace("next: billing", "next: note") + "  note:\n    type: message\n    say: Hi.\n")
    assert p.node == "note" and "dead end" in p.message


def test_loop_with_no_exit(tmp_path):
    text = GOOD.replace("next: billing", "next: a") + (
        "  a:\n    type: message\n    say: One.\n    next: b\n  b:\n    type: goto\n    next: a\n"
    )
    found = problems(tmp_path, text)
    loop = [p for p in found if "loops with no way out" in p.message]
    assert loop and "a -> b -> a" in loop[0].message and loop[0].node == "a"
    assert [p.node for p in found if "reach" in p.message] == ["billing"]


def test_menu_may_not_take_key_zero_or_operator_words(tmp_path):
    p = only(tmp_path, GOOD.replace("key: 1", "key: 0"))
    assert p.line == 8 and "0 is kept" in p.message
    p = only(tmp_path, GOOD.replace("words: [billing]", "words: [billing, talk to an agent]"))
    assert "kept for reaching a person" in p.message


def test_unknown_field_and_type(tmp_path):
    p = only(tmp_path, GOOD.replace("    say: Press 1", "    sya: oops\n    say: Press 1"))
    assert "unknown field 'sya'" in p.message and p.line == 6
    p = only(tmp_path, GOOD.replace("type: route", "type: transfer"))
    assert "transfer" in p.message and p.node == "billing"


def test_route_to_unknown_group_or_agent(tmp_path):
    p = only(tmp_path, GOOD.replace("group: billing", "group: bilin"))
    assert "bilin" in p.message and "billing" in p.message, "the known groups are listed"
    p = only(tmp_path, GOOD.replace("group: billing", "agent: nobody"))
    assert "nobody" in p.message


def test_duplicate_keys_in_a_menu_and_in_yaml(tmp_path):
    text = GOOD.replace("        next: billing\n", "        next: billing\n      - key: 1\n        next: billing\n", 1)
    assert "used twice" in only(tmp_path, text).message
    p = only(tmp_path, GOOD.replace("  billing:", "  main:"))
    assert "twice" in p.message and p.line == 11


def test_bad_numbers_and_settings(tmp_path):
    text = GOOD.replace('"+15005550007"', '"555-0100"') + "settings:\n  ring_seconds: forever\n"
    found = problems(tmp_path, text)
    assert any("E.164" in p.message for p in found) and any("ring_seconds" in p.message for p in found)


def test_invalid_yaml_names_the_line(tmp_path):
    p = only(tmp_path, GOOD + "  broken: [unclosed\n")
    assert (p.line, p.node) == (14, "broken") and "'[' on this line is not closed" in p.message


def test_every_problem_is_reported_at_once(tmp_path):
    text = GOOD.replace("key: 1", "key: 0").replace("next: billing", "next: nowhere")
    assert len(problems(tmp_path, text)) >= 2


def test_catalog_needs_one_default_and_distinct_numbers(tmp_path):
    shutil.copy(FLOWS / "agents.yaml", tmp_path / "agents.yaml")
    write(tmp_path, GOOD, "a.yaml")
    write(tmp_path, GOOD, "b.yaml")
    with pytest.raises(FlowError) as caught:
        load_catalog(tmp_path)
    text = str(caught.value)
    assert "+15005550007" in text and "default" in text


def test_agents_file_problems(tmp_path):
    path = write(
        tmp_path,
        """\
        agents:
          - id: amy
            name: Amy
            number: "5550100"
            groups: [billing]
          - id: amy
            name: Amy again
            client: amy
            role: boss
        """,
        "agents.yaml",
    )
    with pytest.raises(FlowError) as caught:
        load_directory(path)
    messages = " | ".join(str(p) for p in caught.value.problems)
    assert "E.164" in messages and "used twice" in messages and "role" in messages and "supervisor" in messages


def test_the_example_line_is_valid():
    catalog = load_catalog(FLOWS)
    assert catalog.default == "riverlink-support"
    flow = catalog.flows["riverlink-support"]
    labels = {o.label for n in flow.nodes.values() if isinstance(n, Menu) for o in n.options}
    assert {"billing", "internet problem", "moving", "cancel service"} <= labels


def test_repeat_policy_that_could_never_apply_is_refused(tmp_path):
    text = GOOD + "settings:\n  repeat_callers:\n    prior_agent_from_call: 4\n    supervisor_from_call: 3\n"
    assert "never apply" in only(tmp_path, text).message


def test_the_readme_flow_example_passes_the_check(tmp_path):
    """Ops staff copy the README's example: it must be a flow the server would load."""
    import re

    example = re.findall(r"```yaml\n(.*?)```", (FLOWS.parent / "README.md").read_text(), re.S)[0]
    shutil.copy(FLOWS / "agents.yaml", tmp_path)
    flow = load_flow(write(tmp_path, example), load_directory(tmp_path / "agents.yaml"))
    assert flow.name == "riverlink-support" and flow.settings.first_offer_warning_seconds == 10
