"""Blueprint for agents' tools: mark a caller's problem resolved (bearer-token authenticated)."""

from __future__ import annotations

import hmac
import logging

from flask import Blueprint, abort, current_app, jsonify, request

from ivr.call.callers import caller_id, masked
from ivr.store import audit, caller_history
from webhooks import people, people_changes

log = logging.getLogger("ivr.agent_api")
agent_api = Blueprint("agent_api", __name__, url_prefix="/agent")


def _authorised() -> people.Person | None:
    """AGENT_API_TOKEN (an integration's: returns None), or a person's own token or console session."""
    token = current_app.extensions["ivr"].agent_api_token
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token and hmac.compare_digest(given.encode(), token.encode()):
        return None
    person = people.current()
    if person is None:
        abort(401, "send Authorization: Bearer <AGENT_API_TOKEN or a person's token from `ivr agents token ID`>")
    if not person.by_token:  # a browser's session: the change must carry the page's CSRF token
        current_app.extensions["csrf"].protect()
    return person


@agent_api.post("/resolve")
def resolve():
    """Mark a caller's problem resolved, so their next call starts at the menu again."""
    person = _authorised()
    services = current_app.extensions["ivr"]
    data = request.get_json(silent=True) or request.form
    number = (data.get("number") or "").strip()
    if number.isdigit() and (data.get("number") or "").startswith(" "):
        number = "+" + number  # an unencoded '+' in a form post arrives as a space
    caller = caller_id(number, services.caller_secret)
    if caller is None:
        return jsonify(error="give the caller's number in E.164 form, such as +15551234567"), 400
    # an agent resolves only a caller whose call they took or are taking (and learns nothing of others)
    agent_only = person is not None and not person.is_supervisor
    if agent_only and not people_changes.knows_caller(person, caller, caller_history.history(services.redis, caller)):
        return jsonify(error="only a supervisor, or someone who took this caller's call, may resolve it"), 403
    now = services.clock()
    closed = caller_history.resolve(services.redis, caller, now)
    if not closed:
        return jsonify(
            resolved=False,
            caller=masked(number),
            error="this number was never seen (or its calls are older than the repeat window): nothing to resolve",
        ), 404
    who = person.id if person is not None else "integration"
    audit.record(services.redis, audit.Change(now, who, "resolve", f"caller {masked(number)}", f"{closed} contacts"))
    log.info("caller %s marked resolved (%d contacts closed)", masked(number), closed)
    return jsonify(resolved=True, caller=masked(number), contacts_closed=closed)
