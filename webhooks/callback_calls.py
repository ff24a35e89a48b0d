"""Blueprint for the calls the worker places to call customers back: agent first, then the customer.

Each URL carries the request id and the attempt token; an event for an attempt that was settled meanwhile
(by another webhook or the worker's reaper) changes nothing, so no request is ever placed twice. The rules
are in ivr.call.calling_back, the request's progress in ivr.store.callbacks; these views only join them.
Like every Twilio-facing route, each checks the signature. Two Redis round trips at most per webhook.
"""

from __future__ import annotations

import logging
from functools import wraps

from flask import Blueprint, current_app, request

from ivr.call import calling_back as rules
from ivr.call.callers import masked
from ivr.call.events import CALL_ENDED
from ivr.render import PATHS
from ivr.store import client as store
from ivr.store.callbacks import PLACING_SECONDS, TALKING_SECONDS
from webhooks.log_lines import word
from webhooks.security import twilio_signed
from webhooks.twiml import nothing, reply

log = logging.getLogger("ivr.calling_back")
callbacks = Blueprint("callbacks", __name__)


def _context():
    """The request this webhook is about, its line, and whether this attempt is still the one in flight."""
    services = current_app.extensions["ivr"]
    request_id, attempt = request.args.get("request", ""), request.args.get("attempt", "")
    callback = services.callbacks.callback(request_id)
    flow = services.catalog.flow(callback.request.get("flow")) if callback else None
    current = callback is not None and bool(attempt) and callback.attempt == attempt
    return services, callback, attempt, flow or services.catalog.for_number(None), current


def _never_fails(view):
    """These calls reach agents, not customers: on any failure, a clear word and a clean end, never a 500.

    The request itself is safe: its claim expires and it goes back to its place in line.
    """

    @wraps(view)
    def guarded(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except store.Unavailable as exc:  # expected during an outage: one line, not a traceback each time
            log.error("callback webhook %s: Redis unavailable (%s)", request.path, type(exc).__name__)
        except Exception:
            log.exception("callback webhook %s failed", request.path)
        return reply(rules.CANNOT_GO_AHEAD)

    return guarded


@callbacks.post(PATHS["callback_agent"])
@twilio_signed
@_never_fails
def agent_answered():
    """The agent picked up the call placed for a callback: tell them who and why."""
    services, callback, attempt, flow, current = _context()
    now = services.clock()
    leg = request.form.get("CallSid", "")
    if not current or not services.callbacks.advance(
        callback, attempt, "agent answered", now, PLACING_SECONDS, leg=leg
    ):
        return reply(rules.ALREADY_HANDLED, flow)
    if not rules.can_call(callback.request):  # never dial an empty number: a person decides
        services.callbacks.settle(callback, attempt, "supervisors", now)
        log.error("callback %s: its number cannot be opened with DATA_KEYS here; sent to supervisors", callback.id[-6:])
        return reply(rules.NUMBER_UNREADABLE, flow)
    actions = rules.agent_answered(
        callback.id, attempt, callback.request, flow.name, now, callback.attempts, flow.settings.callbacks
    )
    return reply(actions, flow, callback.id)


@callbacks.post(PATHS["callback_accept"])
@twilio_signed
@_never_fails
def accept():
    """1 dials the customer; anything else passes the request on, at its place in line."""
    services, callback, attempt, flow, current = _context()
    now = services.clock()
    if not current:
        return reply(rules.ALREADY_HANDLED, flow)
    if not rules.takes_it(request.form.get("Digits", "")):
        services.callbacks.settle(callback, attempt, "requeue", now)
        return reply(rules.PASSED, flow)
    agent = callback.agent
    if not services.callbacks.advance(
        callback,
        attempt,
        rules.CALLING_CUSTOMER,
        now,
        TALKING_SECONDS,
        busy_agent=agent,
        leg=request.form.get("CallSid", ""),
    ):
        return reply(rules.ALREADY_HANDLED, flow)  # settled between the whisper and the key press: never dial twice
    log.info("callback %s: %s is calling %s", callback.id[-6:], agent, masked(callback.request.get("number")))
    return reply(rules.dial_customer(callback.id, attempt, callback.request), flow, callback.id)


@callbacks.post(PATHS["callback_dialled"])
@twilio_signed
@_never_fails
def dialled():
    """How the call to the customer ended: talked (done), or no answer (retry later, or the supervisors)."""
    services, callback, attempt, flow, current = _context()
    now = services.clock()
    if not current:
        return nothing()
    status = request.form.get("DialCallStatus", "")
    ended = rules.customer_call_ended(
        status,
        callback.id,
        callback.request,
        callback.agent,
        flow.name,
        callback.attempts,
        flow.settings.callbacks,
        now,
    )
    services.callbacks.settle(
        callback,
        attempt,
        ended.settle,
        now,
        failed_try=ended.failed_try,
        not_before=ended.not_before,
        contact=ended.contact,
        window_seconds=flow.settings.repeat.window_seconds,
        wrap_up_seconds=flow.settings.wrap_up_seconds,
    )
    log.info("callback %s: customer %s (%s, agent %s)", callback.id[-6:], word(status), ended.settle, callback.agent)
    return reply(ended.actions, flow)


@callbacks.post(PATHS["callback_status"])
@twilio_signed
@_never_fails
def status():
    """The agent's call ended and no dial result settled the attempt: back in line if the customer was not
    dialled yet; if they were, the dial result settles it, or the dispatcher does once it is clearly lost."""
    if request.form.get("CallStatus", "") not in CALL_ENDED:
        return nothing()
    services, callback, attempt, _, current = _context()
    if not current:
        return nothing()
    if callback.status == rules.CALLING_CUSTOMER:
        # The dial result may be arriving at another server this very moment: the dispatcher settles it
        # after a grace period if it never does (ivr.dispatcher.reconcile), never placing a second call.
        return nothing()
    now = services.clock()
    outcome, not_before = rules.after_agent_call_ended(callback.status, now)
    services.callbacks.settle(callback, attempt, outcome, now, not_before=not_before)
    return nothing()
