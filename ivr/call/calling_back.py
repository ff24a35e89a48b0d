"""Calling customers back: what the agent hears first, and what a failed try at the customer leads to (pure)."""

from __future__ import annotations

import math

from ivr.call.callers import spoken
from ivr.flows.flow import CallbackPolicy


def whisper(request: dict, line: str, now: float, attempts: int, policy: CallbackPolicy) -> str:
    """Told to the agent before the customer is dialled, so the customer never starts over."""
    waited = max(1, math.ceil((now - float(request.get("since", now))) / 60))
    path = [p for p in request.get("path", ()) if p]
    parts = [
        f"Callback for a {line.replace('-', ' ')} customer at {spoken(request.get('number'))}.",
        f"They asked about: {', then '.join(path)}." if path else "They made no menu choice.",
        f"They asked for this call {waited} minute{'s' if waited != 1 else ''} ago.",
    ]
    if attempts:
        parts.append(f"This is try {attempts + 1} of {policy.max_attempts} to reach them.")
    parts.append("Press 1 to call them now, or any other key to pass.")
    return " ".join(parts)


def after_no_answer(attempts_before: int, policy: CallbackPolicy) -> tuple[str, int]:
    """After the customer did not answer: ('requeue', minutes to wait) or ('supervisors', 0).

    The wait doubles after each try; after the last try the request goes to the supervisors' list.
    """
    tries = attempts_before + 1
    if tries >= policy.max_attempts:
        return "supervisors", 0
    return "requeue", policy.retry_minutes * 2 ** (tries - 1)
