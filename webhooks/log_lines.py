"""Values from requests, fit for a log line: what a request echoes is escaped and bounded, typed digits are
counted not written (they may be a phone number), so no log holds a number or an injected line."""

from __future__ import annotations

import re

_WORD = re.compile(r"^[A-Za-z0-9_.@-]{1,40}$")


def word(value: object) -> str:
    """A short identifier as is (a node, a status, an agent id); anything else escaped and cut short."""
    text = "" if value is None else str(value)
    if _WORD.match(text):
        return text
    return repr(text[:20]) + ("..." if len(text) > 20 else "")


def keys_pressed(digits: str | None) -> str:
    """A menu key as is; longer input (a number being typed) only as how many digits it had."""
    if not digits:
        return "none"
    return repr(digits) if len(digits) <= 2 else f"{len(digits)} digits"
