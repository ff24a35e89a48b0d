"""Every phone line the service answers: the flows in a folder plus its agents directory, checked together."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ivr.errors import FlowError, Problem
from ivr.flows import audio as audio_files
from ivr.flows.directory import Directory, load_directory
from ivr.flows.load import load_flow
from ivr.flows.model import Flow
from ivr.flows.phone_numbers import normalise
from ivr.flows.timing_report import check_budgets

AGENTS_FILE = "agents.yaml"


@dataclass(frozen=True)
class Catalog:
    flows: dict[str, Flow]
    directory: Directory
    by_number: dict[str, str]
    default: str
    # audio files the flows refer to (`play`, `hold_music`), as written: the URL path each is served at
    audio: dict[str, str] = field(default_factory=dict)
    audio_seconds: dict[str, float] = field(default_factory=dict)  # as written: seconds callers hear
    audio_problems: tuple[Problem, ...] = ()  # files callers will not hear (they hear the spoken text)

    def for_number(self, dialled: str | None) -> Flow:
        """The flow for the number the caller dialled; the default flow for any other."""
        name = self.by_number.get(normalise(dialled) or "", self.default)
        return self.flows[name]

    def flow(self, name: str | None) -> Flow | None:
        return self.flows.get(name) if name else None


def flow_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.y*ml") if p.name != AGENTS_FILE and p.suffix in (".yaml", ".yml"))


def load_catalog(folder: Path | str, audio_cache: Path | None = None) -> Catalog:
    """Load and validate a folder of flows; raise FlowError listing every problem in every file.

    Audio files are converted into audio_cache when it is given, else only checked; one that cannot be
    used is reported in `audio_problems`, never raised: callers hear the spoken text instead.
    """
    folder = Path(folder)
    directory = load_directory(folder / AGENTS_FILE)
    problems: list[Problem] = []
    flows: dict[str, Flow] = {}
    for path in flow_files(folder):
        try:
            flow = load_flow(path, directory)
        except FlowError as exc:
            problems.extend(exc.problems)
            continue
        if flow.name in flows:
            other = flows[flow.name].file
            message = f"the line name '{flow.name}' is used by {other} too: give each file its own 'name:'"
            problems.append(Problem(flow.file, None, None, message))
            continue
        flows[flow.name] = flow
    if not flows and not problems:
        problems.append(Problem(str(folder), None, None, "no flow files (*.yaml besides agents.yaml) here"))
    by_number: dict[str, str] = {}
    for flow in flows.values():
        for number in flow.numbers:
            if number in by_number:
                other = flows[by_number[number]]
                message = f"the number {number} is answered by {other.file} ('{other.name}') too"
                problems.append(Problem(flow.file, None, None, message))
                continue
            by_number[number] = flow.name
    defaults = [f.name for f in flows.values() if f.default]
    if len(flows) == 1:
        defaults = list(flows)
    if flows and len(defaults) != 1:
        problems.append(
            Problem(
                str(folder),
                None,
                None,
                "exactly one flow must say 'default: true' (it answers every other number); "
                f"found {len(defaults)}: {', '.join(flows[d].file for d in defaults) or 'none'}",
            )
        )
    if problems:
        raise FlowError(problems)
    sounds = audio_files.check_flows(folder, flows.values(), audio_cache)
    late = check_budgets(flows.values(), sounds.seconds)  # known only now: recordings last what they measure
    if late:
        raise FlowError(late)
    return Catalog(
        flows=flows,
        directory=directory,
        by_number=by_number,
        default=defaults[0],
        audio=sounds.urls,
        audio_seconds=sounds.seconds,
        audio_problems=sounds.problems,
    )
