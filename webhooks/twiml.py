"""Answering Twilio: every webhook's reply is a TwiML document (built by ivr.render) with status 200."""

from __future__ import annotations

from flask import Response

from ivr.call.actions import Action
from ivr.render import render


def twiml(xml: str) -> Response:
    return Response(xml, status=200, mimetype="text/xml")


def reply(actions: tuple[Action, ...], flow=None, call: str = "") -> Response:
    """Render actions in the line's voice (the default voice when no flow could be read)."""
    if flow is None:
        return twiml(render(actions, call))
    return twiml(render(actions, call, flow.settings.voice, flow.settings.language))


def nothing() -> Response:
    """An empty <Response/>: nothing for the caller to hear (status callbacks, a bridged whisper)."""
    return reply(())
