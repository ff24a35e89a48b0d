"""A stand-in for Twilio's REST API on 127.0.0.1, so tests drive the real twilio Client without the internet.

Implements, under /2010-04-01/Accounts/{AccountSid}/, as Twilio answers (errors included):
  POST Calls.json            create a call (201, the call as Twilio's JSON, status "queued")
  POST Calls/{CallSid}.json  update a call: Url, Method, Status. 200; 404 with code 20404 for a SID it
                             never saw; 400 with code 21220 ("Call is not in-progress") for a call that
                             has ended (completed, busy, failed, no-answer, canceled): Twilio cannot
                             redirect or cancel a finished call
  GET  Calls/{CallSid}.json  fetch a call, with its status (404/20404 for a SID it never saw)
  POST Messages.json         send a text (201, the message as Twilio's JSON, status "queued"); 400 with
                             21604 without To, 21603 without From (or MessagingServiceSid), 21602
                             without Body (or MediaUrl)
with HTTP Basic auth (account sid : auth token; 401/20003 otherwise) and errors in Twilio's JSON format.

Every request is recorded as it arrives (before any delay, hold or fault), for assertions. Calls change
state with `set_status` (a caller hanging up is `set_status(sid, "completed")`). Faults: `fail_next` (the
next request answers an error), `rate_limit_next` (429/20429 with Retry-After, as Twilio's API
concurrency limit does), `hold_creates`/`release_creates` (creates block inside the handler, as when our
worker dies mid-request while Twilio still places the call) and `delay` (slow answers; longer than the
client's timeout, a timeout).

    with TwilioRestStub() as stub:
        client = stub.client()            # ivr.dispatcher.twilio_api.make_client(..., api_base=stub.url)
        ...
        stub.wait_for(lambda: stub.creates())
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import secrets
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

API_VERSION = "2010-04-01"
_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Calls(?:/(?P<call>[^/]+?))?\.json$")
_MESSAGES = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages\.json$")


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _now_rfc2822() -> str:
    return format_datetime(datetime.now(UTC).replace(microsecond=0))


@dataclass
class RecordedRequest:
    """One request as the stub received it. `status` is None until the stub has answered."""

    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    form: dict[str, list[str]]
    kind: str  # "create", "update", "fetch" or "other"
    account_sid: str | None  # from the path
    call_sid: str | None  # from the path (update, fetch)
    username: str | None  # from Basic auth; the password is never kept
    host: str  # the Host header: proof the request was aimed at the stub
    time: float  # time.monotonic() on arrival
    status: int | None = None

    def field(self, name: str) -> str | None:
        """The first value of a form field, or None."""
        values = self.form.get(name)
        return values[0] if values else None


@dataclass
class StubCall:
    """A call the stub knows: what was asked for at creation and each update since."""

    sid: str
    account_sid: str
    to: str | None = None
    from_: str | None = None
    url: str | None = None
    method: str | None = None
    status: str = "queued"
    status_callback: str | None = None
    status_callback_method: str | None = None
    status_callback_events: list[str] = field(default_factory=list)
    direction: str = "outbound-api"
    date_created: str = field(default_factory=_now_rfc2822)
    date_updated: str = field(default_factory=_now_rfc2822)
    updates: list[dict[str, list[str]]] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        """The call resource shaped like Twilio's answer (enough for twilio-python's CallInstance)."""
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{self.sid}.json"
        sub = uri[: -len(".json")]
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "parent_call_sid": None,
            "to": self.to,
            "to_formatted": self.to,
            "from": self.from_,
            "from_formatted": self.from_,
            "phone_number_sid": None,
            "status": self.status,
            "start_time": None,
            "end_time": None,
            "duration": None,
            "price": None,
            "price_unit": "USD",
            "direction": self.direction,
            "answered_by": None,
            "annotation": None,
            "api_version": API_VERSION,
            "forwarded_from": None,
            "group_sid": None,
            "caller_name": None,
            "queue_time": "0",
            "trunk_sid": None,
            "date_created": self.date_created,
            "date_updated": self.date_updated,
            "uri": uri,
            "subresource_uris": {
                "notifications": f"{sub}/Notifications.json",
                "recordings": f"{sub}/Recordings.json",
                "events": f"{sub}/Events.json",
                "payments": f"{sub}/Payments.json",
                "streams": f"{sub}/Streams.json",
                "siprec": f"{sub}/Siprec.json",
                "transcriptions": f"{sub}/Transcriptions.json",
                "user_defined_messages": f"{sub}/UserDefinedMessages.json",
                "user_defined_message_subscriptions": f"{sub}/UserDefinedMessageSubscriptions.json",
            },
        }


ENDED = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})  # a call in these is over


def twilio_error(status: int, code: int, message: str) -> dict[str, Any]:
    """An error body in Twilio's (legacy) format, which twilio-python turns into TwilioRestException."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class _Server(ThreadingHTTPServer):
    # Non-daemon handler threads, so server_close() joins them: nothing is left running after close().
    daemon_threads = False
    stub: TwilioRestStub

    def handle_error(self, request, client_address) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return  # the client gave up (a timeout while held, say): Twilio would not notice either
        self.stub.errors.append(exc)
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 10  # never wait forever on a client that stops sending
    server_version = "TwilioRestStub/1"

    def do_POST(self) -> None:
        self.server.stub._handle(self)

    def do_GET(self) -> None:
        self.server.stub._handle(self)

    def do_DELETE(self) -> None:
        self.server.stub._handle(self)

    def log_message(self, format: str, *args) -> None:
        pass  # requests are recorded on the stub; keep test output clean


class TwilioRestStub:
    """Twilio's Calls API on 127.0.0.1 (free port) in a background thread. Use as a context manager."""

    def __init__(
        self,
        account_sid: str | None = None,
        auth_token: str | None = None,
        known_calls: Iterable[str] = (),
        accept_any_call: bool = False,
    ):
        self.account_sid = account_sid or new_sid("AC")
        self.auth_token = auth_token or secrets.token_hex(16)
        self.accept_any_call = accept_any_call
        self.errors: list[BaseException] = []  # unexpected exceptions inside the stub (a stub bug)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # a request recorded/answered, or holds released
        self._requests: list[RecordedRequest] = []
        self._calls: dict[str, StubCall] = {}
        self._failures: deque[tuple[int, int, str, dict[str, str]]] = deque()
        self._delay = 0.0
        self._holding = False
        self._held = 0
        self._closing = threading.Event()
        self._clients: list[Any] = []
        for sid in known_calls:
            self.add_call(sid)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---
    def start(self) -> TwilioRestStub:
        assert self._server is None, "already started"
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.stub = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="twilio-rest-stub", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving: release held requests, close client pools, join every thread, close the socket."""
        if self._server is None:
            return
        self._closing.set()
        with self._changed:
            self._holding = False
            self._changed.notify_all()
        for client in self._clients:
            client.http_client.session.close()
        self._clients.clear()
        self._server.shutdown()
        self._server.server_close()  # joins the handler threads
        assert self._thread is not None
        self._thread.join()
        self._server = None
        self._thread = None

    def __enter__(self) -> TwilioRestStub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """The api_base to give make_client, e.g. http://127.0.0.1:54321."""
        return f"http://127.0.0.1:{self.port}"

    def client(self, timeout: float = 2.0, auth_token: str | None = None, account_sid: str | None = None):
        """A real twilio Client (ivr.dispatcher.twilio_api.make_client) aimed at this stub; closed with the stub."""
        from ivr.dispatcher.twilio_api import make_client

        client = make_client(
            account_sid or self.account_sid, auth_token or self.auth_token, api_base=self.url, timeout=timeout
        )
        self._clients.append(client)
        return client

    # --- calls the stub knows ---
    def add_call(self, sid: str | None = None, **fields) -> str:
        """Make a call known (an inbound call to redirect, say); returns its sid."""
        call = StubCall(
            sid=sid or new_sid("CA"),
            account_sid=self.account_sid,
            **{"direction": "inbound", "status": "in-progress", **fields},
        )
        with self._lock:
            self._calls[call.sid] = call
        return call.sid

    def calls(self) -> dict[str, StubCall]:
        with self._lock:
            return dict(self._calls)

    def call(self, sid: str) -> StubCall:
        with self._lock:
            return self._calls[sid]

    def set_status(self, sid: str, status: str) -> None:
        """Move a call on, as the phone network does: "in-progress" when answered, "completed" on hang-up."""
        with self._changed:
            self._calls[sid].status = status
            self._calls[sid].date_updated = _now_rfc2822()
            self._changed.notify_all()

    # --- what was received ---
    def requests(self, kind: str | None = None) -> list[RecordedRequest]:
        """Every request received so far, oldest first; only those of one kind if given."""
        with self._lock:
            return [r for r in self._requests if kind is None or r.kind == kind]

    def creates(self) -> list[RecordedRequest]:
        return self.requests("create")

    def updates(self, call_sid: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests("update") if call_sid is None or r.call_sid == call_sid]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Wait until predicate() is truthy and return its value; AssertionError after timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"condition not met within {timeout}s; requests: {self.requests()}")
            with self._changed:
                self._changed.wait(min(remaining, 0.05))

    @property
    def held(self) -> int:
        """How many create requests are blocked inside the handler right now."""
        with self._lock:
            return self._held

    # --- fault injection ---
    def fail_next(self, status: int = 500, code: int = 20500, message: str = "Internal Server Error") -> None:
        """The next request (of any kind) answers this error; calls queue up, one request each."""
        with self._lock:
            self._failures.append((status, code, message, {}))

    def rate_limit_next(self, retry_after: int = 1) -> None:
        """The next request answers 429 Too Many Requests (code 20429) with a Retry-After header."""
        with self._lock:
            self._failures.append((429, 20429, "Too Many Requests", {"Retry-After": str(retry_after)}))

    def hold_creates(self) -> None:
        """Make create requests block inside the handler (recorded as received) until release_creates()."""
        with self._lock:
            self._holding = True

    def release_creates(self) -> None:
        """Let held creates finish (each places its call and answers, if the client is still there)."""
        with self._changed:
            self._holding = False
            self._changed.notify_all()

    def delay(self, seconds: float) -> None:
        """Wait this long before answering every later request (0 to stop)."""
        with self._lock:
            self._delay = seconds

    # --- the server side ---
    def _handle(self, handler: _Handler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode() if length else ""
        form = parse_qs(body, keep_blank_values=True)
        match = _PATH.match(parts.path)
        call_sid = match["call"] if match else None
        texting = _MESSAGES.match(parts.path)
        if texting and handler.command == "POST":
            kind, match = "message", texting
        elif not match:
            kind = "other"
        elif handler.command == "POST":
            kind = "update" if call_sid else "create"
        elif handler.command == "GET" and call_sid:
            kind = "fetch"
        else:
            kind = "other"
        username, password = self._basic_auth(handler.headers.get("Authorization"))
        record = RecordedRequest(
            method=handler.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            form=form,
            kind=kind,
            account_sid=match["account"] if match else None,
            call_sid=call_sid,
            username=username,
            host=handler.headers.get("Host", ""),
            time=time.monotonic(),
        )
        with self._changed:
            self._requests.append(record)
            self._changed.notify_all()
            delay = self._delay
            failure = self._failures.popleft() if self._failures else None
        if delay:
            self._closing.wait(delay)
        status, payload = self._answer(handler, record, password, failure)
        self._send(handler, record, status, payload, failure[3] if failure else {})

    def _answer(
        self,
        handler: _Handler,
        record: RecordedRequest,
        password: str | None,
        failure: tuple[int, int, str, dict[str, str]] | None,
    ) -> tuple[int, dict[str, Any]]:
        if failure is not None:
            status, code, message, _ = failure
            return status, twilio_error(status, code, message)
        if not (
            record.username is not None
            and password is not None
            and hmac.compare_digest(record.username.encode(), self.account_sid.encode())
            and hmac.compare_digest(password.encode(), self.auth_token.encode())
        ):
            return 401, twilio_error(401, 20003, "Authenticate")
        not_found = twilio_error(404, 20404, f"The requested resource {record.path} was not found")
        if record.kind == "other" or record.account_sid != self.account_sid:
            return 404, not_found
        if record.kind == "create":
            return self._create(record)
        if record.kind == "message":
            return self._text(record)
        with self._lock:
            call = self._calls.get(record.call_sid or "")
            if call is None and self.accept_any_call:
                call = self._calls[record.call_sid] = StubCall(
                    sid=record.call_sid, account_sid=self.account_sid, direction="inbound", status="in-progress"
                )
            if call is None:
                return 404, not_found
            if record.kind == "update" and call.status in ENDED:
                return 400, twilio_error(400, 21220, "Call is not in-progress. Cannot redirect.")
            if record.kind == "update":
                call.updates.append(record.form)
                call.url = record.field("Url") or call.url
                call.method = record.field("Method") or call.method
                if record.field("Status") in ("canceled", "completed"):
                    call.status = record.field("Status")
                call.date_updated = _now_rfc2822()
            return 200, call.json()

    def _create(self, record: RecordedRequest) -> tuple[int, dict[str, Any]]:
        for name, code, message in (
            ("To", 21201, "No 'To' number is specified"),
            ("From", 21213, "No 'From' number is specified"),
        ):
            if not record.field(name):
                return 400, twilio_error(400, code, message)
        if not (record.field("Url") or record.field("Twiml") or record.field("ApplicationSid")):
            return 400, twilio_error(400, 21205, "Url, Twiml or ApplicationSid is required")
        with self._changed:
            self._held += 1
            self._changed.notify_all()
            try:
                while self._holding and not self._closing.is_set():
                    self._changed.wait()
            finally:
                self._held -= 1
            call = StubCall(
                sid=new_sid("CA"),
                account_sid=self.account_sid,
                to=record.field("To"),
                from_=record.field("From"),
                url=record.field("Url"),
                method=record.field("Method") or "POST",
                status_callback=record.field("StatusCallback"),
                status_callback_method=record.field("StatusCallbackMethod"),
                status_callback_events=record.form.get("StatusCallbackEvent", []),
            )
            self._calls[call.sid] = call
        return 201, call.json()

    def _text(self, record: RecordedRequest) -> tuple[int, dict[str, Any]]:
        for present, code, message in (
            (record.field("To"), 21604, "A 'To' phone number is required."),
            (record.field("From") or record.field("MessagingServiceSid"), 21603, "A 'From' phone number is required."),
            (record.field("Body") or record.field("MediaUrl"), 21602, "Message body is required."),
        ):
            if not present:
                return 400, twilio_error(400, code, message)
        now = _now_rfc2822()
        sent = {
            "sid": new_sid("SM"),
            "account_sid": self.account_sid,
            "to": record.field("To"),
            "from": record.field("From"),
            "body": record.field("Body"),
            "status": "queued",
            "direction": "outbound-api",
            "num_segments": "1",
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "price": None,
            "error_code": None,
            "error_message": None,
            "api_version": API_VERSION,
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/x.json",
        }
        sent["uri"] = sent["uri"].replace("/x.json", f"/{sent['sid']}.json")
        return 201, sent

    def texts(self) -> list[RecordedRequest]:
        """The texts sent (Messages.json requests answered 201 or not)."""
        return self.requests("message")

    def _send(
        self, handler: _Handler, record: RecordedRequest, status: int, payload: dict[str, Any], headers: dict[str, str]
    ) -> None:
        body = json.dumps(payload).encode()
        with self._changed:
            record.status = status
            self._changed.notify_all()
        handler.send_response(status)
        if status == 401:
            handler.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    @staticmethod
    def _basic_auth(header: str | None) -> tuple[str | None, str | None]:
        if not header or not header.startswith("Basic "):
            return None, None
        try:
            decoded = base64.b64decode(header[len("Basic ") :], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        username, sep, password = decoded.partition(":")
        return (username, password) if sep else (None, None)


def serve(**kwargs) -> Iterator[TwilioRestStub]:
    """Body of a fixture: `yield from serve(accept_any_call=True)`; stops the stub after the test."""
    with TwilioRestStub(**kwargs) as stub:
        yield stub


@pytest.fixture
def twilio_rest() -> Iterator[TwilioRestStub]:
    """A running stub for one test; import it into a conftest or test module to use it by name."""
    yield from serve()
