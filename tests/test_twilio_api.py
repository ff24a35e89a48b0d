"""ivr.dispatcher.twilio_api: the real twilio Client, built by make_client, against the local REST stand-in."""

from __future__ import annotations

import gc
import logging
import socket
import threading
import time

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient

from ivr.dispatcher.twilio_api import (
    CALLBACK_STATUS_EVENTS,
    PacedHttpClient,
    RedirectingHttpClient,
    asked_pause,
    call_is_over,
    call_status,
    make_client,
    place_call,
    redirect_call,
)
from tests.twilio_rest_stub import TwilioRestStub

CALLER = "+14155550123"
LINE = "+15005550006"
ANSWER_URL = "https://ivr.example.com/voice/callback?ticket=7"
STATUS_URL = "https://ivr.example.com/voice/callback/status"


@pytest.fixture
def stub():
    with TwilioRestStub() as running:
        yield running


class Background(threading.Thread):
    """Run fn in a thread and keep its result or exception (for requests that block in the stub)."""

    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn = fn
        self.result = None
        self.error: BaseException | None = None

    def run(self):
        try:
            self.result = self.fn()
        except BaseException as exc:
            self.error = exc


def test_place_call_sends_what_twilio_needs_and_returns_the_sid(stub):
    sid = place_call(stub.client(), CALLER, LINE, ANSWER_URL, STATUS_URL)

    [create] = stub.creates()
    assert create.method == "POST"
    assert create.path == f"/2010-04-01/Accounts/{stub.account_sid}/Calls.json"
    assert create.username == stub.account_sid
    assert create.status == 201
    assert create.form == {
        "To": [CALLER],
        "From": [LINE],
        "Url": [ANSWER_URL],
        "Method": ["POST"],
        "StatusCallback": [STATUS_URL],
        "StatusCallbackMethod": ["POST"],
        "StatusCallbackEvent": list(CALLBACK_STATUS_EVENTS),
    }
    assert sid.startswith("CA") and len(sid) == 34
    call = stub.call(sid)
    assert (call.to, call.from_, call.url, call.status) == (CALLER, LINE, ANSWER_URL, "queued")


def test_the_client_builds_a_call_instance_from_the_stub_answer(stub):
    call = stub.client().calls.create(to=CALLER, from_=LINE, url=ANSWER_URL)
    assert call.sid in stub.calls()
    assert (call.to, call._from, call.status, call.account_sid) == (CALLER, LINE, "queued", stub.account_sid)
    assert call.date_created is not None and call.date_created.tzinfo is not None
    fetched = stub.client().calls(call.sid).fetch()
    assert fetched.sid == call.sid


def test_redirect_call_updates_the_call_url(stub):
    sid = stub.add_call()
    redirect_call(stub.client(), sid, "https://ivr.example.com/voice/connect?agent=alex")

    [update] = stub.updates(sid)
    assert update.form == {"Url": ["https://ivr.example.com/voice/connect?agent=alex"], "Method": ["POST"]}
    assert update.status == 200
    assert stub.call(sid).url == "https://ivr.example.com/voice/connect?agent=alex"
    assert stub.updates("CA" + "0" * 32) == []


def test_known_calls_and_accept_any_call():
    known = "CA" + "1" * 32
    with TwilioRestStub(known_calls=[known]) as strict:
        redirect_call(strict.client(), known, ANSWER_URL)
        with pytest.raises(TwilioRestException):
            redirect_call(strict.client(), "CA" + "2" * 32, ANSWER_URL)
    with TwilioRestStub(accept_any_call=True) as lenient:
        redirect_call(lenient.client(), "CA" + "2" * 32, ANSWER_URL)
        assert lenient.call("CA" + "2" * 32).url == ANSWER_URL


def test_unknown_call_is_a_404(stub):
    with pytest.raises(TwilioRestException) as err:
        redirect_call(stub.client(), "CA" + "f" * 32, ANSWER_URL)
    assert (err.value.status, err.value.code) == (404, 20404)
    assert stub.updates()[0].status == 404


def test_wrong_token_is_a_401(stub):
    with pytest.raises(TwilioRestException) as err:
        place_call(stub.client(auth_token="not-the-token"), CALLER, LINE, ANSWER_URL, STATUS_URL)
    assert (err.value.status, err.value.code) == (401, 20003)
    assert stub.calls() == {}


def test_missing_auth_is_a_401(stub):
    response = requests.post(
        f"{stub.url}/2010-04-01/Accounts/{stub.account_sid}/Calls.json",
        data={"To": CALLER, "From": LINE, "Url": ANSWER_URL},
        timeout=2,
    )
    assert response.status_code == 401
    assert response.json() == {
        "code": 20003,
        "message": "Authenticate",
        "status": 401,
        "more_info": "https://www.twilio.com/docs/errors/20003",
    }
    assert stub.creates()[0].username is None


def test_fail_next_answers_one_error(stub):
    client = stub.client()
    stub.fail_next()
    with pytest.raises(TwilioRestException) as err:
        place_call(client, CALLER, LINE, ANSWER_URL, STATUS_URL)
    assert (err.value.status, err.value.code) == (500, 20500)
    assert stub.calls() == {}
    place_call(client, CALLER, LINE, ANSWER_URL, STATUS_URL)  # only the next one failed
    assert [r.status for r in stub.creates()] == [500, 201]


def test_missing_to_is_a_400(stub):
    with pytest.raises(TwilioRestException) as err:
        place_call(stub.client(), "", LINE, ANSWER_URL, STATUS_URL)
    assert (err.value.status, err.value.code) == (400, 21201)


def test_nothing_goes_to_twilio_com(stub, monkeypatch):
    """Every socket the client opens is to the stub, and the URL it requested was rewritten."""
    looked_up = []
    real_getaddrinfo = socket.getaddrinfo

    def recording_getaddrinfo(host, *args, **kwargs):
        looked_up.append(host)
        if "twilio.com" in str(host):
            raise AssertionError(f"tried to resolve {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording_getaddrinfo)
    client = stub.client()
    sid = place_call(client, CALLER, LINE, ANSWER_URL, STATUS_URL)
    redirect_call(client, sid, ANSWER_URL)
    # A path only this client could have produced (another account) still lands on the stub.
    with pytest.raises(TwilioRestException) as err:
        client.api.v2010.accounts("ACbogus").calls.create(to=CALLER, from_=LINE, url=ANSWER_URL)
    assert err.value.status == 404

    assert looked_up and set(looked_up) == {"127.0.0.1"}
    assert [r.kind for r in stub.requests()] == ["create", "update", "create"]
    assert {r.host for r in stub.requests()} == {f"127.0.0.1:{stub.port}"}
    assert stub.requests()[-1].path == "/2010-04-01/Accounts/ACbogus/Calls.json"
    assert client.http_client._test_only_last_request.url == f"{stub.url}/2010-04-01/Accounts/ACbogus/Calls.json"


def test_rewrite_keeps_path_and_query_and_only_touches_twilio_hosts():
    http = RedirectingHttpClient("http://127.0.0.1:8123/prefix/")
    try:
        assert (
            http.rewrite("https://api.twilio.com/2010-04-01/Accounts/AC1/Calls.json?PageSize=5")
            == "http://127.0.0.1:8123/prefix/2010-04-01/Accounts/AC1/Calls.json?PageSize=5"
        )
        assert http.rewrite("https://studio.twilio.com:443/v2/Flows") == "http://127.0.0.1:8123/prefix/v2/Flows"
        assert http.rewrite("https://API.TWILIO.COM/x") == "http://127.0.0.1:8123/prefix/x"
        assert http.rewrite("https://example.com/twilio.com") == "https://example.com/twilio.com"
        assert http.rewrite("https://nottwilio.com/x") == "https://nottwilio.com/x"
    finally:
        http.session.close()
    with pytest.raises(ValueError):
        RedirectingHttpClient("127.0.0.1:8123")


def test_make_client_settings():
    plain = make_client("AC" + "a" * 32, "token", timeout=3.0)
    local = make_client("AC" + "a" * 32, "token", api_base="http://127.0.0.1:9")
    try:
        assert type(plain.http_client) is PacedHttpClient and plain.http_client.timeout == 3.0
        assert isinstance(plain.http_client, TwilioHttpClient), "twilio's own client, remembering Retry-After"
        assert isinstance(local.http_client, RedirectingHttpClient) and local.http_client.timeout == 5.0
        assert local.account_sid == "AC" + "a" * 32
    finally:
        plain.http_client.session.close()
        local.http_client.session.close()


def test_connection_errors_propagate():
    with TwilioRestStub() as gone:
        api_base, account, token = gone.url, gone.account_sid, gone.auth_token
    client = make_client(account, token, api_base=api_base, timeout=1.0)
    try:
        with pytest.raises(requests.exceptions.ConnectionError):
            place_call(client, CALLER, LINE, ANSWER_URL, STATUS_URL)
    finally:
        client.http_client.session.close()


def test_hold_creates_blocks_until_released(stub):
    client = stub.client()
    stub.hold_creates()
    worker = Background(lambda: place_call(client, CALLER, LINE, ANSWER_URL, STATUS_URL))
    worker.start()
    stub.wait_for(lambda: stub.held == 1)
    worker.join(timeout=0.1)
    assert worker.is_alive(), "held: no answer until released"
    [create] = stub.creates()  # received and recorded, not answered
    assert create.status is None and create.field("To") == CALLER
    assert stub.calls() == {}

    stub.release_creates()
    worker.join(timeout=5)
    assert not worker.is_alive() and worker.error is None
    assert worker.result in stub.calls()
    assert stub.creates()[0].status == 201 and stub.held == 0


def test_a_held_create_that_times_out_still_places_the_call(stub):
    """What a worker killed mid-request leaves behind: Twilio placed the call, we never got its sid."""
    client = stub.client(timeout=0.3)
    stub.hold_creates()
    with pytest.raises(requests.exceptions.Timeout):
        place_call(client, CALLER, LINE, ANSWER_URL, STATUS_URL)
    stub.release_creates()
    stub.wait_for(lambda: stub.creates()[0].status == 201)
    [call] = stub.calls().values()
    assert call.to == CALLER and stub.errors == []


def test_delay_slows_every_answer(stub):
    client = stub.client(timeout=2.0)
    stub.delay(0.3)
    started = time.monotonic()
    sid = place_call(client, CALLER, LINE, ANSWER_URL, STATUS_URL)
    redirect_call(client, sid, ANSWER_URL)
    assert time.monotonic() - started >= 0.6
    stub.delay(1.0)
    with pytest.raises(requests.exceptions.Timeout):
        place_call(stub.client(timeout=0.2), CALLER, LINE, ANSWER_URL, STATUS_URL)


def test_wait_for_times_out_with_what_was_received(stub):
    with pytest.raises(AssertionError, match="condition not met"):
        stub.wait_for(lambda: stub.creates(), timeout=0.1)


def test_auth_token_is_not_logged(stub, caplog):
    caplog.set_level(logging.DEBUG)
    client = stub.client()
    sid = place_call(client, CALLER, LINE, ANSWER_URL, STATUS_URL)
    redirect_call(client, sid, ANSWER_URL)
    assert caplog.records
    assert stub.auth_token not in caplog.text


def test_close_leaves_no_thread_or_socket():
    before = set(threading.enumerate())
    stub = TwilioRestStub().start()
    url = stub.url
    client = stub.client()
    place_call(client, CALLER, LINE, ANSWER_URL, STATUS_URL)
    stub.hold_creates()
    held = Background(lambda: place_call(client, CALLER, LINE, ANSWER_URL, STATUS_URL))
    held.start()
    stub.wait_for(lambda: stub.held == 1)
    stub.close()  # releases the held request, joins every handler thread
    held.join(timeout=5)
    gc.collect()
    assert set(threading.enumerate()) - before == set()
    stub.close()  # idempotent
    assert held.error is None and len(stub.calls()) == 2
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url, timeout=1)


def test_redirecting_a_call_that_has_ended_is_a_400_21220_as_twilio_answers(stub):
    sid = stub.add_call()
    stub.set_status(sid, "completed")
    with pytest.raises(TwilioRestException) as raised:
        redirect_call(stub.client(), sid, ANSWER_URL)
    assert (raised.value.status, raised.value.code) == (400, 21220)
    assert call_is_over(raised.value) and stub.call(sid).updates == []


def test_the_status_of_a_call_as_twilio_knows_it(stub):
    sid = stub.add_call()
    client = stub.client()
    assert call_status(client, sid) == "in-progress"
    stub.set_status(sid, "no-answer")
    assert call_status(client, sid) == "no-answer"
    assert call_status(client, "CA" + "0" * 32) == "gone", "a SID Twilio never saw: 404/20404"


def test_rate_limited_requests_answer_429_with_retry_after(stub):
    sid = stub.add_call()
    stub.rate_limit_next(retry_after=3)
    answer = requests.post(
        f"{stub.url}/2010-04-01/Accounts/{stub.account_sid}/Calls/{sid}.json",
        data={"Url": ANSWER_URL},
        auth=(stub.account_sid, stub.auth_token),
        timeout=5,
    )
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "3"
    assert answer.json()["code"] == 20429
    with pytest.raises(TwilioRestException) as raised:
        stub.rate_limit_next()
        redirect_call(stub.client(), sid, ANSWER_URL)
    assert raised.value.status == 429 and not call_is_over(raised.value)
    assert asked_pause(stub.client()) == 0.0
    client = stub.client()
    stub.rate_limit_next(retry_after=7)
    with pytest.raises(TwilioRestException):
        redirect_call(client, sid, ANSWER_URL)
    assert asked_pause(client) == 7.0, "how long Twilio asked to be left alone"
