"""The Twilio signature check, as a decorator, with twilio's own RequestValidator."""

from __future__ import annotations

import logging
from functools import wraps

from flask import abort, current_app, request

log = logging.getLogger("ivr.security")


def signed_url() -> str:
    """The URL Twilio called, as it wrote it: PUBLIC_URL (or the host after ProxyFix), the path, and the
    query string exactly as received. Twilio signs `?node=%40hold`, not the decoded `?node=@hold` that
    request.url would give back."""
    base = current_app.config.get("PUBLIC_URL") or request.root_url
    query = request.query_string.decode("latin-1")
    return base.rstrip("/") + request.path + (f"?{query}" if query else "")


def twilio_signed(view):
    """Answer 403 unless X-Twilio-Signature matches this request (HMAC-SHA1 with the auth token)."""

    @wraps(view)
    def checked(*args, **kwargs):
        services = current_app.extensions["ivr"]
        if not services.check_signatures:
            return view(*args, **kwargs)
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not services.validator.validate(signed_url(), request.form, signature):
            log.warning("rejected %s %s: bad or missing X-Twilio-Signature", request.method, request.path)
            abort(403)
        return view(*args, **kwargs)

    return checked
