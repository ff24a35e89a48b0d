"""Time to a human: seconds of prompts before a person is offered and rings, from the flow alone."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydub.generators import Sine

from ivr.call.actions import Ask, Say
from ivr.call.engine import step
from ivr.call.events import Arrive, Input
from ivr.call.world import World
from ivr.errors import FlowError
from ivr.flows.catalog import load_catalog
from ivr.flows.directory import load_directory
from ivr.flows.load import load_flow
from ivr.flows.prompts import CONNECTING_LINE, ZERO_OUT_HINT
from ivr.flows.timing import SPEAKING_RATE, speech_seconds, time_to_human
from ivr.flows.timing_report import HEADERS, budget_problems, first_offer_warnings, rows

ROOT = Path(__file__).resolve().parents[1]
FLOWS = ROOT / "flows"
DIRECTORY = load_directory(FLOWS / "agents.yaml")
HINT = 4.8  # ZERO_OUT_HINT: 11 words at 150 a minute (4.4 s) and one sentence (0.4 s)
CONNECTING = 2.4  # "Connecting you to a person.": 5 words (2.0 s) and one sentence


def talk(sentences: int, words: int) -> str:
    """Text of SENTENCES sentences of WORDS words each: words / 2.5 s + 0.4 s a sentence at SPEAKING_RATE."""
    return " ".join(" ".join(["please"] * (words - 1) + ["listen."]) for _ in range(sentences))


def write_line(folder: Path, text: str, name: str = "line.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "agents.yaml").exists():
        shutil.copy(FLOWS / "agents.yaml", folder)
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def long_intro(
    budget: int | None = None, intro: str = talk(7, 10), menu: str = talk(4, 10), warning: int | None = None
) -> str:
    """A flow with a message before its first menu, whose reminder comes first: 30.8 s + 4.8 s = 35.6 s."""
    settings = "".join(
        f"  {name}: {value}\n"
        for name, value in (("time_to_human_budget_seconds", budget), ("first_offer_warning_seconds", warning))
        if value
    )
    settings = f"settings:\n{settings}" if settings else ""
    return (
        f"start: intro\n{settings}nodes:\n"
        f"  intro:\n    type: message\n    say: {intro}\n    next: welcome\n"
        f"  welcome:\n    type: menu\n    say: {menu}\n"
        '    options:\n      - key: "1"\n        words: [billing]\n        next: team\n'
        "  team:\n    type: route\n    say: Connecting you.\n    group: billing\n"
    )


def line_of(text: str, node: str) -> int:
    return text.splitlines().index(f"  {node}:") + 1


def check(*args):
    from ivr.tools.cli import main

    return CliRunner().invoke(main, ["check", *map(str, args)], catch_exceptions=False)


# --- speaking rate --------------------------------------------------------------------------------------


def test_text_is_estimated_at_150_words_a_minute_with_a_pause_per_sentence():
    assert (SPEAKING_RATE.words_per_minute, SPEAKING_RATE.sentence_pause_seconds) == (150, 0.4)
    assert speech_seconds(talk(1, 10)) == 4.4
    assert speech_seconds(talk(3, 10)) == 13.2
    assert speech_seconds("Hello there. How are you?") == 2.8  # 5 words, 2 sentences
    assert speech_seconds("press 1 or say billing") == 2.4  # no full stop: still one sentence
    assert speech_seconds("") == 0
    assert speech_seconds(ZERO_OUT_HINT) == HINT
    assert speech_seconds(CONNECTING_LINE) == CONNECTING


# --- the example line -----------------------------------------------------------------------------------


def test_the_example_line_offers_a_person_within_its_budget_with_these_figures():
    flow = load_catalog(FLOWS).flows["riverlink-support"]
    timing = time_to_human(flow)
    # the first thing a caller hears is the way to a person: offered within 5 seconds of answering
    assert (timing.budget, timing.first_offer, timing.offer_node) == (30, 4.8, "welcome")
    assert budget_problems(timing) == [] and first_offer_warnings(timing) == []
    assert [str(s) for s in timing.offer_path] == ["welcome (4.8 s)"]
    assert rows(timing) == [
        # node, type, reach, offered, to a person, barge-in reach, barge-in person, note
        ("welcome", "menu", "0.0", "4.8", "27.2", "0.0", "2.4", "offers a person (0)"),
        # every node is within 30 s of a person from the moment a caller enters it: no warnings
        ("billing", "menu", "24.8", "4.8", "41.2", "0.0", "2.4", ""),
        ("bill_copy", "message", "38.8", "4.8", "56.0", "0.0", "10.0", ""),
        ("anything_else", "menu", "46.4", "4.8", "56.0", "7.6", "10.0", ""),
        ("billing_team", "route", "38.8", "4.8", "41.6", "0.0", "2.8", ""),
        ("technical", "message", "24.8", "4.8", "38.4", "0.0", "13.6", ""),
        ("technical_team", "route", "36.0", "4.8", "38.4", "11.2", "13.6", ""),
        ("moving", "route", "24.8", "4.8", "29.6", "0.0", "4.8", ""),
        ("cancellation_team", "route", "24.8", "4.8", "34.0", "0.0", "9.2", ""),
        ("goodbye", "goodbye", "53.6", "4.8", "-", "7.6", "-", "call ends"),
    ]
    copy = timing.nodes["bill_copy"]
    assert [str(s) for s in copy.path] == [
        "welcome (24.8 s)",
        "billing (14.0 s)",
        "bill_copy (7.6 s)",
        "anything_else (7.2 s)",
        "0 (2.4 s)",
    ]
    assert time_to_human(flow) == timing  # the same figures every time


def test_ivr_check_prints_the_table_and_passes_the_example():
    result = check(FLOWS)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = next(n for n, line in enumerate(lines) if line.startswith("node "))
    assert re.split(r"\s{2,}", lines[header]) == list(HEADERS)
    assert lines[header + 1].split() == [
        "welcome",
        "menu",
        "0.0",
        "4.8",
        "27.2",
        "0.0",
        "2.4",
        "offers",
        "a",
        "person",
        "(0)",
    ]
    assert lines[header + 10].split()[:7] == ["goodbye", "goodbye", "53.6", "4.8", "-", "7.6", "-"]
    assert (
        "riverlink-support: callers are offered a person (0) 4.8 s after the call is answered, at 'welcome' "
        "(warning over 10 s, budget 30 s)" in result.output
    )
    assert "warning" not in result.output.replace("(warning over", "")
    assert check(FLOWS).output == result.output  # stable


def test_a_node_far_from_a_person_is_a_warning_not_a_failure(tmp_path):
    text = (
        (FLOWS / "support.yaml")
        .read_text()
        .replace(
            "    say: >-\n      We will email a copy of your latest bill",
            "    say: >-\n      "
            + "Please listen carefully to all of the following information. " * 6
            + "We will email a copy of your latest bill",
        )
    )
    path = write_line(tmp_path, text, "support.yaml")
    result = check(path)
    assert result.exit_code == 0, result.output
    assert (
        f"warning {path}:{line_of(text, 'bill_copy')}: node 'bill_copy': from here a person's phone rings"
        in result.output
    )


# --- the budget -----------------------------------------------------------------------------------------


def test_a_long_intro_and_first_menu_fail_the_check_naming_the_path(tmp_path):
    text = textwrap.dedent(long_intro())
    path = write_line(tmp_path, text)
    expected = (
        f"{path}:{line_of(text, 'welcome')}: node 'welcome': callers hear 35.6 s of prompts before being "
        "offered a person (budget 30 s): intro (30.8 s) -> welcome (4.8 s)"
    )
    with pytest.raises(FlowError) as caught:
        load_catalog(tmp_path)  # what the server loads: it refuses to start
    assert [str(p) for p in caught.value.problems] == [expected]
    for target in (tmp_path, path):  # the folder, or the one file
        result = check(target)
        assert result.exit_code == 1
        assert f"error {expected}" in result.output


def test_the_budget_setting_changes_the_verdict(tmp_path):
    assert check(write_line(tmp_path / "a", long_intro(budget=40))).exit_code == 0
    assert check(write_line(tmp_path / "b", long_intro(budget=35))).exit_code == 1


def test_a_first_offer_later_than_the_warning_limit_is_a_warning_not_a_failure(tmp_path):
    text = textwrap.dedent(long_intro(intro=talk(2, 10)))  # 8.8 s + 4.8 s: over 10 s, within the 30 s budget
    path = write_line(tmp_path, text)
    result = check(path)
    assert result.exit_code == 0, result.output
    assert (
        f"warning {path}:{line_of(text, 'welcome')}: node 'welcome': callers hear 13.6 s of prompts before they "
        "learn 0 reaches a person (warning over 10 s; shorten what comes first): intro (8.8 s) -> welcome (4.8 s)"
    ) in result.output
    assert "line: callers are offered a person (0) 13.6 s after the call is answered" in result.output
    load_catalog(tmp_path)  # the server starts with it
    quiet = check(write_line(tmp_path / "later", long_intro(intro=talk(2, 10), warning=14)))
    assert quiet.exit_code == 0 and "learn 0 reaches a person" not in quiet.output
    example = (
        (FLOWS / "support.yaml").read_text().replace("settings:\n", "settings:\n  first_offer_warning_seconds: 4\n")
    )
    strict = check(write_line(tmp_path / "strict", example, "support.yaml"))
    assert strict.exit_code == 0 and "callers hear 4.8 s of prompts before they learn 0" in strict.output


def test_a_flow_that_puts_callers_straight_through_is_judged_on_the_ring(tmp_path):
    text = (
        "start: hello\nnodes:\n  hello:\n    type: message\n    say: "
        + talk(8, 10)
        + "\n    next: team\n  team:\n    type: route\n    say: Connecting you.\n    group: billing\n"
    )
    timing = time_to_human(load_flow(write_line(tmp_path, text), DIRECTORY))
    assert (timing.first_offer, timing.offer_node, timing.offer_connects) == (36.4, "team", True)
    assert "before a person's phone rings (budget 30 s): hello (35.2 s) -> team (1.2 s)" in str(
        budget_problems(timing)[0]
    )


def test_a_flow_that_only_says_goodbye_has_no_offer_and_no_failure(tmp_path):
    text = "start: bye\nnodes:\n  bye:\n    type: goodbye\n    say: " + talk(10, 10) + "\n"
    timing = time_to_human(load_flow(write_line(tmp_path, text), DIRECTORY))
    assert timing.first_offer is None and budget_problems(timing) == []
    assert timing.nodes["bye"].to_person is None and not timing.nodes["bye"].over_budget


# --- the model agrees with the engine -------------------------------------------------------------------


def _world(flow, state=None):
    return World(flow=flow, directory=DIRECTORY, now=1_800_000_000.0, call="CA" + "0" * 32, state=state)


def _heard(outcome) -> list[str]:
    return [a.text if isinstance(a, Say) else a.prompt for a in outcome.actions if isinstance(a, Say | Ask)]


def test_the_reminder_is_heard_on_the_first_menu_only_the_first_time_unless_it_is_the_start(tmp_path):
    text = (
        "start: intro\nnodes:\n"
        f"  intro:\n    type: message\n    say: {talk(2, 5)}\n    next: main\n"
        f"  main:\n    type: menu\n    say: {talk(1, 5)}\n"
        '    options:\n      - key: "1"\n        words: [again]\n        next: back\n'
        "  back:\n    type: goto\n    next: intro\n"
    )
    flow = load_flow(write_line(tmp_path, text), DIRECTORY)
    timing = time_to_human(flow)
    intro, menu = 4.8, 2.4
    arrived = step(_world(flow), Arrive())
    assert _heard(arrived) == [talk(2, 5), f"{ZERO_OUT_HINT} {talk(1, 5)}"]  # the reminder before the menu
    assert speech_seconds(f"{talk(2, 5)} {ZERO_OUT_HINT}") == timing.first_offer == intro + HINT
    again = step(_world(flow, arrived.state), Input(node="main", digits="1"))
    assert _heard(again) == [talk(2, 5), talk(1, 5)]  # the way back: no reminder this time
    back = timing.nodes["back"]
    assert back.reach == intro + menu + HINT
    assert back.to_person == pytest.approx(back.reach + intro + menu + CONNECTING)
    assert [str(s) for s in back.path] == [
        "intro (4.8 s)",
        "main (7.2 s)",
        "back (0.0 s)",
        "intro (4.8 s)",
        "main (2.4 s)",
        "0 (2.4 s)",
    ]
    zero = step(_world(flow, arrived.state), Input(node="main", digits="0"))
    assert _heard(zero)[0] == CONNECTING_LINE  # the line counted for pressing 0


def test_the_long_intro_flow_is_heard_as_counted(tmp_path):
    flow = load_flow(write_line(tmp_path, long_intro()), DIRECTORY)
    intro, menu = _heard(step(_world(flow), Arrive()))
    assert menu.startswith(ZERO_OUT_HINT)
    assert speech_seconds(f"{intro} {ZERO_OUT_HINT}") == time_to_human(flow).first_offer == 35.6


# --- recorded prompts -----------------------------------------------------------------------------------


def recorded_line(folder: Path, seconds: float, say: str, node: str = "welcome") -> Path:
    """The long-intro flow with a 0.8 s intro ("Hello."), the NODE's prompt recorded (its text: SAY)."""
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    Sine(440).to_audio_segment(duration=int(seconds * 1000)).export(
        folder / "audio" / "welcome.wav", format="wav"
    ).close()
    text = long_intro(intro="Hello.", menu="Press 1.")
    kind = "menu" if node == "welcome" else "message"
    text = text.replace(f"  {node}:\n    type: {kind}\n", f"  {node}:\n    type: {kind}\n    play: audio/welcome.wav\n")
    text = text.replace("say: Hello." if node == "intro" else "say: Press 1.", f"say: {say}")
    return write_line(folder, text)


def test_a_recorded_prompt_counts_its_measured_length_not_the_text(tmp_path):
    # the menu's text alone would take 28.8 s; the recording plays 3 s
    recorded_line(tmp_path, 3.0, talk(6, 11))
    catalog = load_catalog(tmp_path)
    measured = catalog.audio_seconds["audio/welcome.wav"]
    assert measured == pytest.approx(3.0, abs=0.05)
    flow = next(iter(catalog.flows.values()))
    timing = time_to_human(flow, catalog.audio_seconds)
    assert timing.nodes["welcome"].recorded and timing.nodes["welcome"].prompt == round(measured + HINT, 1)
    assert timing.first_offer == round(0.8 + HINT, 1)  # the reminder comes before the recording
    assert timing.nodes["team"].reach == round(0.8 + measured + HINT, 1)
    assert time_to_human(flow).nodes["team"].reach == round(0.8 + 28.8 + HINT, 1)  # without it: the text
    assert "recorded" in rows(timing)[1][-1]


def test_a_long_recording_fails_the_check_though_its_text_is_short(tmp_path):
    recorded_line(tmp_path, 26.0, "Hello.", node="intro")  # heard before the first menu's reminder
    with pytest.raises(FlowError) as caught:
        load_catalog(tmp_path)
    (problem,) = caught.value.problems
    assert problem.node == "welcome" and "callers hear 30." in problem.message
    assert "intro (26." in problem.message and "-> welcome (4.8 s)" in problem.message
    assert check(tmp_path / "line.yaml").exit_code == 1
