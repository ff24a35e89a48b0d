"""What the console and the API need from the app: signed sessions, CSRF protection, times in the line's
zone, and JSON (never HTML) for any error under /api/."""

from __future__ import annotations

import datetime
import logging
import zoneinfo
from datetime import timedelta

from flask import Flask, current_app, jsonify, request
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import HTTPException

from ivr.call.callers import masked
from ivr.call.callstate import OUTCOME_WORDS

log = logging.getLogger("ivr.console")


def init_console(app: Flask) -> None:
    cfg = app.config
    if not cfg.get("SECRET_KEY"):
        log.warning("SECRET_KEY is not set: the console is off (the JSON API still takes bearer tokens)")
    cfg.setdefault("WTF_CSRF_CHECK_DEFAULT", False)  # checked by the console and the API, never on webhooks
    cfg.setdefault("WTF_CSRF_TIME_LIMIT", 12 * 3600)  # a page left open for a shift still submits
    cfg.setdefault("SESSION_COOKIE_HTTPONLY", True)
    cfg.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    cfg.setdefault("SESSION_COOKIE_SECURE", str(cfg.get("PUBLIC_URL", "")).startswith("https://"))
    cfg.setdefault("PERMANENT_SESSION_LIFETIME", timedelta(hours=12))
    CSRFProtect(app)

    app.add_template_filter(clock)
    app.add_template_filter(when)
    app.add_template_filter(duration)
    app.add_template_filter(minutes)
    app.add_template_filter(person_name)
    app.add_template_filter(masked, "mask")
    app.context_processor(lambda: {"zone_name": zone().key, "outcome_words_all": OUTCOME_WORDS})

    @app.errorhandler(HTTPException)
    def _json_under_api(exc: HTTPException):
        """Under /api/ (and /agent/), errors are JSON whatever raised them: an unknown route, a wrong method."""
        if request.path.startswith(("/api/", "/agent/")):
            return jsonify(error=exc.description or exc.name, status=exc.code), exc.code
        return exc


def zone() -> zoneinfo.ZoneInfo:
    """The line's time zone (the default line's business hours), in which people read times."""
    catalog = current_app.extensions["ivr"].catalog
    flows = list(catalog.flows.values())
    default = next((f for f in flows if f.default), flows[0] if flows else None)
    name = default.settings.hours.timezone if default else "UTC"
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _local(ts: float | None) -> datetime.datetime | None:
    """A moment in the line's zone; None for none, or for a damaged record's time no calendar holds."""
    try:
        return datetime.datetime.fromtimestamp(ts, zone()) if ts else None
    except (ValueError, OverflowError, OSError):
        return None


def clock(ts: float | None) -> str:
    """14:03:20 in the line's zone."""
    moment = _local(ts)
    return moment.strftime("%H:%M:%S") if moment else "-"


def when(ts: float | None) -> str:
    """Mon 4 Dec 14:03 in the line's zone."""
    moment = _local(ts)
    return f"{moment:%a} {moment.day} {moment:%b %H:%M}" if moment else "-"


def duration(seconds: float | None) -> str:
    """4:05, or 1 h 04 min."""
    seconds = max(0, int(seconds or 0))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 60}:{seconds % 60:02d}"


def minutes(seconds: float | None) -> str:
    """12 min: for what changes slowly (idle time), so a live view changes only when something happens."""
    whole = max(0, int(seconds or 0)) // 60
    return f"{whole // 60} h {whole % 60:02d} min" if whole >= 60 else f"{whole} min"


def person_name(agent_id: str | None) -> str:
    agent = current_app.extensions["ivr"].catalog.directory.get(agent_id)
    return agent.name if agent else (agent_id or "-")
