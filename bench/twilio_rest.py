"""A small stand-in for Twilio's Calls API (tests/twilio_rest_stub.py imports pytest, so the bench has its own).

Under /2010-04-01/Accounts/{AccountSid}/, as Twilio answers when every call is live:
  POST Calls/{CallSid}.json   redirect a call: 200 and the call resource (status "in-progress")
  GET  Calls/{CallSid}.json   fetch a call: 200, status "in-progress" (callers in line are live)
  POST Calls.json             place a call: 201, status "queued"
Each redirect is recorded with the time it arrived (time.monotonic()) before any delay; `delay` makes every
answer wait that long, as a distant API would.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Calls(?:/(?P<call>[^/]+?))?\.json")


def resource(account: str, sid: str, status: str, form: dict | None = None) -> dict:
    """A call as Twilio's JSON shapes it (what twilio-python's CallInstance reads)."""
    form = form or {}
    return {
        "sid": sid,
        "account_sid": account,
        "status": status,
        "to": form.get("To"),
        "from": form.get("From"),
        "direction": "outbound-api" if form else "inbound",
        "api_version": "2010-04-01",
        "date_created": None,
        "date_updated": None,
        "uri": f"/2010-04-01/Accounts/{account}/Calls/{sid}.json",
    }


class TwilioRest:
    def __init__(self):
        self.delay = 0.0
        self.redirects: list[tuple[float, str]] = []  # (arrival, CallSid)
        self.fetches = 0
        self.changed = threading.Condition()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                stand_in.answer(self, "POST")

            def do_GET(self) -> None:
                stand_in.answer(self, "GET")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True, name="twilio-rest").start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        arrived = time.monotonic()
        length = int(handler.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(handler.rfile.read(length).decode()).items()}
        match = _PATH.match(handler.path)
        if not match:
            status, body = 404, {"code": 20404, "message": "not found", "status": 404}
        elif method == "POST" and match["call"]:
            with self.changed:
                self.redirects.append((arrived, match["call"]))
                self.changed.notify_all()
            status, body = 200, resource(match["account"], match["call"], "in-progress")
        elif method == "GET" and match["call"]:
            self.fetches += 1
            status, body = 200, resource(match["account"], match["call"], "in-progress")
        else:
            status, body = 201, resource(match["account"], "CA" + secrets.token_hex(16), "queued", form)
        if self.delay:
            time.sleep(self.delay)
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def wait_redirects(self, since: int, count: int, timeout: float) -> list[tuple[float, str]]:
        """The redirects after the first `since`, once `count` of them have come (fewer after timeout)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while len(self.redirects) - since < count and time.monotonic() < deadline:
                self.changed.wait(0.05)
            return self.redirects[since:]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
