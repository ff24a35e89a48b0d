"""The project's exceptions: one root, a few children."""

from __future__ import annotations

from dataclasses import dataclass


class IVRError(Exception):
    """Root of every error this project raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a flow or agents file, located for the person who edits it."""

    file: str
    line: int | None
    node: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        what = f"node '{self.node}': " if self.node else ""
        return f"{where}: {what}{self.message}"


class FlowError(IVRError):
    """A flow or agents file is invalid; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]):
        # in the order an editor meets them: by file, then by line (a problem of the whole file first)
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0))
        super().__init__("\n".join(str(p) for p in self.problems))


class ConfigError(IVRError):
    """The service is configured in a way it cannot run with."""
