"""<Record>: the caller leaves a message (or does not), and the recording callbacks Twilio would send."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from ivr.tools.phone.errors import CallOver
from ivr.tools.phone.steps import Moment
from ivr.tools.phone.twiml import Doc, seconds
from ivr.tools.phone.webhook_client import new_sid

if TYPE_CHECKING:
    from ivr.tools.phone.call import Phone


def record(phone: Phone, record: ET.Element, doc: Doc) -> Doc | None:
    limit = seconds(record.get("maxLength"), 3600)
    finish = record.get("finishOnKey", "1234567890*#")
    beep = "[beep] " if record.get("playBeep", "true") != "false" else ""
    phone.out.line("hears", f"{beep}[recording, up to {limit:g} s; {finish} ends it]")
    step = phone.ask(
        Moment("recording", frozenset({"record", "silence", "hangup"}), "record <seconds>, silence or hangup")
    )
    if step.kind == "hangup":
        raise CallOver("you hung up without leaving a message")
    length = min(int(step.seconds), int(limit)) if step.kind == "record" else 0
    if step.kind == "record" and step.seconds > limit:
        phone.out.line("phone", f"the recording stops at {limit:g} s")
    phone.extra += length
    recording = new_sid("RE")
    recording_url = f"https://api.twilio.com/2010-04-01/Accounts/{phone.account}/Recordings/{recording}"
    following = phone.post(
        doc.resolve(record.get("action")),
        RecordingUrl=recording_url,
        RecordingDuration=str(length),
        RecordingSid=recording,
        Digits=finish[-1:] if length and finish else None,
    )
    callback = record.get("recordingStatusCallback")
    if callback and length:
        # Twilio's recording status callback carries the recording, not the caller's From/To.
        phone.post(
            doc.resolve(callback),
            raw={
                "AccountSid": phone.account,
                "CallSid": phone.sid,
                "RecordingSid": recording,
                "RecordingUrl": recording_url,
                "RecordingStatus": "completed",
                "RecordingDuration": str(length),
                "RecordingChannels": "1",
                "RecordingSource": "RecordVerb",
            },
        )
        phone.out.line("phone", f"message of {length} s stored (recording status callback sent)")
    return following
