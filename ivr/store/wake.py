"""Waking the dispatcher: webhooks push to a short list when a person frees up or someone starts waiting,
and the worker blocks on it between rounds.
"""

from __future__ import annotations

from ivr.store import keys


def nudge(pipe, why: str) -> None:
    """Wake the worker. The list keeps one nudge at most: a wake is a signal, not a count, so it never grows
    while no worker reads it, and a re-sent pipeline leaves it as sending once did."""
    pipe.rpush(keys.wake(), why)
    pipe.ltrim(keys.wake(), -1, -1)


def wait(r, timeout: float) -> None:
    """Block until a webhook nudges, or the timeout passes."""
    r.blpop([keys.wake()], timeout=timeout)
