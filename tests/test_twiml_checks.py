"""The harness itself: a TwiML answer Twilio's XSD refuses fails the test that got it, whether it came from the
app's test client or from a real server behind the checking proxy."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import xmlschema

from ivr.store.embedded_redis import free_port
from tests.twiml_proxy import TwimlProxy

BROKEN = '<?xml version="1.0" encoding="UTF-8"?><Response><Say loop="often">Hello</Say><Dance/></Response>'
GOOD = '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Hello</Say></Response>'


def test_the_app_test_client_refuses_invalid_twiml(app):
    app.add_url_rule("/broken", "broken", lambda: (BROKEN, 200, {"Content-Type": "text/xml"}))
    app.add_url_rule("/fine", "fine", lambda: (GOOD, 200, {"Content-Type": "text/xml"}))
    client = app.test_client()
    assert client.get("/fine").status_code == 200
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        client.get("/broken")


def test_the_proxy_refuses_invalid_twiml_from_a_real_server():
    class Backend(BaseHTTPRequestHandler):
        def do_POST(self):
            body = (BROKEN if self.path == "/broken" else GOOD).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    backend = ThreadingHTTPServer(("127.0.0.1", free_port()), Backend)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    try:
        with TwimlProxy(free_port(), f"http://127.0.0.1:{backend.server_address[1]}") as proxy:
            with urllib.request.urlopen(urllib.request.Request(proxy.url + "/fine", data=b"a=1"), timeout=5) as ok:
                assert ok.status == 200 and ok.read().decode() == GOOD
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(urllib.request.Request(proxy.url + "/broken", data=b"a=1"), timeout=5)
            assert refused.value.code == 502
            refused.value.close()
            assert proxy.checked == 2 and len(proxy.invalid) == 1 and proxy.invalid[0].startswith("/broken: ")
    finally:
        backend.shutdown()
        backend.server_close()
