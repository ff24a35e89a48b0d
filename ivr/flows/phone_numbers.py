"""Phone numbers as they are written in flow files and sent by Twilio, in one form: E.164."""

from __future__ import annotations

import re

# What carriers and Twilio send when the number is withheld or unknown. Such callers are never merged.
_WITHHELD = {
    "",
    "anonymous",
    "restricted",
    "unknown",
    "private",
    "unavailable",
    "blocked",
    "+266696687",
    "+7378742833",
    "+2562533",
    "+8656696",
}
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def normalise(number: str | None) -> str | None:
    """Return the E.164 form of a caller's number, or None when it is withheld, unknown or malformed."""
    if number is None:
        return None
    text = number.strip()
    if text.lower() in _WITHHELD:
        return None
    digits = re.sub(r"[\s().-]", "", text)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    return digits if _E164.match(digits) else None
