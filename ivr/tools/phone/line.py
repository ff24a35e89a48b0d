"""What the phone knows about the line it calls: people's names, the default number, recorded prompts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ivr.flows.catalog import AGENTS_FILE, flow_files
from ivr.flows.directory import Directory, load_directory
from ivr.flows.load import load_flow


@dataclass
class Line:
    directory: Directory | None = None
    default_number: str | None = None
    audio: dict[str, str] = field(default_factory=dict)  # served URL path -> the file as written in a flow


def read_line(folder: Path) -> Line:
    """Names, the default line's first number and the recordings' names; raise FlowError on a broken flow."""
    directory = load_directory(folder / AGENTS_FILE)
    flows = [load_flow(path, directory) for path in flow_files(folder)]
    default = next((f for f in flows if f.default), flows[0] if len(flows) == 1 else None)
    audio: dict[str, str] = {}
    try:
        from ivr.flows import audio as audio_files

        for flow in flows:
            for written, _ in audio_files.prompts(flow):
                source = folder / written
                if source.is_file():
                    audio[audio_files.URL_PREFIX + audio_files.public_name(source.read_bytes())] = written
    except Exception:  # names for recordings are a nicety: the phone prints their URL without them
        audio = {}
    return Line(directory, default.numbers[0] if default and default.numbers else None, audio)
