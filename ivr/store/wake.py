"""Waking the dispatcher: webhooks push to a short list when a person frees up or someone starts waiting,
and the worker blocks on it between rounds.
"""

from __future__ import annotations

from ivr.store import keys

WAKE_KEPT = 100


def nudge(pipe, why: str) -> None:
    """Wake the worker; trimmed so the list never grows while no worker reads it."""
    pipe.rpush(keys.wake(), why)
    pipe.ltrim(keys.wake(), -WAKE_KEPT, -1)


def wait(r, timeout: float) -> None:
    """Block until a webhook nudges, or the timeout passes."""
    r.blpop([keys.wake()], timeout=timeout)
