"""Answering Twilio: every webhook's reply is a TwiML document with status 200."""

from __future__ import annotations

from flask import Response
from twilio.twiml.voice_response import VoiceResponse


def twiml(xml: str) -> Response:
    return Response(xml, status=200, mimetype="text/xml")


def nothing() -> Response:
    """An empty <Response/>: nothing for the caller to hear (status callbacks, a bridged whisper)."""
    return twiml(str(VoiceResponse()))
