"""Blueprint for Twilio's voice webhooks: thin views that parse the form and run one engine step.

Every view answers 200 with valid TwiML. If Redis is down or slow, or anything raises, the caller is
connected to a person anyway (ring every supervisor and the fallback number) and the reason is logged.
"""

from __future__ import annotations

import logging
import re

from flask import Blueprint, Response, current_app, request

from ivr import render
from ivr.call import failures
from ivr.call.callers import caller_id, masked, normalise
from ivr.call.connecting import degraded, settle
from ivr.call.engine import step
from ivr.call.events import (
    CALL_ENDED,
    TALKED,
    Arrive,
    Connect,
    DialEnded,
    Ended,
    Event,
    Input,
    MessageStored,
    QueueLeft,
    Recorded,
    Retry,
    Waiting,
    WhisperReply,
    WhisperStart,
)
from ivr.call.menus import agents_routed_to, first_stop_routes
from ivr.call.world import World
from ivr.render import PATHS
from ivr.store import client as store
from ivr.store.calls import FREE_ALWAYS, FREE_IF_KNOWN, FREE_NEVER
from webhooks.log_lines import keys_pressed, word
from webhooks.prometheus import CALLS, FALLBACK_RINGS
from webhooks.security import twilio_signed
from webhooks.twiml import nothing, reply, twiml

log = logging.getLogger("ivr.call")
voice = Blueprint("voice", __name__)

_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")


@voice.post(PATHS["arrive"])
@twilio_signed
def arrive():
    """Answer a new call: a returning caller goes to their person, anyone else to the menu."""
    # who is free matters only if this call can reach a person now: a returning caller, or a line whose
    # start leads to a person before any menu
    flow = current_app.extensions["ivr"].catalog.for_number(request.form.get("To"))
    CALLS.labels(flow.name).inc()
    return _run(Arrive(), with_history=True, free=FREE_ALWAYS if first_stop_routes(flow) else FREE_IF_KNOWN)


@voice.post(PATHS["gather"])
@twilio_signed
def gather():
    """Take a caller's key press or words (or silence) at a menu."""
    form = request.form
    node = request.args.get("node", "")
    # keys pressed while holding are answered with the caller's place: that needs the queue
    confidence = _number(form.get("Confidence")) if form.get("Confidence") else None
    holding = node == "@hold"
    return _run(
        Input(node, form.get("Digits", ""), form.get("SpeechResult", ""), confidence),
        with_queue=holding,
        free=FREE_NEVER if holding else FREE_ALWAYS,
        menu=node,
        # on hold, the answer plays inside the queue's wait, where a <Dial> cannot run: keep them in line
        on_failure=(lambda: reply(failures.STILL_WAITING)) if holding else None,
    )


@voice.post(PATHS["retry"])
@twilio_signed
def retry():
    """Try again to reach a person for a caller who was holding."""
    return _run(Retry())


@voice.post(PATHS["dialled"])
@twilio_signed
def dialled():
    """Hear how ringing a person ended: talked, declined, busy or no answer."""
    form = request.form
    bridged = form.get("DialBridged", "").lower() == "true"
    return _run(
        DialEnded(
            request.args.get("agent", ""),
            form.get("DialCallStatus", ""),
            bridged,
            _number(form.get("DialCallDuration")),
        )
    )


@voice.post(PATHS["whisper"])
@twilio_signed
def whisper():
    """Tell the agent who is calling and why, before the caller is bridged."""
    return _run(
        WhisperStart(request.args.get("agent", "")),
        call=request.args.get("call", ""),
        caller_leg=False,
        on_failure=lambda: reply(failures.BARE_WHISPER),
        free=FREE_NEVER,
    )


@voice.post(PATHS["whisper_reply"])
@twilio_signed
def whisper_reply():
    """Take the agent's answer to the whisper: 1 bridges the caller, anything else passes."""
    return _run(
        WhisperReply(request.args.get("agent", ""), request.form.get("Digits", "")),
        call=request.args.get("call", ""),
        caller_leg=False,
        on_failure=nothing,
        free=FREE_NEVER,
    )


@voice.post(PATHS["queue_wait"])
@twilio_signed
def queue_wait():
    """The wait document for a queued caller: place in line, an honest estimate, hold audio."""
    form = request.form
    return _run(
        Waiting(_number(form.get("QueueTime")), _number(form.get("AvgQueueTime"))),
        with_queue=True,
        on_failure=lambda: reply(failures.STILL_WAITING),
        free=FREE_NEVER,
    )


@voice.post(PATHS["queue_left"])
@twilio_signed
def queue_left():
    """The caller left the queue: for a callback or a message, by hanging up, or by our error."""
    return _run(QueueLeft(request.form.get("QueueResult", "")))


@voice.post(PATHS["connect"])
@twilio_signed
def connect():
    """A person became free for this queued caller (Twilio was redirected here through the REST API)."""
    return _run(Connect(request.args.get("agent", "")))


@voice.post(PATHS["recorded"])
@twilio_signed
def recorded():
    """The caller finished their message."""
    form = request.form
    return _run(Recorded(form.get("RecordingUrl", ""), _number(form.get("RecordingDuration"))))


@voice.post(PATHS["recording_saved"])
@twilio_signed
def recording_saved():
    """Twilio has stored the recording: keep its address with the caller's history."""
    form = request.form
    if form.get("RecordingStatus", "completed") != "completed":
        return nothing()
    return _run(MessageStored(form.get("RecordingUrl", "")), on_failure=nothing, free=FREE_NEVER)


@voice.post(PATHS["status"])
@twilio_signed
def status():
    """Close the caller's contact when the call ends and free anyone it held."""
    if request.form.get("CallStatus", "") not in CALL_ENDED:
        return nothing()
    return _run(Ended(request.form["CallStatus"]), on_failure=nothing, free=FREE_NEVER)


@voice.post(PATHS["fallback"])
@twilio_signed
def fallback():
    """Ring every supervisor and the fallback number at once; needs nothing but the flow files."""
    return _caller_fallback("fallback requested")


@voice.post(PATHS["fallback_dialled"])
@twilio_signed
def fallback_dialled():
    """After a degraded-mode ring: done if someone talked; else back to the normal way to a person if Redis
    answers again, or hold and ring again."""
    services = current_app.extensions["ivr"]
    flow = services.catalog.for_number(request.form.get("To"))
    status = request.form.get("DialCallStatus", "")
    store_back = status not in TALKED and store.answers(services.redis)
    return reply(failures.after_fallback_ring(status, store_back), flow)


def _number(value: str | None) -> float:
    try:
        return max(0.0, float(value or 0))
    except ValueError:
        return 0.0


def _run(
    event: Event,
    call: str | None = None,
    with_history: bool = False,
    caller_leg: bool = True,
    on_failure=None,
    with_queue: bool = False,
    free: str = FREE_ALWAYS,
    menu: str | None = None,
) -> Response:
    """Load, step, save, render: two Redis round trips, and a person on any failure."""
    services = current_app.extensions["ivr"]
    form = request.form
    call = call if call is not None else form.get("CallSid", "")
    number = form.get("From") if caller_leg else None
    try:
        if not _SID.match(call or ""):
            raise ValueError("missing or malformed CallSid")
        caller = caller_id(number, services.caller_secret) if caller_leg else None
        catalog = services.catalog
        now = services.clock()
        agent = request.args.get("agent", "")
        line = catalog.for_number(form.get("To"))
        # a step that may route reads the records of the people its flow routes to by name (those of `menu`
        # first): the first few free of their group may leave them out, and their record says if they are on duty
        named = agents_routed_to(line, menu) if free == FREE_ALWAYS else ()
        snapshot = services.calls.load(
            call,
            caller,
            with_history,
            now,
            catalog.directory.sorted_groups,
            with_place=with_queue,
            agents=(agent, *named) if agent else named,
            free=free,
        )
        state = snapshot.state
        flow = (services.catalogs.flow(state.flow, state.flow_version) if state else None) or line
        world = World(
            flow=flow,
            directory=catalog.directory,
            now=now,
            call=call,
            caller=caller,
            number=normalise(number),
            state=state,
            memory=snapshot.memory,
            staffing=snapshot.staffing,
            fallback_number=services.fallback_number,
            place=snapshot.place,
            audio=catalog.audio,
            announcements=services.announcements.current(),
        )
        outcome = step(world, event)
        claimed = services.calls.save(outcome, snapshot, now, flow.settings.repeat.window_seconds)
        actions = settle(outcome, claimed)
        log.info(
            "call ...%s %s %s v%s %s %s -> %s",
            word(call[-6:]),
            masked(number) if caller_leg else "agent-leg",
            flow.name,
            flow.version,
            request.path,
            _describe(event),
            " ".join(type(a).__name__ for a in actions) or "bridge",
        )
        return reply(actions, flow, call)
    except store.Unavailable as exc:
        reason = f"Redis unavailable ({type(exc).__name__})"
        log.error("call ...%s %s: %s", word((call or "")[-6:]), request.path, reason)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        log.exception("call ...%s %s failed", word((call or "")[-6:]), request.path)
    return on_failure() if on_failure else _caller_fallback(reason)


def _describe(event: Event) -> str:
    if isinstance(event, Input):
        return f"node={word(event.node)} digits={keys_pressed(event.digits)} speech={'yes' if event.speech else 'no'}"
    if isinstance(event, DialEnded):
        return f"agent={word(event.agent)} dial={word(event.status)} bridged={event.bridged}"
    return type(event).__name__


def _caller_fallback(reason: str) -> Response:
    """Connect the caller to a person without Redis: the promise that outlives our own failures."""
    services = current_app.extensions["ivr"]
    flow = services.catalog.for_number(request.form.get("To"))
    log.warning("call ...%s sent to the fallback ring: %s", word(request.form.get("CallSid", "")[-6:]), reason)
    FALLBACK_RINGS.inc()
    try:
        return reply(degraded(flow, services.catalog.directory, services.fallback_number), flow)
    except Exception:  # the last net: no flow data at all, only the fallback number
        log.exception("even the fallback ring failed to build")
        return twiml(render.last_resort(services.fallback_number))
