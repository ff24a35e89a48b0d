"""The baseline for bench/webhooks.py: a bare Flask app that answers POST /voice with a fixed TwiML document.

It checks no signature, reads no form and touches no Redis, so served by gunicorn with the Procfile's worker
settings it shows what the HTTP stack alone costs on this machine: the floor the real service is compared with.
"""

from __future__ import annotations

from flask import Flask, Response

TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Response><Say voice="Polly.Joanna" language="en-US">Thanks for calling.</Say></Response>'
)

app = Flask(__name__)


@app.post("/voice")
def voice() -> Response:
    """Answer every call with the same short TwiML document."""
    return Response(TWIML, status=200, mimetype="text/xml")
