"""Who is calling: a stable private key for a phone number, and safe ways to show or say it."""

from __future__ import annotations

import hashlib
import hmac

from ivr.flows.phone_numbers import normalise


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
