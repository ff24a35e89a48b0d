"""Twilio's REST API as the service uses it: redirect a waiting call to an agent, place a callback call.

The client is twilio-python's own `Client`, so requests, auth and error parsing are Twilio's. The one
addition is `api_base`: with it, every request meant for https://api.twilio.com (or any
https://<sub>.twilio.com host) goes to that base URL instead, same path and query. Tests point it at a
local stand-in (tests/twilio_rest_stub.py) so they never reach the internet and never patch our code.

Errors are not caught here, on purpose: the caller knows whether a failed redirect or callback should
retry, fall back to a person or be logged. Expect
  - twilio.base.exceptions.TwilioRestException: Twilio answered with an error (status, code, msg);
  - twilio.base.exceptions.TwilioException (its parent): any other Twilio-side failure;
  - requests.exceptions.RequestException (ConnectionError, Timeout, ...): Twilio was not reached or did
    not answer within `timeout`. A create that times out may still have placed the call.

The auth token is never logged: it travels only as HTTP Basic auth, which twilio's request log omits.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

log = logging.getLogger("ivr.twilio_api")

CALLBACK_STATUS_EVENTS = ("completed",)  # every final status (no-answer, busy, ...) comes as this one


def is_twilio_url(url: str) -> bool:
    """True for https URLs on twilio.com or a subdomain: the only ones api_base redirects."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return parts.scheme == "https" and (host == "twilio.com" or host.endswith(".twilio.com"))


HANDOVERS_AT_ONCE = 16  # REST requests a worker sends at once (its connection pool holds as many)


class PacedHttpClient(TwilioHttpClient):
    """TwilioHttpClient that remembers how long Twilio last asked to be left alone (429 with Retry-After),
    which twilio-python's exceptions do not carry: per thread, so hand-overs sent in parallel each read the
    answer to their own request."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._last = threading.local()
        if self.session is not None:  # as many pooled connections as requests sent at once
            self.session.mount("https://", HTTPAdapter(pool_maxsize=HANDOVERS_AT_ONCE))

    @property
    def retry_after(self) -> float:
        return getattr(self._last, "retry_after", 0.0)

    def request(self, *args, **kwargs) -> Response:
        response = super().request(*args, **kwargs)
        self._last.retry_after = _seconds(response.headers.get("Retry-After")) if response.status_code == 429 else 0.0
        return response


def _seconds(value: str | None) -> float:
    try:
        return max(0.0, float(value or 0))
    except ValueError:  # an HTTP date instead of seconds: take a minute, the most it would sensibly ask
        return 60.0


def asked_pause(client: Client) -> float:
    """Seconds Twilio's last answer asked to wait before the next request (0 if it did not)."""
    return getattr(client.http_client, "retry_after", 0.0)


class RedirectingHttpClient(PacedHttpClient):
    """TwilioHttpClient that sends Twilio-bound requests to `api_base` (a local stand-in in tests).

    Everything else (session pooling, timeout, retries, request and response logging) is the parent's:
    only the URL changes, so the code under test is the same code that talks to Twilio in production.
    """

    def __init__(self, api_base: str, **kwargs):
        parts = urlsplit(api_base)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"api_base must be an http(s) base URL such as http://127.0.0.1:8123, not {api_base!r}")
        super().__init__(**kwargs)
        self.api_base = api_base.rstrip("/")
        self._scheme = parts.scheme
        self._netloc = parts.netloc
        self._prefix = parts.path.rstrip("/")
        if self.session is not None:
            # The parent mounts its adapter (pool size, max_retries) on https:// only; a stand-in is
            # usually plain http, so give it the same adapter and the same behaviour.
            self.session.mount("http://", self.session.get_adapter("https://"))
            # A stand-in is reached directly: never through HTTP(S)_PROXY from the environment.
            self.session.trust_env = False

    def rewrite(self, url: str) -> str:
        """The URL actually requested: Twilio hosts swapped for api_base, path and query kept."""
        if not is_twilio_url(url):
            return url
        parts = urlsplit(url)
        return urlunsplit((self._scheme, self._netloc, self._prefix + parts.path, parts.query, parts.fragment))

    def request(self, method: str, url: str, *args, **kwargs) -> Response:
        return super().request(method, self.rewrite(url), *args, **kwargs)


def make_client(account_sid: str, auth_token: str, api_base: str | None = None, timeout: float = 5.0) -> Client:
    """Build the REST client; with api_base, every request to Twilio goes there instead.

    `timeout` (seconds, connect and read each) is short because callers wait on the phone while we
    talk to Twilio. No automatic retries: creating a call is not idempotent. Close the client's pooled
    connections with `client.http_client.session.close()` when done (tests do).
    """
    if api_base is None:
        http_client = PacedHttpClient(timeout=timeout)
    else:
        http_client = RedirectingHttpClient(api_base, timeout=timeout)
        log.info("Twilio REST requests go to %s instead of api.twilio.com", http_client.api_base)
    return Client(account_sid, auth_token, http_client=http_client)


GONE = "gone"  # call_status of a SID Twilio does not know (404)
CALL_NOT_IN_PROGRESS = 21220  # Twilio's answer (HTTP 400) to redirecting or updating a call that has ended
NOT_FOUND = 20404


def call_is_over(exc: TwilioRestException) -> bool:
    """Twilio said the call is no longer live: 400/21220 (it has ended) or 404/20404 (no such call)."""
    return exc.code == CALL_NOT_IN_PROGRESS or exc.status == 404


def not_sent(exc: requests.exceptions.RequestException) -> bool:
    """Whether a failed request surely never reached Twilio: no connection could be made (refused, or the
    connect timed out). A read timeout or a reset on a reused connection may come after Twilio acted on it."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError):
        return False
    cause = exc.args[0] if exc.args else None
    return isinstance(getattr(cause, "reason", cause), urllib3.exceptions.NewConnectionError)


def call_status(client: Client, call_sid: str) -> str:
    """The call's status as Twilio knows it now ("queued", "ringing", "in-progress", or a final one: see
    ivr.call.events.CALL_ENDED); GONE when Twilio has no such call (404). Raises TwilioRestException or a
    requests error otherwise."""
    try:
        return client.calls(call_sid).fetch().status
    except TwilioRestException as exc:
        if exc.status == 404:
            return GONE
        raise


def redirect_call(client: Client, call_sid: str, url: str) -> None:
    """Point a live call at new TwiML (POST to `url`): how a queued caller is handed to an agent.

    Raises TwilioRestException (400/21220 once the call has ended: see call_is_over) or a requests error.
    """
    client.calls(call_sid).update(url=url, method="POST")


def place_call(client: Client, to: str, from_: str, url: str, status_callback: str) -> str:
    """Place an outbound call (a callback) and return its CallSid.

    Twilio POSTs to `url` for the call's TwiML once answered, and POSTs every progress event to
    `status_callback` so the service learns whether the callback rang, was answered or failed.
    Raises TwilioRestException or a requests error; after a timeout the call may still exist.
    """
    call = client.calls.create(
        to=to,
        from_=from_,
        url=url,
        method="POST",
        status_callback=status_callback,
        status_callback_method="POST",
        status_callback_event=list(CALLBACK_STATUS_EVENTS),
    )
    return call.sid
