"""Blueprint for the calls the worker places to call customers back: agent first, then the customer.

Each URL carries the request id and the attempt token; an event for an attempt that was settled meanwhile
(by another webhook or the worker's reaper) changes nothing, so no request is ever placed twice.
Like every Twilio-facing route, each checks the signature. Two Redis round trips at most per webhook.
"""

from __future__ import annotations

import logging
from functools import wraps

from flask import Blueprint, Response, current_app, request
from twilio.twiml.voice_response import VoiceResponse

from ivr.call import calling_back as rules
from ivr.call.actions import CallbackWhisper, DialCustomer, Hangup, Say
from ivr.call.callers import masked
from ivr.call.callstate import Contact
from ivr.call.events import CALL_ENDED, TALKED
from ivr.render import PATHS, render
from ivr.store import dispatch, keys
from webhooks.security import twilio_signed
from webhooks.twiml import nothing, twiml

log = logging.getLogger("ivr.call.calling_back")
callbacks = Blueprint("callbacks", __name__)


def _context():
    """The request this webhook is about, its line, and whether this attempt is still the one in flight."""
    services = current_app.extensions["ivr"]
    request_id, attempt = request.args.get("request", ""), request.args.get("attempt", "")
    callback = services.dispatch.callback(request_id)
    flow = services.catalog.flow(callback.request.get("flow")) if callback else None
    current = callback is not None and bool(attempt) and callback.attempt == attempt
    return services, callback, attempt, flow or services.catalog.for_number(None), current


def _say(flow, *actions, call: str = "") -> Response:
    return twiml(render(actions, call, voice=flow.settings.voice, language=flow.settings.language))


def _handled(flow) -> Response:
    """For an attempt that was settled meanwhile (another webhook, or the reaper): nothing to do."""
    return _say(flow, Say("This callback has already been taken care of. Thank you."), Hangup())


def _never_fails(view):
    """These calls reach agents, not customers: on any failure, a clear word and a clean end, never a 500.

    The request itself is safe: its claim expires and it goes back to its place in line.
    """

    @wraps(view)
    def guarded(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except Exception:
            log.exception("callback webhook %s failed", request.path)
            response = VoiceResponse()
            response.say("Sorry, this callback cannot go ahead right now. It stays in line and will be offered again.")
            response.hangup()
            return twiml(str(response))

    return guarded


@callbacks.post(PATHS["callback_agent"])
@twilio_signed
@_never_fails
def agent_answered():
    """The agent picked up the call placed for a callback: tell them who and why."""
    services, callback, attempt, flow, current = _context()
    now = services.clock()
    if not current or not services.dispatch.advance(callback, attempt, "agent answered", now, dispatch.PLACING_SECONDS):
        return _handled(flow)
    summary = rules.whisper(callback.request, flow.name, now, callback.attempts, flow.settings.callbacks)
    return _say(flow, CallbackWhisper(callback.id, attempt, summary), call=callback.id)


@callbacks.post(PATHS["callback_accept"])
@twilio_signed
@_never_fails
def accept():
    """1 dials the customer; anything else passes the request on, at its place in line."""
    services, callback, attempt, flow, current = _context()
    now = services.clock()
    if not current:
        return _handled(flow)
    if request.form.get("Digits", "")[:1] != "1":
        services.dispatch.settle(callback, attempt, "requeue", now)
        return _say(flow, Say("Passing. The request stays in line for the next person."), Hangup())
    agent = callback.agent
    if not services.dispatch.advance(
        callback, attempt, "calling the customer", now, dispatch.TALKING_SECONDS, busy_agent=agent
    ):
        return _handled(flow)  # settled between the whisper and the key press: never dial twice
    log.info("callback %s: %s is calling %s", callback.id[-6:], agent, masked(callback.request.get("number")))
    number = callback.request["number"]
    return _say(flow, Say("Calling them now."), DialCustomer(number, callback.id, attempt), call=callback.id)


@callbacks.post(PATHS["callback_dialled"])
@twilio_signed
@_never_fails
def dialled():
    """How the call to the customer ended: talked (done), or no answer (retry later, or the supervisors)."""
    services, callback, attempt, flow, current = _context()
    now = services.clock()
    if not current:
        return _say(flow, Hangup())
    status = request.form.get("DialCallStatus", "")
    if status in TALKED:
        # The callback completes the contact of the call that asked for it (same id): one problem, one contact.
        contact = Contact(
            call=callback.id,
            at=float(callback.request.get("since", now)),
            flow=flow.name,
            path=(*callback.request.get("path", ()), "called back"),
            agent=callback.agent,
            outcome=f"called back by {callback.agent}",
        )

        def remember(pipe) -> None:
            caller = callback.request.get("caller")
            if caller:  # the callback is a contact like any call: the caller's next call comes back to this agent
                pipe.hset(keys.caller(caller), f"c:{callback.id}", contact.to_json())
                pipe.expire(keys.caller(caller), flow.settings.repeat.window_seconds)

        services.dispatch.settle(callback, attempt, "done", now, also=remember)
        log.info("callback %s done by %s", callback.id[-6:], callback.agent)
        return _say(flow, Say("Thank you."), Hangup())
    outcome, minutes = rules.after_no_answer(callback.attempts, flow.settings.callbacks)
    services.dispatch.settle(callback, attempt, outcome, now, failed_try=True, not_before=now + minutes * 60)
    log.info("callback %s: customer %s (%s)", callback.id[-6:], status, outcome)
    if outcome == "supervisors":
        text = "They did not answer again, so the request goes to the supervisors' list."
    else:
        text = f"They did not answer. We will try again in {minutes} minutes."
    return _say(flow, Say(text), Hangup())


@callbacks.post(PATHS["callback_status"])
@twilio_signed
@_never_fails
def status():
    """The agent's call ended: if the attempt never reached the customer, the request goes back in line."""
    if request.form.get("CallStatus", "") not in CALL_ENDED:
        return nothing()
    services, callback, attempt, _, current = _context()
    if not current:
        return nothing()
    services.dispatch.settle(callback, attempt, "requeue", services.clock())
    return nothing()
