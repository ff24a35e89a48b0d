"""<Enqueue>: the caller waits in a queue, hearing the wait document again as time passes, until it says Leave."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ivr.tools.phone.errors import CallOver
from ivr.tools.phone.steps import Moment, Step
from ivr.tools.phone.twiml import Doc
from ivr.tools.phone.webhook_client import new_sid

if TYPE_CHECKING:
    from ivr.tools.phone.call import Phone

QUEUE_SILENCE_SECONDS = 15  # `silence` (an empty line) in the queue lets this much time pass


@dataclass
class Hold:
    """Where a queued caller stands after a wait document (or an answer to a key pressed while waiting)."""

    gather: tuple[ET.Element, str] | None = None  # the wait document's Gather and the URL its keys go to
    leave: bool = False


def enqueue(phone: Phone, enqueue: ET.Element, doc: Doc) -> Doc | None:
    name = (enqueue.text or "").strip()
    phone.out.line("phone", f"you are in the queue '{name}'")
    wait_url = doc.resolve(enqueue.get("waitUrl")) if enqueue.get("waitUrl") else None
    action = doc.resolve(enqueue.get("action")) if enqueue.get("action") else None
    queue = {"QueueSid": new_sid("QU"), "QueueTime": 0}

    def fetch() -> Hold:
        if wait_url is None:
            phone.out.line("hears", "[hold music]")
            return Hold()
        return _hold(
            phone,
            phone.post(
                wait_url,
                QueueSid=queue["QueueSid"],
                QueueTime=str(int(queue["QueueTime"])),
                QueuePosition="1",
                CurrentQueueSize="1",
                AvgQueueTime="0",
            ),
        )

    def result(outcome: str) -> Doc:
        return phone.post(
            action, QueueResult=outcome, QueueSid=queue["QueueSid"], QueueTime=str(int(queue["QueueTime"]))
        )

    hold = fetch()
    while not hold.leave:

        def check(step: Step, hold=hold) -> str | None:
            if step.kind == "keys" and hold.gather is None:
                return "the wait message takes no keys right now: wait <seconds> or hangup"
            if step.kind == "keys":
                limit = int(hold.gather[0].get("numDigits") or 0)
                if limit and len(step.arg) > limit:
                    return f"the wait message takes {limit} key{'s' if limit > 1 else ''} at a time"
            return None

        step = phone.ask(
            Moment("queue", frozenset({"wait", "keys", "silence", "hangup"}), "wait <seconds>, keys, or hangup", check)
        )
        if step.kind == "hangup":
            if action:
                result("hangup")
            raise CallOver(f"you hung up after {int(queue['QueueTime'])} s in the queue")
        if step.kind in ("wait", "silence"):
            waited = step.seconds if step.kind == "wait" else QUEUE_SILENCE_SECONDS
            queue["QueueTime"] += waited
            phone.extra += waited
            phone.out.line("phone", f"{int(queue['QueueTime'])} s in the queue")
            hold = fetch()
            continue
        _, target = hold.gather
        hold = _hold(phone, phone.post(target, Digits=step.arg))
        if not hold.leave and hold.gather is None:
            hold = fetch()  # the answer has played out: Twilio goes back to the wait document
    phone.out.line("phone", f"you leave the queue after {int(queue['QueueTime'])} s")
    if action is None:
        return None
    return result("leave")


def _hold(phone: Phone, doc: Doc) -> Hold:
    """Play a wait document (or the answer to keys pressed in one): Say, Play, Pause, Gather, Leave."""
    hold = Hold()

    def play(verb: ET.Element, doc: Doc) -> Doc | Hold | None:
        if verb.tag == "Gather":
            hold.gather = (verb, doc.resolve(verb.get("action")))
        elif verb.tag == "Leave":
            hold.leave = True
            return hold
        elif verb.tag == "Redirect":
            return phone.post(doc.resolve(verb.text))
        elif verb.tag == "Hangup":
            raise CallOver("the line hung up while you were in the queue")
        else:
            phone.out.line("phone", f"<{verb.tag}> in a wait document: Twilio does not allow it; skipped")
        return None

    phone.walk(doc, "hears", play)
    return hold
