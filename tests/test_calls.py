"""Whole calls through the HTTP app, driven the way Twilio drives them: signed POSTs, TwiML checked by the XSD."""

from __future__ import annotations

import socket
import threading

import pytest
import redis

from ivr.call import presence
from ivr.store import keys, presence_records, scripts
from tests.twilio_sim import query

SUPERVISOR_NUMBERS = {"+15005550201", "+15005550202"}
BILLING = {"+15005550101", "jordan-desk"}


def supervisors_rung(call) -> bool:
    return set(call.dialled()) <= SUPERVISOR_NUMBERS and bool(call.dialled())


def test_a_caller_reaches_billing_and_the_agent_hears_why(twilio):
    call = twilio.call("+14155550123").start()
    heard = call.heard()
    assert heard.startswith("Press 0 or say agent at any time"), "the first words say how to reach a person"
    assert "Thanks for calling Riverlink" in heard
    gather = call.gather()
    assert gather.get("input") == "dtmf speech" and gather.find("Say") is not None, "prompt plays inside Gather"
    call.press("1")
    call.say("I have a question about a charge")
    assert call.dialled()[0] in BILLING
    heard, _ = call.whisper()
    assert "1 4 1 5 5 5 5 0 1 2 3" in heard and "billing, then billing question" in heard
    assert "Press 1" in heard
    call.agent_answers()
    assert call.ended() and "Thank you" in call.heard()
    call.hangup()


def test_zero_reaches_a_person_from_every_menu_over_http(twilio):
    for path in ([], ["1"], ["1", "2"]):  # welcome, billing, anything_else
        call = twilio.call().start()
        for key in path:
            call.press(key)
        assert call.gather() is not None
        call.press("0")
        assert call.dial() is not None and "Connecting you to a person" in call.heard()


def test_saying_representative_reaches_a_person(twilio):
    call = twilio.call().start()
    call.say("Representative")
    assert call.dial() is not None


def test_silence_twice_reaches_a_person(twilio):
    call = twilio.call().start()
    call.silence()
    assert "didn't hear anything" in call.heard() and call.gather() is not None
    call.silence()
    assert call.dial() is not None and "person" in call.heard()


def test_wrong_keys_twice_reach_a_person(twilio):
    call = twilio.call().start()
    call.press("8")
    assert "didn't get that" in call.heard()
    call.press("5")
    assert call.dial() is not None


def test_gather_fall_through_redirect_counts_as_no_input(twilio):
    call = twilio.call().start()
    call.follow_redirect()
    call.follow_redirect()
    assert call.dial() is not None


def test_caller_who_calls_back_reaches_the_same_agent_then_a_supervisor(twilio):
    first = twilio.call("+14155550150").start()
    first.press("3")  # moving
    agent = first.dialled()[0]
    first.agent_answers()
    first.hangup()

    second = twilio.call("+14155550150").start()
    assert second.gather() is None, "a returning caller skips the menu"
    assert "Welcome back" in second.heard()
    assert second.dialled() == [agent]
    heard, _ = second.whisper()
    assert "call number 2" in heard and "Last time they spoke with you" in heard
    second.dial_result("no-answer")
    assert supervisors_rung(second) and "supervisor" in second.heard()
    heard, _ = second.whisper()
    assert "moving" in heard
    second.agent_answers()
    second.hangup()

    third = twilio.call("+14155550150").start()
    assert supervisors_rung(third) and "supervisor" in third.heard()
    assert "call number 3" in third.whisper()[0]


def test_resolved_caller_goes_through_the_menu_again(twilio, client):
    first = twilio.call("+14155550160").start()
    first.press("3")
    first.agent_answers()
    first.hangup()
    response = client.post(
        "/agent/resolve", json={"number": "+14155550160"}, headers={"Authorization": "Bearer agent-secret"}
    )
    assert response.status_code == 200 and response.json["contacts_closed"] == 1
    assert response.json["caller"] == "***0160"
    again = twilio.call("+14155550160").start()
    assert again.gather() is not None


def test_resolve_accepts_a_form_post_whose_plus_became_a_space(client, twilio):
    twilio.call("+14155550160").start().hangup()
    response = client.post(
        "/agent/resolve",
        data="number=+14155550160",
        content_type="application/x-www-form-urlencoded",
        headers={"Authorization": "Bearer agent-secret"},
    )
    assert response.status_code == 200 and response.json["caller"] == "***0160"


def test_resolving_a_number_never_seen_says_so_and_keeps_nothing(client, r):
    response = client.post(
        "/agent/resolve", json={"number": "+14155550169"}, headers={"Authorization": "Bearer agent-secret"}
    )
    assert response.status_code == 404 and response.is_json
    assert response.json["resolved"] is False and "never seen" in response.json["error"]
    assert r.keys(keys.caller("*")) == [], "no record made for a stranger"
    wrong = client.post("/agent/resolve", json={"number": "+14155550169"}, headers={"Authorization": "Bearer x"})
    assert wrong.status_code == 401 and wrong.is_json and "error" in wrong.json


def test_resolve_endpoint_needs_the_token(client):
    assert client.post("/agent/resolve", json={"number": "+14155550160"}).status_code == 401
    bad = client.post("/agent/resolve", json={"number": "nope"}, headers={"Authorization": "Bearer agent-secret"})
    assert bad.status_code == 400 and "E.164" in bad.json["error"]


def test_the_window_expires(twilio, clock):
    first = twilio.call("+14155550170").start()
    first.press("3")
    first.agent_answers()
    first.hangup()
    clock.advance(hours=73)
    assert twilio.call("+14155550170").start().gather() is not None


def test_anonymous_callers_are_never_merged(twilio, clock):
    for from_ in ("anonymous", "+266696687", None, "anonymous"):
        call = twilio.call(from_).start()
        assert call.gather() is not None, f"{from_!r} was treated as a returning caller"
        call.press("3")
        call.agent_answers()
        call.hangup()
        clock.advance(seconds=61)  # past the wrap-up: the movers are free again


def test_callers_are_keyed_by_hmac_never_the_number(twilio, r):
    call = twilio.call("+14155550180").start()
    call.hangup()
    names = r.keys("*")
    assert names and not any("4155550180" in name for name in names)
    for name in names:
        if r.type(name) == "hash":
            assert not any("4155550180" in field for field in r.hkeys(name))


def test_agent_is_busy_while_bridged_and_free_after(twilio, r, clock):
    first = twilio.call().start()
    first.press("3")
    agent_number = first.dialled()[0]
    agent = next(a for a in ("alex", "mei") if agent_number == {"alex": "+15005550101", "mei": "+15005550104"}[a])
    first.agent_answers(talk=False)  # bridged, still talking
    assert presence_records.parse(r.hget(keys.presence(), agent)).status == presence.BUSY
    second = twilio.call().start()
    second.press("3")
    assert second.dialled()[0] != agent_number, "a bridged agent is not rung for another call"
    clock.advance(seconds=300)
    first.dial_result("completed", bridged=True)
    after = presence_records.parse(r.hget(keys.presence(), agent))
    assert after.status == presence.WRAP_UP, "the call over, they write their note first"
    assert after.until == pytest.approx(clock.now + 60, abs=0.01), "for the line's wrap-up time at most"
    assert presence.effective(after, clock.now + 61) == presence.AVAILABLE
    assert after.idle_since == pytest.approx(clock.now, abs=0.01), "idle from the end of the call"


def test_declining_the_whisper_tries_someone_else(twilio):
    call = twilio.call().start()
    call.press("3")
    first = call.dialled()[0]
    call.agent_declines()
    assert call.dial() is not None and call.dialled()[0] != first


def test_two_callers_at_once_ring_different_people(twilio):
    a, b = twilio.call().start(), twilio.call().start()
    a.press("3")
    b.press("3")
    assert a.dialled()[0] != b.dialled()[0]


def test_status_callback_frees_a_ringing_agent_when_the_caller_hangs_up(twilio, r):
    call = twilio.call().start()
    call.press("3")
    rung = call.dialled()[0]
    call.hangup()
    again = twilio.call().start()
    again.press("3")
    assert again.dialled()[0] == rung, "the longest-idle agent is offered again once freed"


@pytest.mark.parametrize(
    "params",
    [
        {"Digits": "abc"},
        {"Digits": "9999999999999"},
        {"SpeechResult": "x" * 5000},
        {"Digits": "", "SpeechResult": ""},
        {"Digits": "1", "SpeechResult": "operator"},
        {"SpeechResult": "\u00e9\u00e8 \U0001f600 agent"},
    ],
)
def test_bad_input_gets_valid_twiml(twilio, params):
    call = twilio.call().start()
    call.post("/voice/gather?node=welcome", **params)
    assert call.gather() is not None or call.dial() is not None


def test_missing_from_and_odd_numbers_still_answer(twilio):
    for from_ in (None, "", "not-a-number", "+1", "client:bob"):
        call = twilio.call(from_).start()
        assert call.gather() is not None


def test_missing_call_sid_still_reaches_a_person(twilio):
    params = {"From": "+14155550199", "To": twilio.line}
    response = twilio.post("/voice", params)
    from tests.twilio_sim import assert_valid_twiml

    doc = assert_valid_twiml(response.get_data(as_text=True))
    assert {e.text for e in doc.find("Dial")} >= SUPERVISOR_NUMBERS


def test_unknown_number_dialled_gets_the_default_line(twilio):
    call = twilio.call(to="+15005550999").start()
    assert "Riverlink" in call.heard()


def test_whisper_urls_carry_the_parent_call(twilio):
    call = twilio.call().start()
    call.press("3")
    url = call.dial().find("Number").get("url")
    assert query(url)["call"] == call.sid


# --- failure goes to a person too ---------------------------------------------------------------


def _black_hole():
    """A TCP port that accepts connections and never answers: a hung Redis."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    return server, stop, held


@pytest.mark.parametrize("kind", ["down", "hung"])
def test_redis_unreachable_still_connects_the_caller_to_a_person(make_app, kind):
    from tests.support import AUTH_TOKEN, PUBLIC_URL
    from tests.twilio_sim import Twilio

    if kind == "down":
        port = socket.socket()
        port.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{port.getsockname()[1]}/0"
        port.close()
        cleanup = None
    else:
        server, stop, held = _black_hole()
        url = f"redis://127.0.0.1:{server.getsockname()[1]}/0"
        cleanup = (server, stop, held)
    try:
        app = make_app(REDIS_URL=url)
        twilio = Twilio(app.test_client(), AUTH_TOKEN, PUBLIC_URL)
        call = twilio.call().start()
        assert "connecting you to a person" in call.heard()
        assert set(call.dialled()) == SUPERVISOR_NUMBERS
        call.post(call.dial().get("action"), DialCallStatus="no-answer")
        assert "still trying" in call.heard()
        call.follow_redirect()
        assert set(call.dialled()) == SUPERVISOR_NUMBERS, "the degraded ring keeps trying, never hangs up"
    finally:
        if cleanup:
            server, stop, held = cleanup
            stop.set()
            server.close()
            for conn in held:
                conn.close()


def test_an_error_mid_call_still_connects_the_caller(twilio, r, caplog):
    call = twilio.call().start()
    r.delete(keys.call(call.sid))
    r.set(keys.call(call.sid), "not a hash")  # any command on it now raises WRONGTYPE inside the app
    call.press("1")
    assert set(call.dialled()) == SUPERVISOR_NUMBERS
    assert "WRONGTYPE" in caplog.text or "ResponseError" in caplog.text


def test_fallback_number_is_rung_in_degraded_mode(make_app):
    from tests.support import AUTH_TOKEN, PUBLIC_URL
    from tests.twilio_sim import Twilio

    app = make_app(REDIS_URL="redis://127.0.0.1:1/0", FALLBACK_NUMBER="+15005550999")
    call = Twilio(app.test_client(), AUTH_TOKEN, PUBLIC_URL).call().start()
    assert "+15005550999" in call.dialled()


def test_logs_never_hold_a_full_number_or_the_token(twilio, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    call = twilio.call("+14155550111").start()
    call.press("0")
    call.agent_answers()
    call.hangup()
    assert "4155550111" not in caplog.text and "***0111" in caplog.text
    from tests.support import AUTH_TOKEN

    assert AUTH_TOKEN not in caplog.text


# --- speed by design -----------------------------------------------------------------------------


class CountingConnection(redis.Connection):
    """Counts requests sent to Redis: one send is one round trip (a pipeline is sent once)."""

    sent = 0

    def send_packed_command(self, command, check_health=True):
        CountingConnection.sent += 1
        return super().send_packed_command(command, check_health)


def test_every_webhook_makes_at_most_two_redis_round_trips(app, twilio):
    pool = app.extensions["ivr"].redis.connection_pool
    pool.connection_class = CountingConnection
    pool.disconnect()
    app.extensions["ivr"].calls.load("CA" + "0" * 32, None, False, 0.0)  # connect and load scripts once
    scripts.register(app.extensions["ivr"].redis)
    counts = {}

    def measure(name, action):
        CountingConnection.sent = 0
        action()
        counts[name] = CountingConnection.sent

    call = twilio.call()
    measure("arrive", call.start)
    measure("menu choice", lambda: call.press("1"))
    measure("choice to dial", lambda: call.press("1"))
    measure("whisper", lambda: call.whisper())
    _, doc = call.whisper()
    measure("whisper accept", lambda: call.agent_presses(doc, "1"))
    measure("dial ended", lambda: call.dial_result("completed", bridged=True))
    measure("status", call.hangup)
    assert max(counts.values()) <= 2, counts


def test_the_line_is_chosen_by_the_number_dialled(tmp_path, make_app):
    """Each Twilio number reaches its own line; any number no flow lists reaches the default line."""
    import shutil

    from tests.support import AUTH_TOKEN, PUBLIC_URL, ROOT
    from tests.twilio_sim import Twilio

    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    sales = (ROOT / "flows" / "support.yaml").read_text()
    sales = sales.replace("name: riverlink-support", "name: riverlink-sales").replace("default: true\n", "")
    sales = sales.replace('["+15005550006"]', '["+15005550007"]').replace(
        "Thanks for calling Riverlink", "Riverlink sales"
    )
    (tmp_path / "flows" / "sales.yaml").write_text(sales)
    client = make_app(FLOWS_DIR=str(tmp_path / "flows")).test_client()
    heard = {
        dialled: Twilio(client, AUTH_TOKEN, PUBLIC_URL, line=dialled).call().start().heard()
        for dialled in ("+15005550007", "+15005550006", "+15005550008")
    }
    assert "Riverlink sales" in heard["+15005550007"]
    assert "Thanks for calling Riverlink" in heard["+15005550006"], "the support number"
    assert "Thanks for calling Riverlink" in heard["+15005550008"], "a number nobody lists: the default line"


def test_the_agent_still_gets_the_call_when_the_whisper_cannot_be_read(twilio, r):
    """Redis failing on the agent's leg must not cost the caller their person: a short notice, then the bridge."""
    call = twilio.call("+14155550124").start()
    call.press("0")
    r.delete(keys.call(call.sid))
    r.set(keys.call(call.sid), "not a hash")  # every load now fails inside the app
    heard, doc = call.whisper()
    assert heard == "Incoming call. Its details are not available right now. Connecting."
    assert [e.tag for e in doc] == ["Say"], "nothing else: when the whisper document ends, Twilio bridges the call"
