"""A stand-in for Twilio at the HTTP boundary: signed webhook POSTs in, TwiML out, validated against the XSD.

A SimCall follows a call the way Twilio would: Gather to its action, Redirect, Dial to the whisper on the
agent's leg and back to the Dial action, and the status callback at the end.
"""

from __future__ import annotations

import itertools
import secrets
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import xmlschema
from twilio.request_validator import RequestValidator

XSD = Path(__file__).resolve().parent / "twiml_xsd" / "twiml_v20100401_twilioRealtimeCallSchema.xsd"
_schema = None


def twiml_schema() -> xmlschema.XMLSchema:
    global _schema
    if _schema is None:
        _schema = xmlschema.XMLSchema(str(XSD))
    return _schema


def assert_valid_twiml(xml: str) -> ET.Element:
    """Validate against Twilio's XSD (raises with the offending element) and return the parsed root.

    The one documented exception: the XSD predates <Leave/> (see its README), which takes a caller out of
    a queue. It is checked here by hand (a bare, empty, top-level verb) and removed before validating.
    """
    root = ET.fromstring(xml)
    leaves = root.findall("Leave")
    for leave in leaves:
        assert not leave.attrib and not list(leave) and not (leave.text or "").strip(), "<Leave/> takes nothing"
        root.remove(leave)
    assert not root.findall(".//Leave"), "<Leave/> belongs at the top of the document"
    twiml_schema().validate(ET.tostring(root, encoding="unicode") if leaves else xml)
    parsed = ET.fromstring(xml)
    return parsed


def new_sid(prefix: str = "CA") -> str:
    return prefix + secrets.token_hex(16)


class Twilio:
    """Signs and posts webhooks to the Flask test client as Twilio would."""

    _numbers = itertools.count(1000)

    def __init__(self, client, auth_token: str, public_url: str, line: str = "+15005550006"):
        self.client = client
        self.validator = RequestValidator(auth_token)
        self.public_url = public_url.rstrip("/")
        self.line = line
        self.account = new_sid("AC")

    def post(self, path: str, params: dict, signature: str | None = None, expect: int = 200):
        path = path.removeprefix(self.public_url)  # URLs handed to Twilio's REST API are absolute
        url = self.public_url + path
        sig = self.validator.compute_signature(url, params) if signature is None else signature
        response = self.client.post(path, data=params, headers={"X-Twilio-Signature": sig})
        assert response.status_code == expect, (response.status_code, response.get_data(as_text=True))
        return response

    def call(self, from_: str | None = None, to: str | None = None) -> SimCall:
        return SimCall(self, from_ if from_ is not None else f"+1415555{next(self._numbers):04d}", to or self.line)


class SimCall:
    def __init__(self, twilio: Twilio, from_: str | None, to: str):
        self.twilio = twilio
        self.sid = new_sid()
        self.from_ = from_
        self.to = to
        self.doc: ET.Element | None = None
        self.xml = ""
        self.url = ""
        self.history: list[str] = []

    # --- what the caller hears ---
    def params(self, **extra) -> dict:
        base = {
            "CallSid": self.sid,
            "AccountSid": self.twilio.account,
            "To": self.to,
            "CallStatus": "in-progress",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }
        if self.from_ is not None:
            base["From"] = self.from_
            base["Caller"] = self.from_
        base.update({k: v for k, v in extra.items() if v is not None})
        return base

    def post(self, path: str, **extra) -> ET.Element:
        path = path.removeprefix(self.twilio.public_url)
        self.url = path
        response = self.twilio.post(path, self.params(**extra))
        self.xml = response.get_data(as_text=True)
        self.doc = assert_valid_twiml(self.xml)
        self.history.append(self.xml)
        if self.doc.find("Enqueue") is not None:
            self._enqueue = self.doc.find("Enqueue")
        return self.doc

    def start(self) -> SimCall:
        self.post("/voice", CallStatus="ringing")
        return self

    def heard(self) -> str:
        """All the caller hears from the current document, in order."""
        return " ".join(" ".join(e.itertext()).strip() for e in self.doc.iter("Say"))

    def gather(self) -> ET.Element | None:
        return self.doc.find("Gather")

    def dial(self) -> ET.Element | None:
        return self.doc.find("Dial")

    def dialled(self) -> list[str]:
        """The numbers or client identities the current <Dial> rings."""
        dial = self.dial()
        return [] if dial is None else [(e.text or "").strip() for e in dial if e.tag in ("Number", "Client")]

    def ended(self) -> bool:
        return self.doc.find("Hangup") is not None

    # --- what the caller does ---
    def press(self, digits: str) -> ET.Element:
        return self._answer_gather(Digits=digits)

    def say(self, words: str, confidence: str = "0.91") -> ET.Element:
        return self._answer_gather(SpeechResult=words, Confidence=confidence)

    def silence(self) -> ET.Element:
        return self._answer_gather()

    def _answer_gather(self, **extra) -> ET.Element:
        gather = self.gather()
        assert gather is not None, f"no <Gather> in {self.xml}"
        return self.post(gather.get("action") or self.url, **extra)

    def follow_redirect(self) -> ET.Element:
        redirect = self.doc.find("Redirect")
        assert redirect is not None, f"no <Redirect> in {self.xml}"
        return self.post(redirect.text.strip())

    def enqueued(self) -> bool:
        return self.doc.find("Enqueue") is not None

    def wait(self, seconds: float = 5, average: float = 0) -> ET.Element:
        """Twilio fetches the wait document of a queued caller (QueueTime = seconds in the queue)."""
        return self.post(
            self._enqueue.get("waitUrl"),
            QueueTime=str(int(seconds)),
            AvgQueueTime=str(int(average)),
            QueuePosition="1",
            CurrentQueueSize="1",
            QueueSid="QU" + "0" * 32,
        )

    def press_while_waiting(self, digits: str) -> ET.Element:
        return self._answer_gather(Digits=digits)

    def left_queue(self, result: str, seconds: float = 30) -> ET.Element:
        """The Enqueue ends (after <Leave/>, a hang-up or an error): Twilio requests its action."""
        return self.post(
            self._enqueue.get("action"), QueueResult=result, QueueTime=str(int(seconds)), QueueSid="QU" + "0" * 32
        )

    def finish_recording(self, seconds: float, url: str = "https://api.twilio.com/2010-04-01/Recordings/RE1"):
        record = self.doc.find("Record")
        assert record is not None, f"no <Record> in {self.xml}"
        self.recording = (record.get("recordingStatusCallback"), url, seconds)
        return self.post(
            record.get("action"), RecordingUrl=url, RecordingDuration=str(int(seconds)), RecordingSid="RE" + "1" * 32
        )

    def recording_stored(self) -> ET.Element:
        callback, url, seconds = self.recording
        return self.post(
            callback,
            RecordingUrl=url,
            RecordingDuration=str(int(seconds)),
            RecordingStatus="completed",
            RecordingSid="RE" + "1" * 32,
        )

    def hangup(self, status: str = "completed") -> ET.Element:
        return self.post("/voice/status", CallStatus=status, CallDuration="42")

    # --- what the rung person does ---
    def whisper(self) -> tuple[str, ET.Element]:
        """Answer the agent's phone: returns what the agent hears and the whisper document."""
        dial = self.dial()
        assert dial is not None, f"no <Dial> in {self.xml}"
        noun = next(e for e in dial if e.tag in ("Number", "Client"))
        self.agent_leg = new_sid()
        response = self.twilio.post(noun.get("url"), self._agent_params())
        doc = assert_valid_twiml(response.get_data(as_text=True))
        return " ".join(" ".join(e.itertext()).strip() for e in doc.iter("Say")), doc

    def _agent_params(self, **extra) -> dict:
        return {
            "CallSid": self.agent_leg,
            "ParentCallSid": self.sid,
            "AccountSid": self.twilio.account,
            "From": self.twilio.line,
            "To": self.dialled()[0],
            "CallStatus": "in-progress",
            "Direction": "outbound-api",
            "ApiVersion": "2010-04-01",
            **extra,
        }

    def agent_presses(self, whisper_doc: ET.Element, digits: str) -> ET.Element:
        gather = whisper_doc.find("Gather")
        response = self.twilio.post(gather.get("action"), self._agent_params(Digits=digits))
        return assert_valid_twiml(response.get_data(as_text=True))

    def agent_answers(self, talk: bool = True) -> ET.Element:
        """The person hears the whisper and presses 1; the call is bridged; when done, the Dial action runs."""
        _, doc = self.whisper()
        bridge = self.agent_presses(doc, "1")
        assert len(bridge) == 0 or all(e.tag == "Say" for e in bridge), "accepting must bridge the call"
        if not talk:
            return bridge
        return self.dial_result("completed", bridged=True, duration="120")

    def agent_declines(self) -> ET.Element:
        _, doc = self.whisper()
        declined = self.agent_presses(doc, "2")
        assert declined.find("Hangup") is not None
        return self.dial_result("completed", bridged=False, duration="0")

    def dial_result(self, status: str, bridged: bool = False, duration: str = "0") -> ET.Element:
        dial = self.dial()
        assert dial is not None, f"no <Dial> in {self.xml}"
        extra = {"DialCallStatus": status, "DialBridged": "true" if bridged else "false", "DialCallDuration": duration}
        if status not in ("no-answer", "busy", "failed"):
            extra["DialCallSid"] = getattr(self, "agent_leg", new_sid())
        return self.post(dial.get("action"), **extra)


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
