"""Blueprint for the JSON API: the console's data for integrations, with a bearer token (`ivr agents token
ID`) or the console's session (then with its CSRF token in X-CSRFToken on changes). Every error is JSON:
401 not signed in, 403 not yours, 404 not found, 409 held by a call, 422 bad input; never an HTML page."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ivr.call import tally
from ivr.call.callers import caller_id, masked
from ivr.call.presence import STATUSES
from ivr.store import caller_history, incidents, line_view, problems
from webhooks import people
from webhooks import people_changes as changes
from webhooks.people import Forbidden, NotSignedIn, Person, needs_person, needs_supervisor

api = Blueprint("api", __name__, url_prefix="/api")


@api.before_request
def _protect():
    """A change made with the console's session carries its CSRF token; a bearer token needs none (a browser
    never sends one by itself)."""
    if request.method == "POST":
        person = people.current()
        if person is not None and not person.by_token:
            current_app.extensions["csrf"].protect()


def error(status: int, message: str):
    return jsonify(error=message, status=status), status


@api.errorhandler(NotSignedIn)
def _not_signed_in(_):
    return error(401, "sign in: send Authorization: Bearer <token> (ivr agents token ID), or use the console")


@api.errorhandler(Forbidden)
def _forbidden(exc):
    return error(403, str(exc))


@api.errorhandler(changes.NotFound)
def _not_found(exc):
    return error(404, str(exc))


@api.errorhandler(CSRFError)
def _no_csrf(exc):
    return error(400, f"missing or wrong CSRF token ({exc.description}); send X-CSRFToken, or use a bearer token")


@api.errorhandler(HTTPException)
def _http(exc):
    return error(exc.code or 500, exc.description or exc.name)


def _result(result: changes.Result, **extra):
    if not result.ok:
        return error(result.status, result.error)
    return jsonify(ok=True, said=result.said, **extra)


def _body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise _Unprocessable("send a JSON object (Content-Type: application/json)")
    return body


class _Unprocessable(Exception):
    pass


@api.errorhandler(_Unprocessable)
def _unprocessable(exc):
    return error(422, str(exc))


@api.get("/agents")
@needs_person
def agents(person: Person):
    """Every person and what they are doing now (for an agent: themselves only)."""
    services = current_app.extensions["ivr"]
    rows = line_view.board(services.redis, services.catalog.directory, services.clock())
    rows = [row for row in rows if person.is_supervisor or row.agent.id == person.id]
    return jsonify(agents=[_person_json(row) for row in rows], statuses=list(STATUSES))


@api.post("/agents/<agent_id>/status")
@needs_person
def set_status(agent_id: str, person: Person):
    """Set a person available or away: yourself, or anyone as a supervisor."""
    result = changes.set_status(person, agent_id, str(_body().get("status", "")))
    return _result(result, agent=agent_id)


@api.get("/queue")
@needs_person
def queue(person: Person):
    """Who waits, in order: callers on hold and callback requests alike."""
    services = current_app.extensions["ivr"]
    waiting, total = line_view.queue(services.redis, services.calls.sealer)
    now = services.clock()
    return jsonify(
        waiting=total,
        longest_wait_seconds=round(now - waiting[0].since, 1) if waiting else 0,
        entries=[
            {
                "id": w.id,
                "place": w.place,
                "kind": "callback" if w.is_callback else "call",
                "caller": w.caller,
                "groups": list(w.groups),
                "line": w.flow,
                "since": w.since,
                "waiting_seconds": round(now - w.since, 1),
                "chose": list(w.path),
                "first_for": w.prefer,
            }
            for w in waiting
        ],
    )


@api.get("/callers/<number>")
@needs_person
def caller(number: str, person: Person):
    """A caller's contacts in the window, with who took each, its outcome and the note written then."""
    services = current_app.extensions["ivr"]
    key = caller_id(number, services.caller_secret)
    if key is None:
        raise _Unprocessable("give the caller's number in E.164 form, such as +15551234567")
    memory = caller_history.history(services.redis, key)
    if not (person.is_supervisor or changes.knows_caller(person, key, memory)):  # before saying if they exist
        raise Forbidden("only a supervisor, or someone who took or is taking this caller's call, may see it")
    if not memory.contacts:
        raise changes.NotFound(f"no contacts kept for {masked(number)} (never seen, or older than the window)")
    contacts = sorted(memory.contacts, key=lambda c: -c.at)
    return jsonify(
        caller=masked(number),
        resolved_at=memory.resolved_at or None,
        contacts=[
            {
                "call": c.call,
                "at": c.at,
                "line": c.flow,
                "chose": list(c.path),
                "taken_by": c.agent,
                "outcome": c.outcome,
                "wrap_up": (
                    {"outcome": c.wrap.outcome, "note": c.wrap.note, "by": c.wrap.by, "at": c.wrap.at}
                    if c.wrap
                    else None
                ),
                "message": c.message,
            }
            for c in contacts
        ],
    )


@api.post("/calls/<call>/wrap-up")
@needs_person
def wrap_up(call: str, person: Person):
    """Wrap up a call: only the person who took it, or a supervisor."""
    body = _body()
    result = changes.wrap_up(person, call, str(body.get("outcome", "")), str(body.get("note", "") or ""))
    return _result(result, call=call)


@api.get("/messages")
@needs_person
def message_list(person: Person):
    """Voicemails for you and your teams (all, for a supervisor), newest first; ?all=1 includes done ones."""
    found = changes.messages_for(person, with_done=request.args.get("all") == "1")
    return jsonify(
        messages=[
            {
                "id": m.id,
                "line": m.flow,
                "groups": list(m.groups),
                "owner": m.owner,
                "at": m.at,
                "seconds": m.seconds,
                "recording": m.url,
                "chose": list(m.path),
                "callback": m.callback,
                "status": m.status,
                "done_by": m.done_by,
                "done_at": m.done_at or None,
            }
            for m in found
        ]
    )


@api.post("/messages/<message_id>")
@needs_person
def message_action(message_id: str, person: Person):
    """{"action": "done" | "own" | "reopen", "agent": "..."}: a supervisor may give a message to anyone."""
    body = _body()
    result = changes.act_on_message(person, message_id, str(body.get("action", "")), body.get("agent"))
    return _result(result, message=message_id)


@api.get("/callbacks")
@needs_person
def callback_list(person: Person):
    """Open callback requests, in line order: your teams' (all, for a supervisor)."""
    services = current_app.extensions["ivr"]
    now = services.clock()
    return jsonify(
        callbacks=[
            {
                "id": c.id,
                "state": where,
                "caller": masked(c.request.get("number")),
                "line": c.request.get("flow", ""),
                "groups": list(c.entry.groups if c.entry else c.request.get("groups", ())),
                "first_for": c.entry.prefer if c.entry else None,
                "since": float(c.request.get("since", 0)),
                "waiting_seconds": round(now - float(c.request.get("since", now)), 1),
                "tries": c.attempts,
                "chose": list(c.request.get("path", ())),
                "message": c.request.get("message"),
            }
            for c, where in changes.callbacks_for(person)
        ]
    )


@api.post("/callbacks/<request_id>")
@needs_person
def callback_action(request_id: str, person: Person):
    """{"action": "cancel" | "done" | "assign", "agent": "..."}: settle a request, or give it to a person."""
    body = _body()
    result = changes.act_on_callback(person, request_id, str(body.get("action", "")), body.get("agent"))
    return _result(result, callback=request_id)


@api.get("/line")
@needs_supervisor
def line(person: Person):
    """The supervisor's tiles and open problems: waiting, longest wait, today's answers and hang-ups."""
    services = current_app.extensions["ivr"]
    now = services.clock()
    waiting, total = line_view.queue(services.redis, services.calls.sealer, limit=1)
    today = line_view.today(services.redis, services.catalog.flows.values(), now)
    return jsonify(
        waiting=total,
        longest_wait_seconds=round(now - waiting[0].since, 1) if waiting else 0,
        answered_today=today.get(tally.ANSWERED, 0),
        answered_within_60s_today=today.get(tally.ANSWERED_SOON, 0),
        abandoned_today=today.get(tally.ABANDONED, 0),
        open_problems=[
            {
                "caller": memory.label or "withheld",
                "calls": len(memory.contacts),
                "latest": max((c.at for c in memory.contacts), default=None),
                "taken_by": sorted({c.agent for c in memory.contacts if c.agent}),
                "last_note": next(
                    (c.wrap.note for c in sorted(memory.contacts, key=lambda c: -c.at) if c.wrap and c.wrap.note), None
                ),
            }
            for _, memory in problems.newest(services.redis)
        ],
    )


@api.get("/incidents")
@needs_supervisor
def incident_list(person: Person):
    """Incidents the line noticed (callers making the same choice at once), newest first."""
    return jsonify(incidents=[_incident_json(i) for i in incidents.listing(current_app.extensions["ivr"].redis)])


@api.post("/incidents/<incident_id>/confirm")
@needs_supervisor
def incident_confirm(incident_id: str, person: Person):
    """{"message": "..."}: callers who make that choice hear it from now on."""
    message = " ".join(str(_body().get("message", "")).split())
    if not 3 <= len(message) <= MESSAGE_MAX:
        raise _Unprocessable(f"give the message callers will hear (3 to {MESSAGE_MAX} characters)")
    services = current_app.extensions["ivr"]
    return _incident_changed(incidents.confirm(services.redis, incident_id, message, person.id, services.clock()))


@api.post("/incidents/<incident_id>/close")
@needs_supervisor
def incident_close(incident_id: str, person: Person):
    """Fixed: callers no longer hear the message, and those who asked are texted."""
    services = current_app.extensions["ivr"]
    return _incident_changed(incidents.close(services.redis, incident_id, person.id, services.clock()))


MESSAGE_MAX = 300


def _incident_changed(incident: incidents.Incident | None):
    if incident is None:
        raise changes.NotFound("no such incident")
    current_app.extensions["ivr"].announcements.refresh()  # this process's callers at once; the others in seconds
    return jsonify(ok=True, incident=_incident_json(incident))


def _incident_json(i: incidents.Incident) -> dict:
    return {
        "id": i.id,
        "line": i.line,
        "node": i.option.partition(":")[0],
        "option": i.option.partition(":")[2],
        "label": i.label,
        "reports": i.reports,
        "first_report": i.first_report,
        "detected_at": i.detected_at,
        "status": i.status,
        "message": i.message or None,
        "confirmed_at": i.confirmed_at or None,
        "closed_at": i.closed_at or None,
        "texts_asked": i.texts_asked,
    }


@api.get("/me")
@needs_person
def me(person: Person):
    """Who this token or session is, and what they are doing now."""
    services = current_app.extensions["ivr"]
    return jsonify(_person_json(line_view.one_person(services.redis, person.agent, services.clock())))


def _person_json(row: line_view.PersonRow) -> dict:
    return {
        "id": row.agent.id,
        "name": row.agent.name,
        "role": row.agent.role,
        "groups": list(row.agent.groups),
        "status": row.status,
        "idle_since": row.since if row.status == "available" else None,
        "call": row.call,
        "until": row.until or None,
        "since": row.held_since or None,
    }
