"""The supervisors' incidents page: what the line noticed (many callers making the same choice at once),
with the callers reporting each, and its times; confirm it with the message callers will hear, or close it
(the worker then texts those who asked)."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from ivr.store import incidents
from webhooks import console
from webhooks.people import Person, needs_supervisor

MESSAGE_MAX = 300
incident_pages = console.guarded(Blueprint("incident_pages", __name__, url_prefix="/console/incidents"))


@incident_pages.get("/")
@needs_supervisor
def listing(person: Person):
    """Incidents, newest first: suspected ones to confirm, confirmed ones to close."""
    services = current_app.extensions["ivr"]
    return render_template("console/incidents.html", person=person, incidents=incidents.listing(services.redis))


@incident_pages.post("/<incident_id>/confirm")
@needs_supervisor
def confirm(incident_id: str, person: Person):
    """Confirm an incident: callers who make that choice hear the message from now on."""
    services = current_app.extensions["ivr"]
    message = " ".join((request.form.get("message") or "").split())
    if not 3 <= len(message) <= MESSAGE_MAX:
        flash(f"Write the message callers will hear (3 to {MESSAGE_MAX} characters).", "error")
    elif incidents.confirm(services.redis, incident_id, message, person.id, services.clock()) is None:
        flash("No such incident.", "error")
    else:
        services.announcements.refresh()
        flash("Confirmed: callers who make that choice hear your message now.", "done")
    return redirect(url_for("incident_pages.listing"))


@incident_pages.post("/<incident_id>/close")
@needs_supervisor
def close(incident_id: str, person: Person):
    """Close an incident: fixed; callers who asked are texted."""
    services = current_app.extensions["ivr"]
    closed = incidents.close(services.redis, incident_id, person.id, services.clock())
    if closed is None:
        flash("No such incident.", "error")
    else:
        services.announcements.refresh()
        flash(f"Closed. {closed.texts_asked} caller(s) who asked will get a text.", "done")
    return redirect(url_for("incident_pages.listing"))
