"""One summary record per call, made when it ends (pure): what the line's metrics count (ivr.report).

Never the caller's number: the caller is their HMAC, as in their history.
"""

from __future__ import annotations

from ivr.call.callstate import CallState
from ivr.flows.model import Flow

VERSION = 1  # of the record's fields, for whoever reads an export later


def summary(flow: Flow, state: CallState, now: float) -> dict:
    """The record of a call that has just ended (state: as it ends)."""
    hung_up_at = None
    if not state.bridged and (state.outcome or "").startswith("hung up"):
        hung_up_at = "@hold" if state.queued_since and state.outcome == "hung up while waiting in line" else state.node
    waited = state.waited
    if state.queued_at and not state.bridged and state.outcome == "hung up while waiting in line":
        waited = now - state.queued_at  # never handed over: their whole time in line
    outcome = state.outcome or ""
    return {
        "v": VERSION,
        "call": state.call,
        "line": flow.name,
        "caller": state.caller or "",
        "arrived": round(state.started, 3),
        "offered": _t(state.offered_at),
        "queued": _t(state.queued_at),
        "bridged": _t(state.bridged_at),
        "ended": round(now, 3),
        "path": list(state.path),
        "chosen": list(state.chosen),
        "zero_out": state.zero_out,
        "rung": list(state.rung),
        "talked": state.bridged,
        "outcome": outcome,
        "hold_seconds": round(waited, 1),
        "hung_up_at": hung_up_at,
        "callback": "callback requested" in outcome or outcome == "kept their callback request",
        "message": bool(state.message),
        "repeat_window": flow.settings.reporting.repeat_window_days * 86400,
    }


def _t(moment: float | None) -> float | None:
    return round(moment, 3) if moment else None
