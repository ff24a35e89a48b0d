"""<Gather>: a menu or a question, answered with keys, words or silence."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from ivr.tools.phone.errors import CallOver
from ivr.tools.phone.steps import Moment, Step
from ivr.tools.phone.twiml import Doc, seconds

if TYPE_CHECKING:
    from ivr.tools.phone.call import Phone

SPEECH_CONFIDENCE = "0.92"


def gather(phone: Phone, gather: ET.Element, doc: Doc) -> Doc | None:
    """Ask for what the Gather listens for (its prompts have been heard) and post the answer to its action."""
    inputs = set((gather.get("input") or "dtmf").split())
    limit = int(gather.get("numDigits") or 0)
    finish = gather.get("finishOnKey", "#")

    def check(step: Step) -> str | None:
        if step.kind == "keys":
            if "dtmf" not in inputs:
                return "this prompt listens for speech only: use say <words>"
            keys = step.arg
            if finish and finish in keys[:-1]:
                return f"keys after {finish} are not heard: {finish} ends the entry"
            keys = keys.removesuffix(finish) if finish else keys
            if limit and len(keys) > limit:
                return f"this prompt takes {limit} key{'s' if limit > 1 else ''}; put the next keys on the next line"
        if step.kind == "say" and "speech" not in inputs:
            return "this prompt takes keys only: spoken words are not heard here"
        return None

    listens = "keys, say <words>" if {"dtmf", "speech"} <= inputs else "say <words>" if "speech" in inputs else "keys"
    step = phone.ask(
        Moment("menu", frozenset({"keys", "say", "silence", "hangup"}), f"{listens}, silence or hangup", check)
    )
    action = doc.resolve(gather.get("action"))
    if step.kind == "hangup":
        raise CallOver("you hung up")
    if step.kind == "silence":
        phone.extra += seconds(gather.get("timeout"), 5)
        if gather.get("actionOnEmptyResult") == "true":
            return phone.post(action)
        return None  # Twilio moves on to the next verb
    if step.kind == "keys":
        keys = step.arg.removesuffix(finish) if finish else step.arg
        if not keys and gather.get("actionOnEmptyResult") != "true":
            return None
        return phone.post(action, Digits=keys)
    return phone.post(action, SpeechResult=step.arg, Confidence=SPEECH_CONFIDENCE)
