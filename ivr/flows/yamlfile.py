"""Read YAML the way ops staff mean it: safely, every scalar a string, every mapping knowing its lines.

PyYAML follows YAML 1.1, where `no`, `off` and `+15551234567` stop being text (a boolean and an int
that lost its plus sign). Here every scalar stays the text that was typed; fields are converted one by
one by the code that knows what they mean, so a bad value gets an error naming its line.
"""

from __future__ import annotations

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
            raise yaml.constructor.ConstructorError(None, None, f"the key '{key}' appears twice", key_node.start_mark)
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
    """Read and parse a YAML file; a file that cannot be read or parsed raises FlowError with its line."""
    file = str(path)
    try:
        return parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise FlowError([Problem(file, None, None, f"cannot read the file: {exc}")]) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise FlowError([Problem(file, mark.line + 1 if mark else None, None, f"not valid YAML: {exc}")]) from exc
