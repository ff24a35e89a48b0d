"""Who is calling: a stable private key for a phone number, and safe ways to show it."""

from __future__ import annotations

import hashlib
import hmac
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


def secret(hash_key: str | None, auth_token: str) -> bytes:
    """The HMAC key for callers: CALLER_HASH_KEY, else one derived from the auth token (never the token)."""
    return (hash_key or hashlib.sha256(f"ivr-caller-key:{auth_token}".encode()).hexdigest()).encode()


def caller_id(number: str | None, secret: bytes) -> str | None:
    """Return the HMAC key for a number (None for anonymous callers: each of those is a stranger)."""
    e164 = normalise(number)
    if e164 is None:
        return None
    return hmac.new(secret, e164.encode(), hashlib.sha256).hexdigest()[:32]


def masked(number: str | None) -> str:
    """Return a number fit for logs: only the last four digits survive."""
    e164 = normalise(number)
    if e164 is None:
        return "anonymous"
    return "***" + e164[-4:]


def spoken(number: str | None) -> str:
    """Return a number as an agent should hear it: digit by digit."""
    e164 = normalise(number)
    if e164 is None:
        return "a withheld number"
    return " ".join(e164.lstrip("+"))
