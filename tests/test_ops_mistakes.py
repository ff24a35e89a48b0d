"""An ops person's slips in a flow file, each reported at the line of the mistake, in plain words, with its node.

Every case edits a copy of the example line the way a person would, then runs `ivr check` on it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.errors import FlowError
from ivr.flows.catalog import load_catalog
from ivr.tools.cli import main
from tests.support import ROOT

EXAMPLE = (ROOT / "flows" / "support.yaml").read_text()


def line_of(text: str, fragment: str, after: str = "") -> int:
    """The 1-based line of the first FRAGMENT (after the line holding AFTER, if given)."""
    lines = text.splitlines()
    start = next(n for n, line in enumerate(lines) if after in line) if after else 0
    return next(n for n, line in enumerate(lines) if n >= start and fragment in line) + 1


def copy_with(tmp_path: Path, old: str, new: str) -> tuple[Path, str]:
    assert old in EXAMPLE
    text = EXAMPLE.replace(old, new, 1)
    folder = tmp_path / "flows"
    folder.mkdir()
    shutil.copy(ROOT / "flows" / "agents.yaml", folder)
    (folder / "support.yaml").write_text(text)
    return folder / "support.yaml", text


def errors(path: Path) -> list[str]:
    result = CliRunner().invoke(main, ["check", str(path.parent)], env={"COLUMNS": "400"})
    assert result.exit_code == 1, result.output
    return [line.removeprefix("error ") for line in result.output.splitlines() if line.startswith("error ")]


def test_a_misspelt_next_is_reported_at_its_own_line_with_a_suggestion(tmp_path):
    path, text = copy_with(tmp_path, "        next: billing_team", "        next: biling_team")
    line = line_of(text, "next: biling_team")
    assert errors(path) == [
        f"{path}:{line}: node 'billing': 'next' names 'biling_team', which is not a node in this file; "
        "did you mean 'billing_team'?"
    ]


def test_a_misspelt_group_is_reported_at_its_line_with_a_suggestion(tmp_path):
    path, text = copy_with(tmp_path, "    group: moving\n", "    group: movng\n")
    (problem,) = errors(path)
    assert problem.startswith(f"{path}:{line_of(text, 'group: movng')}: node 'moving': ")
    assert "the group 'movng'; did you mean 'moving'?" in problem


def test_a_tab_is_named_as_a_tab(tmp_path):
    path, text = copy_with(tmp_path, "    say: >-\n      We will email", "    say: >-\n\tWe will email")
    line = line_of(text, "\tWe will email")
    assert errors(path) == [f"{path}:{line}: node 'bill_copy': line {line} is indented with a tab; use spaces"]


@pytest.mark.parametrize(
    ("old", "new", "node", "word"),
    [
        ("    outcome: bill copy sent", "    outcome bill copy sent", "bill_copy", "outcome"),  # PyYAML: a line on
        ("  anything_else:\n    type: menu", "  anything_else:\n    type menu", "anything_else", "type"),  # two on
    ],
    ids=["last-field", "first-field"],
)
def test_a_missing_colon_is_reported_where_it_is_missing(tmp_path, old, new, node, word):
    path, text = copy_with(tmp_path, old, new)
    line = line_of(text, new.splitlines()[-1])
    expected = f"a ':' is missing after '{word}' (write it as  {word}: value)"
    assert errors(path) == [f"{path}:{line}: node '{node}': {expected}"]


def test_a_field_given_twice_names_its_node_and_both_lines(tmp_path):
    path, text = copy_with(
        tmp_path, "    outcome: bill copy sent\n", "    outcome: bill copy sent\n    outcome: sent\n"
    )
    first, second = line_of(text, "outcome: bill copy sent"), line_of(text, "outcome: sent")
    assert errors(path) == [
        f"{path}:{second}: node 'bill_copy': 'outcome' is given twice (first on line {first}); keep one"
    ]


def test_several_mistakes_come_sorted_by_file_and_line(tmp_path):
    path, text = copy_with(tmp_path, "        next: billing_team", "        next: billing_teem")
    text = text.replace("    group: moving\n", "    group: movng\n")  # later in the file
    text = text.replace('      - key: "2"\n        words: [copy', '      - key: "0"\n        words: [copy')  # earlier
    path.write_text(text)
    found = errors(path)
    lines = [int(problem.split(":")[1]) for problem in found]
    assert len(found) == 3 and lines == sorted(lines), found


def test_a_copied_flow_file_names_both_files(tmp_path):
    path, _ = copy_with(tmp_path, "name: riverlink-support", "name: riverlink-support")
    shutil.copy(path, path.parent / "support-copy.yaml")
    (problem,) = errors(path)
    assert "support.yaml" in problem and "support-copy.yaml" in problem and "give each file its own 'name:'" in problem
    (path.parent / "support-copy.yaml").write_text(
        EXAMPLE.replace("name: riverlink-support", "name: riverlink-copy").replace("default: true\n", "")
    )
    (problem,) = errors(path)
    assert "+15005550006" in problem and "support.yaml" in problem and "support-copy.yaml" in problem


def test_a_draft_outside_the_flows_folder_is_checked_against_its_agents(tmp_path):
    draft = tmp_path / "drafts" / "new-line.yaml"
    draft.parent.mkdir()
    draft.write_text(EXAMPLE.replace("    group: moving\n", "    group: movng\n"))
    result = CliRunner().invoke(main, ["check", str(draft)], env={"FLOWS_DIR": str(ROOT / "flows"), "COLUMNS": "400"})
    assert result.exit_code == 1 and "did you mean 'moving'?" in result.output
    assert f"against {ROOT / 'flows' / 'agents.yaml'}" in result.output
    draft.write_text(EXAMPLE)
    agents = tmp_path / "team.yaml"
    shutil.copy(ROOT / "flows" / "agents.yaml", agents)
    result = CliRunner().invoke(main, ["check", str(draft), "--agents", str(agents)], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert f"against {agents}" in result.output


def test_the_server_refuses_the_same_mistakes(tmp_path):
    path, text = copy_with(tmp_path, "    outcome: bill copy sent", "    outcome bill copy sent")
    with pytest.raises(FlowError) as caught:
        load_catalog(path.parent)
    (problem,) = caught.value.problems
    assert (problem.line, problem.node) == (line_of(text, "outcome bill copy sent"), "bill_copy")


SLIPS = {
    "unclosed-quote": ("    say: Is there", '    say: "Is there', 'say: "Is there', 'a quote (") opens'),
    "list-item-colon": (
        '      - key: "1"\n        words: [charge',
        '      - key "1"\n        words: [charge',
        'key "1"',
        "'key'",
    ),
    "unclosed-list": ("payments, charge]", "payments, charge", "[billing, bill", "'['"),
    "indentation": (
        "        words: [billing, bill,",
        "       words: [billing, bill,",
        "       words: [billing",
        "line up",
    ),
}


@pytest.mark.parametrize(("old", "new", "at", "words"), SLIPS.values(), ids=SLIPS.keys())
def test_other_slips_get_plain_words_at_their_line(tmp_path, old, new, at, words):
    path, text = copy_with(tmp_path, old, new)
    (problem,) = errors(path)
    assert problem.startswith(f"{path}:{line_of(text, at)}: node '"), problem
    assert words in problem and "<" not in problem, "no PyYAML jargon such as <block end>"


def test_a_quote_in_spoken_text_is_not_blamed_for_a_later_mistake(tmp_path):
    path, text = copy_with(
        tmp_path, "Thanks for calling Riverlink Internet.", 'Thanks for calling Riverlink, our 5" router.'
    )
    text = text.replace(
        "    type: menu\n    say: >-\n      Billing.", "    type: menu\n     say: >-\n      Billing.", 1
    )
    path.write_text(text)
    (problem,) = errors(path)
    line = line_of(text, "     say: >-")
    assert problem == (
        f"{path}:{line}: node 'billing': this line is indented further than the field above it: "
        "each field of a node starts in the same column"
    )
