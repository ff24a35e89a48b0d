"""Who is asking, for the routes people use (the console and the JSON API): a bearer token or a signed
session, checked against agents.yaml on every request, and the role checks enforced on the server."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import wraps

from flask import current_app, g, redirect, request, session, url_for

from ivr.flows.directory import Agent
from ivr.store import accounts


@dataclass(frozen=True)
class Person:
    agent: Agent
    by_token: bool  # a bearer token (an integration), not a browser session: no CSRF token is needed

    @property
    def id(self) -> str:
        return self.agent.id

    @property
    def is_supervisor(self) -> bool:
        return self.agent.is_supervisor


class NotSignedIn(Exception):
    """No valid session or token: 401 for the API, the sign-in page for the console."""


class Forbidden(Exception):
    """Signed in, but this is not theirs to see or change: 403."""


def sessions_on() -> bool:
    return bool(current_app.config.get("SECRET_KEY"))


def current() -> Person | None:
    """The person making this request, or None. A token or session of someone no longer in agents.yaml, or a
    session older than their last password change or sign-out everywhere, counts for nothing."""
    if "person" in g:
        return g.person
    services = current_app.extensions["ivr"]
    directory = services.catalog.directory
    person = None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        agent = directory.get(accounts.token_owner(services.redis, header.removeprefix("Bearer ").strip()))
        person = Person(agent, by_token=True) if agent else None
    elif sessions_on() and session.get("agent"):
        agent = directory.get(session["agent"])
        if agent and session.get("epoch") == accounts.epoch(services.redis, agent.id):
            person = Person(agent, by_token=False)
    g.person = person
    return person


def sign_in(agent: Agent) -> None:
    services = current_app.extensions["ivr"]
    session.clear()
    session["agent"] = agent.id
    session["epoch"] = accounts.epoch(services.redis, agent.id)
    session.permanent = True
    g.person = Person(agent, by_token=False)


def sign_out() -> None:
    session.clear()
    g.person = None


def address() -> str:
    """The asker's address, hashed: enough to rate-limit sign-ins, nothing to keep about anyone."""
    return "addr:" + hashlib.sha256((request.remote_addr or "?").encode()).hexdigest()[:16]


def needs_person(view):
    """Run the view for a signed-in person (as `person=`); else NotSignedIn."""

    @wraps(view)
    def checked(*args, **kwargs):
        person = current()
        if person is None:
            raise NotSignedIn()
        return view(*args, person=person, **kwargs)

    return checked


def needs_supervisor(view):
    """Run the view for a signed-in supervisor; NotSignedIn or Forbidden otherwise."""

    @wraps(view)
    def checked(*args, person: Person, **kwargs):
        if not person.is_supervisor:
            raise Forbidden("only a supervisor may do this")
        return view(*args, person=person, **kwargs)

    return needs_person(checked)


def to_sign_in():
    return redirect(url_for("console.sign_in_page", next=request.full_path.rstrip("?")))
