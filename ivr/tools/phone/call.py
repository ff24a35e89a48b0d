"""The phone: places calls against one server and walks the TwiML it answers, verb by verb, to the end.

The verbs that wait for the person at the phone live in their own modules (menus, dialling, queue_wait,
recording); each is a function of the phone, the verb and its document that may answer the next document.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable

from ivr.tools.phone.dialling import dial
from ivr.tools.phone.errors import CallOver, PhoneError
from ivr.tools.phone.gather import gather
from ivr.tools.phone.line import Line
from ivr.tools.phone.queue_wait import enqueue
from ivr.tools.phone.recording import record
from ivr.tools.phone.steps import QUIT, Moment, Step
from ivr.tools.phone.transcript import Transcript, words
from ivr.tools.phone.twiml import HEARD, Doc, seconds, url_path
from ivr.tools.phone.webhook_client import Transport, WebhookClient, http_transport, new_sid


def redirect(phone: Phone, verb: ET.Element, doc: Doc) -> Doc:
    return phone.post(doc.resolve(verb.text))


VERBS: dict[str, Callable[[Phone, ET.Element, Doc], Doc | None]] = {
    "Gather": gather,
    "Redirect": redirect,
    "Dial": dial,
    "Enqueue": enqueue,
    "Record": record,
}


class Phone:
    """Places calls against one server and follows them to the end, one step at a time."""

    def __init__(
        self,
        base_url: str,
        token: str,
        caller: str,
        line: str,
        steps,
        transcript: Transcript,
        known: Line | None = None,
        transport: Transport | None = None,
    ):
        self.base = base_url.rstrip("/")
        self.webhooks = WebhookClient(self.base, token, transport or http_transport()[0])
        self.caller = caller
        self.line = line
        self.steps = steps
        self.out = transcript
        self.known = known or Line()
        self.account = new_sid("AC")
        self.sid = ""
        self.started = 0.0
        self.extra = 0.0  # seconds that passed in the story (waits, rings, talk) but not on the clock

    # --- the run ---
    def run(self) -> None:
        """Call, follow the call to its end, and call again while the steps ask for it."""
        while True:
            self.call()
            step = self.steps.next(
                Moment(
                    "ended",
                    frozenset({"call-again"}),
                    "the call has ended: `call again`, or Enter to quit"
                    if self.steps.interactive
                    else "the call has ended; only `call again` or `expect` may follow",
                    empty=QUIT,
                )
            )
            if step is None:
                return

    def call(self) -> None:
        self.sid, self.started, self.extra = new_sid(), time.monotonic(), 0.0
        shown = self.caller or "(no caller ID)"
        self.out.line("phone", f"calling {self.line} from {shown}")
        try:
            try:
                doc = self.post(self.base + "/voice", CallStatus="ringing")
                reason = self.walk(doc, "hears", self._play) or "the line had nothing more to say, so Twilio hung up"
            except CallOver as over:
                reason = over.reason
        except BaseException:
            self._status(quiet=True)  # as Twilio would: the call ended, whatever happened on our side
            raise
        lasted = self._status()
        self.out.line("phone", f"{reason}; the call lasted {lasted} s (status callback sent)")

    def _status(self, quiet: bool = False) -> int:
        lasted = max(1, round(time.monotonic() - self.started + self.extra))
        try:
            self.post(self.base + "/voice/status", CallStatus="completed", CallDuration=str(lasted))
        except PhoneError:
            if not quiet:
                raise
        return lasted

    # --- HTTP ---
    def _params(self, **extra) -> dict:
        params = {
            "CallSid": self.sid,
            "AccountSid": self.account,
            "To": self.line,
            "Called": self.line,
            "CallStatus": "in-progress",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }
        if self.caller:
            params.update(From=self.caller, Caller=self.caller)
        params.update({k: v for k, v in extra.items() if v is not None})
        return params

    def post(self, url: str, raw: dict | None = None, **extra) -> Doc:
        """POST a caller-leg webhook (or `raw` params as given) and return the TwiML it answers."""
        return self.webhooks.post(url, raw if raw is not None else self._params(**extra))

    # --- verb by verb ---
    def walk(self, doc: Doc, who: str, play: Callable[[ET.Element, Doc], object]) -> object:
        """Run documents verb by verb. `who` hears Say, Play and Pause, and a Gather's prompts before `play` gets
        the Gather; every other verb goes to `play`. A document `play` answers (a Redirect's, a Gather's answer)
        runs next; any other answer but None ends the walk and is returned; None when the documents run out."""
        while True:
            for verb in list(doc.root):
                if verb.tag in HEARD:
                    self.hear(verb, who)
                    continue
                if verb.tag == "Gather":
                    for child in verb:
                        self.hear(child, who)
                outcome = play(verb, doc)
                if outcome is not None:
                    break
            else:
                return None
            if not isinstance(outcome, Doc):
                return outcome
            doc = outcome

    def _play(self, verb: ET.Element, doc: Doc) -> Doc | str | None:
        """The caller's leg: a verb's next document, why the call ended, or None to go on."""
        handler = VERBS.get(verb.tag)
        if handler is not None:
            return handler(self, verb, doc)
        if verb.tag in ("Hangup", "Reject"):
            return "the line hung up"
        if verb.tag == "Leave":
            self.out.line("phone", "<Leave/> outside a queue: Twilio ignores it")
        else:
            self.out.line("phone", f"<{verb.tag}> is not something this phone can play: skipped")
        return None

    def hear(self, verb: ET.Element, who: str) -> None:
        if verb.tag == "Say":
            text = words("".join(verb.itertext()))
            if text:
                self.out.line(who, text)
        elif verb.tag == "Play":
            if verb.get("digits"):
                self.out.line(who, f"[keys {verb.get('digits')} played]")
            else:
                url = (verb.text or "").strip()
                self.out.line(who, f"[recording {self.known.audio.get(url_path(url), url)}]")
        elif verb.tag == "Pause":
            length = seconds(verb.get("length"), 1)
            self.extra += length
            self.out.line(who, f"[pause {length:g} s]")

    def ask(self, moment: Moment) -> Step:
        """The next step that fits; running out of steps is hanging up."""
        step = self.steps.next(moment)
        if step is None:
            if self.steps.interactive:
                self.out.line("phone", "you hang up")
            else:
                self.out.line("phone", "end of the script: you hang up")
            return Step("hangup", text="hangup")
        return step
