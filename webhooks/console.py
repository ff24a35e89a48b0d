"""Blueprint for the people who take the calls: sign-in, the agent's screen and the supervisor's screen,
server-rendered. The live parts are fragments a small script polls every second with ETag (304 when nothing
changed), so no web thread is ever held open: Twilio's webhooks share these threads."""

from __future__ import annotations

import hashlib
import logging
import re

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError

from ivr.call import presence, tally
from ivr.call.callstate import OUTCOME_WORDS, OUTCOMES
from ivr.store import accounts, audit, line_view, problems
from webhooks import people
from webhooks import people_changes as changes
from webhooks.people import Forbidden, NotSignedIn, Person, needs_person, needs_supervisor

log = logging.getLogger("ivr.console")
CHANGES_SHOWN = 15  # the latest changes people made, on the supervisor's screen
console = Blueprint("console", __name__, url_prefix="/console", template_folder="templates", static_folder="static")


@console.before_request
def _protect():
    """Every form carries its CSRF token; without one, or without SECRET_KEY, nothing is changed."""
    if not people.sessions_on():
        return Response(
            render_template("console/off.html"), status=503, headers={"Retry-After": "60"}, mimetype="text/html"
        )
    if request.method == "POST":
        current_app.extensions["csrf"].protect()
    return None


@console.errorhandler(NotSignedIn)
def _not_signed_in(_):
    return people.to_sign_in()


@console.errorhandler(Forbidden)
def _forbidden(exc):
    return render_template("console/refused.html", reason=str(exc)), 403


@console.errorhandler(CSRFError)
def _no_csrf(exc):
    return render_template(
        "console/refused.html",
        reason=f"This form has expired or was not sent from this "
        f"console ({exc.description}). Reload the page and try again.",
    ), 400


@console.get("/")
def home():
    """Send a person to their own screen."""
    return redirect(url_for("console.me"))


@console.route("/sign-in", methods=["GET", "POST"])
def sign_in_page():
    """Sign in with your id from agents.yaml and the password `ivr agents password ID` set."""
    services = current_app.extensions["ivr"]
    wanted = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("console/sign_in.html", next=wanted)
    agent_id = (request.form.get("agent") or "").strip().lower()
    password = request.form.get("password") or ""
    who = ("person:" + agent_id, people.address())
    if accounts.blocked(services.redis, *who):
        log.warning("sign-in refused: too many failures (%s)", agent_id or "no id")
        return render_template(
            "console/sign_in.html", next=wanted, error="Too many failed attempts. Wait five minutes, then try again."
        ), 429
    agent = services.catalog.directory.get(agent_id)
    matches = accounts.password_matches(services.redis, agent_id, password)  # the same work for unknown ids
    if agent is None or not matches:
        accounts.failed(services.redis, *who)
        return render_template("console/sign_in.html", next=wanted, error="That id and password do not match."), 401
    accounts.succeeded(services.redis, who[0])  # the address's count stays: others may be guessing from it
    people.sign_in(agent)
    log.info("%s signed in", agent.id)
    return redirect(wanted or url_for("console.me"))


@console.get("/link/<secret>")
def sign_in_link(secret: str):
    """Sign in with a one-time link from `ivr agents login-link ID` (it works once, for 15 minutes)."""
    services = current_app.extensions["ivr"]
    agent = services.catalog.directory.get(accounts.use_sign_in_link(services.redis, secret))
    if agent is None:
        return render_template("console/sign_in.html", error="That sign-in link has expired or was used."), 401
    people.sign_in(agent)
    return redirect(url_for("console.me"))


@console.post("/sign-out")
def sign_out():
    """Sign out of this browser."""
    people.sign_out()
    return redirect(url_for("console.sign_in_page"))


@console.get("/me")
@needs_person
def me(person: Person):
    """The agent's screen: my status, the call ringing me with its caller's story, and my wrap-up."""
    return render_template("console/me.html", person=person, live=_me_live(person))


@console.get("/me/live")
@needs_person
def me_live(person: Person):
    """The live part of the agent's screen (polled)."""
    return _fragment(_me_live(person))


@console.post("/me/status")
@needs_person
def my_status(person: Person):
    """Set myself available or away."""
    _set_status(person, person.agent.id, request.form.get("status", ""))
    return redirect(url_for("console.me"))


@console.post("/people/<agent_id>/status")
@needs_supervisor
def their_status(agent_id: str, person: Person):
    """A supervisor sets someone available or away."""
    _set_status(person, agent_id, request.form.get("status", ""))
    return redirect(url_for("console.line"))


@console.get("/calls/<call>")
@needs_person
def call_page(call: str, person: Person):
    """One call with its caller's story, and its wrap-up (for the person who took it, or a supervisor)."""
    view = changes.visible_call(person, call)
    return render_template("console/call.html", person=person, call=view, **_outcomes())


@console.post("/calls/<call>/wrap-up")
@needs_person
def wrap_up(call: str, person: Person):
    """Finish a call: an outcome and a note that the caller's next person hears and sees."""
    result = changes.wrap_up(person, call, request.form.get("outcome", ""), request.form.get("note", ""))
    if result.error:
        flash(result.error, "error")
        return redirect(url_for("console.call_page", call=call))
    flash(result.said, "done")
    return redirect(url_for("console.me"))


@console.post("/messages/<message_id>")
@needs_person
def message_action(message_id: str, person: Person):
    """Mark a voicemail done, or take it."""
    return _back(changes.act_on_message(person, message_id, request.form.get("action", ""), request.form.get("agent")))


@console.post("/callbacks/<request_id>")
@needs_person
def callback_action(request_id: str, person: Person):
    """Cancel a callback request, mark it done, or give it to someone."""
    return _back(changes.act_on_callback(person, request_id, request.form.get("action", ""), request.form.get("agent")))


@console.get("/line")
@needs_supervisor
def line(person: Person):
    """The supervisor's screen: the live queue, the agents' board and the line's tiles."""
    return render_template("console/line.html", person=person, live=_line_live(person))


@console.get("/line/live")
@needs_supervisor
def line_live(person: Person):
    """The live part of the supervisor's screen (polled)."""
    return _fragment(_line_live(person))


def _me_live(person: Person) -> str:
    services = current_app.extensions["ivr"]
    now = services.clock()
    row = line_view.one_person(services.redis, person.agent, now)
    view = changes.call_for_screen(row.call, now) if row.call else None
    inbox = changes.messages_for(person)
    return render_template(
        "console/me_live.html", person=person, row=row, call=view, now=now, inbox=inbox, **_outcomes()
    )


def _line_live(person: Person) -> str:
    services = current_app.extensions["ivr"]
    now = services.clock()
    waiting, total = line_view.queue(services.redis, services.calls.sealer)
    rows = line_view.board(services.redis, services.catalog.directory, now)
    counts = {s: sum(1 for r in rows if r.status == s) for s in presence.STATUSES}
    inbox = changes.messages_for(person)
    return render_template(
        "console/line_live.html",
        today=line_view.today(services.redis, services.catalog.flows.values(), now),
        problems=problems.newest(services.redis),
        changes_made=audit.recent(services.redis, CHANGES_SHOWN),
        tally_words=tally,
        callbacks=changes.callbacks_for(person),
        directory=services.catalog.directory,
        person=person,
        waiting=waiting,
        total=total,
        rows=rows,
        counts=counts,
        now=now,
        inbox=inbox,
    )


_CSRF_FIELD = re.compile(r'name="csrf_token" value="[^"]*"')


def _fragment(html: str) -> Response:
    """A live fragment, with an ETag: the poller gets 304 and an empty body while nothing changed. The forms'
    CSRF tokens are signed afresh each time, so they are left out of the tag (the page's older ones stay
    valid for WTF_CSRF_TIME_LIMIT)."""
    tag = hashlib.sha1(_CSRF_FIELD.sub("", html).encode()).hexdigest()[:20]
    response = Response(html, mimetype="text/html")
    response.set_etag(tag)
    response.headers["Cache-Control"] = "no-cache"
    return response.make_conditional(request)


def _back(result: changes.Result):
    """Say what happened, on the console page the form was sent from."""
    flash(result.error or result.said, "error" if result.error else "done")
    return redirect(request.referrer if _safe_next(_path_of(request.referrer)) else url_for("console.me"))


def _set_status(person: Person, agent_id: str, status: str) -> None:
    result = changes.set_status(person, agent_id, status)
    flash(result.error or result.said, "error" if result.error else "done")


def _outcomes() -> dict:
    return {"outcomes": OUTCOMES, "outcome_words": OUTCOME_WORDS}


def _path_of(url: str | None) -> str | None:
    """The path of a referring page of this site (the console's own pages only)."""
    if not url or not url.startswith(request.host_url):
        return None
    return "/" + url[len(request.host_url) :].split("?")[0]


def _safe_next(target: str | None) -> str | None:
    """Only a path of this console: never a redirect to another site after signing in."""
    if target and target.startswith("/console/") and not target.startswith("//"):
        return target
    return None


def guarded(blueprint: Blueprint) -> Blueprint:
    """Another console page's blueprint, with the console's own guards: sessions on, CSRF on every form, and
    the sign-in page, refusals and expired forms answered as the console answers them."""
    blueprint.before_request(_protect)
    blueprint.register_error_handler(NotSignedIn, _not_signed_in)
    blueprint.register_error_handler(Forbidden, _forbidden)
    blueprint.register_error_handler(CSRFError, _no_csrf)
    return blueprint
