"""The Twilio signature check, as a decorator, with twilio's own RequestValidator."""

from __future__ import annotations

import hmac
import logging
from functools import wraps

from flask import abort, current_app, request
from twilio.request_validator import SIGNATURE_SETTINGS_HEADER, get_signature_algorithm

log = logging.getLogger("ivr.security")


def signed_url() -> str:
    """The URL Twilio called, as it wrote it: PUBLIC_URL (or the host after ProxyFix), the path, and the
    query string exactly as received. Twilio signs `?node=%40hold`, not the decoded `?node=@hold` that
    request.url would give back."""
    base = current_app.config.get("PUBLIC_URL") or request.root_url
    query = request.query_string.decode("latin-1")
    return base.rstrip("/") + request.path + (f"?{query}" if query else "")


def twilio_signed(view):
    """Answer 403 unless X-Twilio-Signature matches this request.

    Classic webhooks are signed with HMAC-SHA1 and the auth token. Webhooks that carry
    X-Twilio-Webhooks-Signature-Settings (key=...,algorithm=HMAC_SHA256) are signed with that algorithm and
    a webhook signing key (TWILIO_WEBHOOK_SIGNING_KEY: one secret, or several comma-separated while a key is
    being rotated); without one configured they are refused.
    """

    @wraps(view)
    def checked(*args, **kwargs):
        services = current_app.extensions["ivr"]
        if not services.check_signatures:
            return view(*args, **kwargs)
        signature = request.headers.get("X-Twilio-Signature", "")
        settings = request.headers.get(SIGNATURE_SETTINGS_HEADER)
        validators, algorithm = (services.validator,), None
        if settings is not None:
            validators, algorithm = services.signing_key_validators, get_signature_algorithm(settings)
        url = signed_url()
        if not signature or not any(_valid(v, url, signature, algorithm) for v in validators):
            log.warning("rejected %s %s: bad or missing X-Twilio-Signature", request.method, request.path)
            abort(403)
        return view(*args, **kwargs)

    return checked


def _valid(validator, url: str, signature: str, algorithm: str | None) -> bool:
    """One HMAC for the URL exactly as Twilio called it (the usual case); only when that does not match, the
    validator's full check, which also tries the URL with and without its port (two more)."""
    try:
        if hmac.compare_digest(validator.compute_signature(url, request.form, algorithm), signature):
            return True
    except ValueError:  # an algorithm twilio does not know: validate() logs it and refuses
        pass
    return validator.validate(url, request.form, signature, algorithm)
