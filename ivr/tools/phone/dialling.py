"""<Dial>: phones ring, someone picks up (or not), hears the whisper, talks with the caller, and hangs up."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from ivr.tools.phone.errors import CallOver
from ivr.tools.phone.ringing_phones import Ringing, phones_rung
from ivr.tools.phone.steps import ALL_KINDS, Moment, Step
from ivr.tools.phone.twiml import Doc, seconds
from ivr.tools.phone.webhook_client import new_sid

if TYPE_CHECKING:
    from ivr.tools.phone.call import Phone


def dial(phone: Phone, dial: ET.Element, doc: Doc) -> Doc | None:
    rings = phones_rung(phone, dial, doc)
    if not rings:
        phone.out.line("phone", "<Dial> with nobody to ring: Twilio moves on")
        return None
    ring_seconds = seconds(dial.get("timeout"), 30)
    names = ", ".join(r.label for r in rings)
    if len(rings) == 1:
        phone.out.line("phone", f"ringing {names} for up to {ring_seconds:g} s")
    else:
        phone.out.line("phone", f"ringing {len(rings)} phones at once for up to {ring_seconds:g} s: {names}")

    def chosen(step: Step) -> Ringing | None:
        if step.arg:
            return next((r for r in rings if r.matches(step.arg)), None)
        return rings[0] if len(rings) == 1 else None

    def check(step: Step) -> str | None:
        if step.kind not in ("answer", "decline"):
            return None
        ring = chosen(step)
        if ring is None and step.arg:
            if len(rings) == 1:
                return f"{rings[0].id} is ringing, not {step.arg}"
            return f"{step.arg} is not ringing (ringing: {', '.join(r.id for r in rings)})"
        if ring is None:
            return (
                f"several phones ring at once ({', '.join(r.id for r in rings)}): say who picks up, "
                f"for example `{step.kind} {rings[0].id}`"
            )
        if step.kind == "decline" and not ring.url:
            return (
                f"{ring.name} hears no whisper on this call, so there is nothing to decline: "
                "use answer, no-answer or busy"
            )
        return None

    who = "answer [who]" if len(rings) > 1 else "answer"
    step = phone.ask(
        Moment(
            "ringing",
            frozenset({"answer", "decline", "no-answer", "busy", "hangup"}),
            f"{who}, decline, no-answer, busy or hangup",
            check,
            empty=None,
        )
    )
    action = doc.resolve(dial.get("action")) if dial.get("action") else None
    if step.kind == "hangup":
        raise CallOver(f"you hung up while {'the phones' if len(rings) > 1 else rings[0].name} rang")
    if step.kind in ("no-answer", "busy"):
        if step.kind == "no-answer":
            phone.extra += ring_seconds
        who = rings[0].label if len(rings) == 1 else f"{len(rings)} phones ({names})"
        phone.out.line("agent", f"{who}: {'no answer' if step.kind == 'no-answer' else 'busy'}")
        return _dial_ended(phone, action, step.kind)
    ring = chosen(step)
    leg = new_sid()
    phone.out.line("agent", f"{ring.name} picks up")
    bridged = _agent_leg(phone, ring, leg, "1" if step.kind == "answer" else "2") if ring.url else True
    if not bridged:
        phone.out.line("phone", f"{ring.name} passed: the caller was not connected")
        return _dial_ended(phone, action, "completed", leg=leg)
    return _talk(phone, ring, leg, action)


def _agent_leg(phone: Phone, ring: Ringing, leg: str, key: str) -> bool:
    """Play the whisper on the agent's own leg; True when the caller is bridged."""
    params = {
        "CallSid": leg,
        "ParentCallSid": phone.sid,
        "AccountSid": phone.account,
        "From": phone.caller or "anonymous",
        "To": ring.address,
        "Called": ring.address,
        "CallStatus": "in-progress",
        "Direction": "outbound-dial",
        "ApiVersion": "2010-04-01",
    }
    pressed = False

    def play(verb: ET.Element, doc: Doc) -> Doc | bool | None:
        nonlocal pressed
        if verb.tag == "Gather":
            if not pressed:
                pressed = True
                phone.out.line("agent", f"{ring.name} presses {key}")
                return phone.post(doc.resolve(verb.get("action")), raw=dict(params, Digits=key))
            if verb.get("actionOnEmptyResult") == "true":
                return phone.post(doc.resolve(verb.get("action")), raw=params)
        elif verb.tag == "Redirect":
            return phone.post(doc.resolve(verb.text), raw=params)
        elif verb.tag in ("Hangup", "Reject"):
            phone.out.line("agent", f"{ring.name}'s phone hangs up")
            return False
        else:
            phone.out.line(
                "phone",
                f"<{verb.tag}> in a whisper: Twilio allows only Say, Play, Gather, "
                "Pause, Redirect and Hangup there; skipped",
            )
        return None

    if phone.walk(phone.post(ring.url, raw=params), "agent_hears", play) is False:
        return False
    if not pressed:
        phone.out.line("phone", f"the whisper asked {ring.name} for no key: the call is connected")
    return True


def _talk(phone: Phone, ring: Ringing, leg: str, action: str | None) -> Doc | None:
    phone.out.line("phone", f"{ring.name} and the caller are talking")
    started, talked = time.monotonic(), 0.0
    while True:
        step = phone.ask(
            Moment(
                "talking",
                frozenset(ALL_KINDS),
                "hangup (you), agent hangs up, or wait <seconds> to talk on",
                empty="agent hangs up",
            )
        )
        if step.kind == "wait":
            talked += step.seconds
            continue
        break
    lasted = max(1, round(time.monotonic() - started + talked))
    phone.extra += talked
    if step.kind not in ("hangup", "agent-hangup"):
        phone.out.line("phone", f"{ring.name} hangs up first; '{step.text}' applies to what comes next")
        phone.steps.push_back(step)
    elif step.kind == "agent-hangup":
        phone.out.line("agent", f"{ring.name} hangs up after {lasted} s")
    following = _dial_ended(phone, action, "completed", leg=leg, bridged=True, seconds=lasted)
    if step.kind == "hangup":
        raise CallOver(f"you hung up after talking with {ring.name} for {lasted} s")
    return following


def _dial_ended(
    phone: Phone, action: str | None, status: str, leg: str | None = None, bridged: bool = False, seconds: int = 0
) -> Doc | None:
    if action is None:
        return None  # no action: Twilio carries on with the next verb
    extra = {"DialCallStatus": status, "DialBridged": "true" if bridged else "false", "DialCallDuration": str(seconds)}
    if leg:
        extra["DialCallSid"] = leg
    return phone.post(action, **extra)
