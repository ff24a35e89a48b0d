"""Read YAML the way ops staff mean it: safely, every scalar a string, every mapping knowing its lines.

PyYAML follows YAML 1.1, where `no`, `off` and `+15551234567` stop being text (a boolean and an int
that lost its plus sign). Here every scalar stays the text that was typed; fields are converted one by
one by the code that knows what they mean, so a bad value gets an error naming its line.
"""

from __future__ import annotations

import re

import yaml

from ivr.errors import FlowError, Problem


class Mapping(dict):
    """A YAML mapping that remembers the line it starts on and the line of each key (1-based)."""

    line: int = 0
    key_lines: dict

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class Sequence(list):
    """A YAML sequence that remembers its own line and each item's line (1-based)."""

    line: int = 0
    item_lines: list

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


class _StringLoader(yaml.SafeLoader):
    """SafeLoader that resolves only null implicitly; everything else stays a string."""


_StringLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag == "tag:yaml.org,2002:null"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _mapping(loader: _StringLoader, node: yaml.MappingNode) -> Mapping:
    result = Mapping()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in result:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"'{key}' is given twice (first on line {result.key_lines[key]}); keep one",
                key_node.start_mark,
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _sequence(loader: _StringLoader, node: yaml.SequenceNode) -> Sequence:
    result = Sequence(loader.construct_object(item, deep=True) for item in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [item.start_mark.line + 1 for item in node.value]
    return result


_StringLoader.add_constructor("tag:yaml.org,2002:map", _mapping)
_StringLoader.add_constructor("tag:yaml.org,2002:seq", _sequence)


def parse(text: str):
    """Parse YAML text into Mapping/Sequence/str/None values. Raises yaml.YAMLError with a position."""
    return yaml.load(text, Loader=_StringLoader)


def read(path) -> object:
    """Read and parse a YAML file; a file that cannot be read or parsed raises FlowError at the mistake's line,
    in plain words, naming the node it is in."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FlowError([Problem(file, None, None, f"cannot read the file: {exc}")]) from exc
    lines = text.splitlines()
    tabs = [n for n, line in enumerate(lines, 1) if "\t" in line[: len(line) - len(line.lstrip())]]
    if tabs:  # YAML forbids tabs in indentation; PyYAML's own words for it help nobody
        raise FlowError(
            [Problem(file, n, node_at(lines, n), f"line {n} is indented with a tab; use spaces") for n in tabs]
        )
    try:
        return parse(text)
    except yaml.YAMLError as exc:
        line, message = _explain(exc, lines)
        raise FlowError([Problem(file, line, node_at(lines, line) if line else None, message)]) from exc


def _explain(exc: yaml.YAMLError, lines: list[str]) -> tuple[int | None, str]:
    """The line a YAML mistake was really made on, and what it is, in words an ops person uses."""
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark else None
    problem = getattr(exc, "problem", None) or str(exc)
    if isinstance(exc, yaml.constructor.ConstructorError):
        return line, problem  # our own words (a field given twice)
    missing = _missing_colon(lines, line)
    if missing is not None:
        word = lines[missing - 1].strip().removeprefix("- ").split()[0]
        return missing, f"a ':' is missing after '{word}' (write it as  {word}: value)"
    unclosed = _unclosed_quote(lines, line)
    if unclosed is not None:
        return unclosed, 'a quote (") opens on this line and is not closed on it'
    context = getattr(exc, "context", None) or ""
    context_mark = getattr(exc, "context_mark", None)
    if "quoted scalar" in context and context_mark is not None:  # the quote that never closes
        quote = lines[context_mark.line][context_mark.column]
        return context_mark.line + 1, f"a quote ({quote}) opens here and is never closed"
    if "flow sequence" in context or "flow mapping" in context:  # the bracket that never closes
        line = context_mark.line + 1 if context_mark is not None else line
    if "mapping values are not allowed" in problem and line and _indented_past_sibling(lines, line):
        return (
            line,
            "this line is indented further than the field above it: each field of a node starts in the same column",
        )
    for pyyaml_words, plain in _PLAIN_WORDS:
        if pyyaml_words in problem:
            return line, plain
    where = f" at column {mark.column + 1}" if mark else ""
    return line, f"this is not valid YAML{where}: {problem}"


def _indented_past_sibling(lines: list[str], n: int) -> bool:
    """Whether line N is indented further than the `key: value` line above it (which cannot hold fields)."""
    line = lines[n - 1]
    for above in range(n - 1, 0, -1):
        text = lines[above - 1]
        if text.strip() and not text.strip().startswith("#"):
            deeper = len(line) - len(line.lstrip()) > len(text) - len(text.lstrip())
            holds_value = bool(_KEY.match(text)) and text.split(":", 1)[1].strip() not in ("", ">-", ">", "|", "|-")
            return deeper and holds_value
    return False


# PyYAML's words for a mistake -> what to do about it
_PLAIN_WORDS = (
    (
        "expected <block end>",
        "this line does not line up with the lines above it: each field of a node starts in the same column",
    ),
    (
        "mapping values are not allowed here",
        "a ':' here cannot start a field: put text that holds ': ' in quotes, or check the line above",
    ),
    (
        "expected ',' or ']'",
        "a list opened with '[' on this line is not closed with ']' (put text holding ':' in quotes)",
    ),
    ("expected ',' or '}'", "a mapping opened with '{' on this line is not closed with '}'"),
)


def _unclosed_quote(lines: list[str], error_line: int | None) -> int | None:
    """The first line before the error whose value opens a double-quoted text that the line does not close:
    PyYAML reads on to the next quote in the file and complains wherever that leaves it. Quotes inside plain
    or block text (`say: >-`) are words, not YAML, and are left alone."""
    for n in range(1, min(error_line or 0, len(lines))):
        value = _QUOTED_VALUE.match(lines[n - 1])
        if value and value.group(1).replace('\\"', "").count('"') % 2:
            return n
    return None


_QUOTED_VALUE = re.compile(r'^\s*(?:- )?(?:[A-Za-z_][\w-]*\s*:\s+)?("[^#]*)$')


_KEY = re.compile(r"^(\s*)(- )?[A-Za-z_][\w-]*\s*:(\s|$)")
_BLOCK_TEXT = re.compile(r":\s*[>|][-+]?\d*\s*(#.*)?$")


def _missing_colon(lines: list[str], error_line: int | None) -> int | None:
    """The line, at or before the error, that stands among a mapping's keys but has no ':' (a key whose colon
    was forgotten). PyYAML reports such a mistake a line or two later, on whatever it could not fit."""
    last = min(error_line or len(lines), len(lines))
    candidate = None
    block_indent = None  # inside a `say: >-` block, lines are text, not keys
    for n in range(1, last + 1):
        line = lines[n - 1]
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if not stripped or stripped.startswith("#"):
            continue
        if block_indent is not None:
            if indent > block_indent:
                continue
            block_indent = None
        if _BLOCK_TEXT.search(line):
            block_indent = indent
        if stripped.startswith("- "):  # a list item: its first field starts two columns in
            stripped, indent = stripped[2:].strip(), indent + 2
        if not stripped or ":" in stripped or stripped.startswith(("[", "{", '"', "'", "-")):
            continue
        if _sibling_is_key(lines, n, indent):
            candidate = n
    return candidate


def _sibling_is_key(lines: list[str], n: int, indent: int) -> bool:
    """Whether the nearest line above or below N at the same indentation is a `key:` line (N should be one too)."""
    for step in (-1, 1):
        other = n + step
        while 0 < other <= len(lines):
            line = lines[other - 1]
            other += step
            if not line.strip() or line.strip().startswith("#"):
                continue
            other_indent = len(line) - len(line.lstrip())
            if other_indent < indent:
                break
            if other_indent == indent:
                if _KEY.match(line):
                    return True
                break
    return False


_NODE = re.compile(r"^  ([A-Za-z0-9_-]+)\s*:")


def node_at(lines: list[str], line: int | None) -> str | None:
    """The flow node (a key under top-level `nodes:`) that LINE belongs to, if any."""
    if not line:
        return None
    for n in range(min(line, len(lines)), 0, -1):
        text = lines[n - 1]
        if text and not text[0].isspace() and not text.startswith("#"):
            return None  # reached a top-level key before any node
        match = _NODE.match(text)
        if match and _under_nodes(lines, n):
            return match.group(1)
    return None


def _under_nodes(lines: list[str], n: int) -> bool:
    for above in range(n - 1, 0, -1):
        text = lines[above - 1]
        if text and not text[0].isspace() and not text.startswith("#"):
            return text.split(":")[0].strip() == "nodes"
    return False
