"""The baseline of bench/webhooks.py: a bare Flask app answering POST /voice with a fixed TwiML menu.

It checks no signature, reads no form and touches no Redis. The bench serves it with gunicorn's defaults
(sync workers, no access log), as many workers as the service: what Flask and gunicorn alone cost here.
The answer is the size of the service's menu (about 900 bytes), so both send the same bytes back.
"""

from __future__ import annotations

from flask import Flask, Response

SAY = (
    "Press 0 or say agent at any time for a person. Thanks for calling Riverlink Internet. For billing and "
    "payments, press 1 or say billing. If your internet is down or slow, press 2 or say internet. If you are "
    "moving house, press 3 or say moving. To cancel your service, press 4 or say cancel."
)
HINTS = (
    "billing, bill, payment, payments, charge, internet, outage, slow, down, wifi, technical, moving, move, "
    "new address, cancel, cancellation, close my account, agent, representative, operator, person, human, "
    "real person, someone, somebody, customer service"
)
TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response>'
    f'<Gather action="/voice/gather?node=welcome" actionOnEmptyResult="true" hints="{HINTS}" '
    'input="dtmf speech" language="en-US" method="POST" numDigits="1" speechTimeout="auto" timeout="6">'
    f'<Say language="en-US" voice="Polly.Joanna">{SAY}</Say></Gather>'
    '<Redirect method="POST">/voice/gather?node=welcome</Redirect></Response>'
)

app = Flask(__name__)


@app.post("/voice")
def voice() -> Response:
    """Answer every call with the same menu."""
    return Response(TWIML, status=200, mimetype="text/xml")
