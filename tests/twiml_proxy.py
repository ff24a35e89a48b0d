"""A checking proxy in front of a real server (`ivr serve`): it forwards every request as it came and
validates every TwiML answer against Twilio's XSD on the way back, so tests of a real server are held to
the same standard as the app's test client. The server must take the proxy's address as its PUBLIC_URL,
as it would behind any reverse proxy: Twilio signs the URL it calls."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.twilio_sim import assert_valid_twiml

PASSED_HEADERS = ("Content-Type", "X-Twilio-Signature", "X-Twilio-Webhooks-Signature-Settings", "If-None-Match")


class TwimlProxy:
    def __init__(self, port: int, backend: str):
        self.backend = backend.rstrip("/")
        self.invalid: list[str] = []  # "path: reason" for every answer that was not valid TwiML
        self.checked = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self._forward(None)

            def do_POST(self):
                self._forward(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

            def _forward(self, body):
                headers = {h: self.headers[h] for h in PASSED_HEADERS if self.headers.get(h)}
                request = urllib.request.Request(proxy.backend + self.path, data=body, headers=headers)
                try:
                    with urllib.request.urlopen(request, timeout=15) as answer:
                        status, content, kind = answer.status, answer.read(), answer.headers.get("Content-Type", "")
                except urllib.error.HTTPError as error:
                    status, content, kind = error.code, error.read(), error.headers.get("Content-Type", "")
                if kind.startswith("text/xml"):
                    proxy.checked += 1
                    try:
                        assert_valid_twiml(content.decode())
                    except Exception as exc:  # any failure of the schema: recorded, and the phone is told
                        proxy.invalid.append(f"{self.path}: {exc}")
                        status = 502
                self.send_response(status)
                self.send_header("Content-Type", kind or "application/octet-stream")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args):  # quiet: the test output is the phone's transcript
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> TwimlProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
