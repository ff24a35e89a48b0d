"""The Twilio side of the webhooks: signed form POSTs to the server, whose answers must be TwiML."""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from collections.abc import Callable

import requests
from twilio.request_validator import RequestValidator

from ivr.tools.phone.errors import ServerError
from ivr.tools.phone.transcript import words
from ivr.tools.phone.twiml import Doc, url_path

WEBHOOK_TIMEOUT = 15  # seconds Twilio waits for a webhook before it gives up

Transport = Callable[[str, dict, dict], tuple[int, str]]


def http_transport(trust_env: bool = True) -> tuple[Transport, Callable[[], None]]:
    """POST a form with `requests` (Twilio's 15 s limit); returns (post, close)."""
    session = requests.Session()
    session.trust_env = trust_env

    def post(url: str, params: dict, headers: dict) -> tuple[int, str]:
        response = session.post(url, data=params, headers=headers, timeout=WEBHOOK_TIMEOUT, allow_redirects=False)
        return response.status_code, response.text

    return post, session.close


def new_sid(prefix: str = "CA") -> str:
    """An id shaped like Twilio's (calls, legs, queues, recordings, the account)."""
    return prefix + secrets.token_hex(16)


class WebhookClient:
    """Posts to one server as Twilio would, signed with its auth token, and reads the TwiML it answers."""

    def __init__(self, base_url: str, token: str, transport: Transport):
        self.base = base_url
        self.validator = RequestValidator(token)
        self.transport = transport

    def post(self, url: str, params: dict) -> Doc:
        """POST `params` to `url`; raise ServerError, worded for ops staff, when Twilio could not use the answer."""
        signature = self.validator.compute_signature(url, params)
        what = f"POST {url_path(url)}"
        try:
            status, body = self.transport(url, params, {"X-Twilio-Signature": signature})
        except requests.Timeout:
            raise ServerError(
                f"{what}: no answer within {WEBHOOK_TIMEOUT} s; Twilio would give up and play "
                "its error message to the caller"
            ) from None
        except (requests.RequestException, OSError) as exc:
            raise ServerError(f"{what}: cannot reach the server at {self.base} ({type(exc).__name__})") from None
        if status == 403:
            raise ServerError(
                f"{what}: refused (403), the signature did not match. Is the token the server's "
                f"TWILIO_AUTH_TOKEN, and does the server see the address {self.base}? (Behind a "
                "proxy the server needs PUBLIC_URL.)"
            )
        if status != 200:
            raise ServerError(
                f"{what}: the server answered {status} instead of 200 with TwiML; Twilio would "
                f"play its error message to the caller. Body: {_excerpt(body)}"
            )
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            raise ServerError(f"{what}: the answer is not valid XML ({exc}): {_excerpt(body)}") from None
        if root.tag != "Response":
            raise ServerError(
                f"{what}: the answer is not TwiML (<{root.tag}> where <Response> should be): {_excerpt(body)}"
            )
        return Doc(root, url)


def _excerpt(body: str, limit: int = 300) -> str:
    body = words(body or "")
    return repr(body[:limit] + ("..." if len(body) > limit else "")) if body else "(empty)"
