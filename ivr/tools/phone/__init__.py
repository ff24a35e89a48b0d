"""`ivr call`: a phone in the terminal, for rehearsing a call without dialling.

You play the caller (and, when a phone rings, the person who answers it). The phone posts signed webhooks
exactly as Twilio would, follows the TwiML the server returns verb by verb and prints what each side hears.
It drives a running server (`--url`) or a private one it starts for the length of the run: its own Redis in
a temporary folder plus the Procfile's `web:` command, so callers start fresh on every run.

Steps come from the keyboard, or from a script (one step per line) for CI; see STEP_HELP. HTTP goes through
`requests`; nothing here imports Flask or the webhooks package.

The modules, from the command down: command (`ivr call`'s options and exit code), private_server, call (the
phone and its walk through the TwiML), the verbs that wait for a step (menus, dialling with ringing_phones,
queue_wait, recording), webhook_client (signed POSTs, TwiML back), twiml, line (what the flows tell the
phone), steps and step_sources (the step language and where steps come from), transcript and errors.
"""

from ivr.tools.phone.call import Phone
from ivr.tools.phone.command import DEFAULT_CALLER, FALLBACK_LINE, find_token, run
from ivr.tools.phone.errors import CallOver, PhoneError, ScriptFailed, ServerError
from ivr.tools.phone.line import Line, read_line
from ivr.tools.phone.private_server import PrivateServer
from ivr.tools.phone.step_sources import ScriptSteps, TypedSteps
from ivr.tools.phone.steps import STEP_HELP, Moment, Step, parse_step
from ivr.tools.phone.transcript import Transcript
from ivr.tools.phone.twiml import Doc
from ivr.tools.phone.webhook_client import WEBHOOK_TIMEOUT, Transport, http_transport, new_sid

__all__ = [
    "DEFAULT_CALLER",
    "FALLBACK_LINE",
    "STEP_HELP",
    "WEBHOOK_TIMEOUT",
    "CallOver",
    "Doc",
    "Line",
    "Moment",
    "Phone",
    "PhoneError",
    "PrivateServer",
    "ScriptFailed",
    "ScriptSteps",
    "ServerError",
    "Step",
    "Transcript",
    "Transport",
    "TypedSteps",
    "find_token",
    "http_transport",
    "new_sid",
    "parse_step",
    "read_line",
    "run",
]
