"""Typed fields out of a located YAML mapping, with every mistake recorded as a Problem, not raised."""

from __future__ import annotations

import re

from ivr.errors import Problem
from ivr.flows.yamlfile import Mapping

E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class Fields:
    """Reads fields of one mapping (a node, an agent, settings) and collects problems about them."""

    def __init__(self, file: str, data, node: str | None, problems: list[Problem], what: str = ""):
        self.file = file
        self.node = node
        self.problems = problems
        self.what = what
        if isinstance(data, Mapping):
            self.data = data
        else:
            self.data = Mapping()
            self.data.line = getattr(data, "line", 0)
            self.data.key_lines = {}
            if data is not None:
                self.problem(f"{what or 'this'} should be a mapping of fields (name: value)")

    def problem(self, message: str, key: str | None = None, line: int | None = None) -> None:
        self.problems.append(Problem(self.file, line or self.line(key), self.node, message))

    def line(self, key: str | None = None) -> int:
        return self.data.line_of(key) if key else self.data.line

    def only(self, allowed: set[str]) -> None:
        """Report unknown fields: a typo must not silently change what callers hear."""
        for key in self.data:
            if key not in allowed:
                self.problem(f"unknown field '{key}' (expected one of: {', '.join(sorted(allowed))})", key)

    def text(self, key: str, default: str | None = None, required: bool = False) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                self.problem(f"'{key}' is required")
            return default
        if not isinstance(value, str):
            self.problem(f"'{key}' should be text", key)
            return default
        value = value.strip()
        if required and not value:
            self.problem(f"'{key}' must not be empty", key)
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, str) or not re.fullmatch(r"\d+", value.strip()):
            self.problem(f"'{key}' should be a whole number from {low} to {high}, not {value!r}", key)
            return default
        number = int(value)
        if not low <= number <= high:
            self.problem(f"'{key}' should be from {low} to {high}, not {number}", key)
            return default
        return number

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        self.problem(f"'{key}' should be true or false, not {value!r}", key)
        return default

    def texts(self, key: str) -> tuple[str, ...]:
        """A list of text, also accepting a single text."""
        value = self.data.get(key)
        if value is None:
            return ()
        items = [value] if isinstance(value, str) else value
        if isinstance(items, list) and all(isinstance(v, str) and v.strip() for v in items):
            return tuple(v.strip() for v in items)
        self.problem(f"'{key}' should be a list of text, with no empty entries", key)
        return ()

    def phone(self, key: str) -> str | None:
        value = self.text(key)
        if value is not None and not E164.match(value):
            self.problem(f"'{key}' should be a number in E.164 form such as +15551234567, not {value!r}", key)
            return None
        return value

    def mapping(self, key: str) -> Fields:
        return Fields(self.file, self.data.get(key), self.node, self.problems, what=f"'{key}'")
