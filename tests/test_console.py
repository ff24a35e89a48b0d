"""The people who take the calls, through the console and the JSON API (the browser itself is driven in
tests/test_console_browser.py): signing in, roles, CSRF, wrap-ups and notes that travel with the caller."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from ivr.call import presence
from ivr.store import accounts, audit, keys, presence_records, wrap_ups
from ivr.tools.cli import main
from tests.support import ROOT, bearer, put_presence

ALEX, MEI = "+15005550101", "+15005550104"
NOTE = "replaced the router, check line speed tomorrow"


def csrf(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def sign_in(client, r, agent: str, password: str = "a long enough password"):
    accounts.set_password(r, agent, password)
    token = csrf(client.get("/console/sign-in"))
    response = client.post("/console/sign-in", data={"agent": agent, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def status_of(r, agent: str) -> str:
    return presence_records.parse(r.hget(keys.presence(), agent)).status


def call_taken_by_alex(twilio, r, number="+14155550301", talk=True):
    """A caller chooses moving; Mei is away, so Alex is rung, accepts, and they talk."""
    put_presence(r, "mei", presence.Presence(presence.AWAY))
    call = twilio.call(number).start()
    call.press("3")
    assert call.dialled() == [ALEX]
    call.agent_answers(talk=talk)
    return call


# --- signing in -------------------------------------------------------------------------------------------


def test_pages_need_a_signed_in_person(client):
    for path in ("/console/me", "/console/line", "/console/calls/CA1"):
        response = client.get(path)
        assert response.status_code == 302 and "/console/sign-in" in response.headers["Location"]


def test_strangers_guessing_from_a_shared_address_do_not_lock_out_the_others(client, r):
    accounts.set_password(r, "alex", "the right password")
    token = csrf(client.get("/console/sign-in"))
    for n in range(accounts.FAILURES_ALLOWED + 1):
        client.post("/console/sign-in", data={"agent": f"nobody{n}", "password": "x", "csrf_token": token})
    right = client.post(
        "/console/sign-in", data={"agent": "alex", "password": "the right password", "csrf_token": token}
    )
    assert right.status_code == 302, "an office behind one address keeps working"


def test_an_agent_resolves_only_callers_they_took_and_it_is_recorded(twilio, client, r):
    call_taken_by_alex(twilio, r, "+14155550333").hangup()
    refused = client.post("/agent/resolve", json={"number": "+14155550333"}, headers=bearer(r, "priya"))
    assert refused.status_code == 403
    unknown = client.post("/agent/resolve", json={"number": "+14155550399"}, headers=bearer(r, "priya"))
    assert unknown.status_code == 403, "and learns nothing of numbers that never called"
    ok = client.post("/agent/resolve", json={"number": "+14155550333"}, headers=bearer(r, "alex"))
    assert ok.status_code == 200
    change = audit.recent(r, 1)[0]
    assert (change.who, change.action, change.subject) == ("alex", "resolve", "caller ***0333")
    assert client.get("/api/callers/+14155550399", headers=bearer(r, "priya")).status_code == 403


def test_a_wrong_password_is_refused_and_repeated_failures_are_slowed(client, r):
    accounts.set_password(r, "alex", "the right password")
    token = csrf(client.get("/console/sign-in"))
    for _ in range(accounts.FAILURES_ALLOWED):
        wrong = client.post("/console/sign-in", data={"agent": "alex", "password": "guess", "csrf_token": token})
        assert wrong.status_code == 401 and "do not match" in wrong.get_data(as_text=True)
    right = client.post(
        "/console/sign-in", data={"agent": "alex", "password": "the right password", "csrf_token": token}
    )
    assert right.status_code == 429, "even the right password waits once the limit is reached"
    assert client.get("/console/me").status_code == 302


def test_passwords_are_kept_hashed(r):
    accounts.set_password(r, "alex", "correct horse battery")
    stored = r.hget(keys.account("alex"), "password")
    assert stored.startswith("$argon2") and "correct horse" not in stored
    with pytest.raises(ValueError):
        accounts.set_password(r, "alex", "short")


def test_a_sign_in_link_works_once(client, r):
    secret = accounts.new_sign_in_link(r, "priya")
    assert client.get(f"/console/link/{secret}").status_code == 302
    assert "Priya" in client.get("/console/me").get_data(as_text=True)
    other = client.application.test_client()
    assert other.get(f"/console/link/{secret}").status_code == 401, "used: it no longer signs anyone in"


def test_a_form_without_its_csrf_token_changes_nothing(client, r):
    sign_in(client, r, "alex")
    refused = client.post("/console/me/status", data={"status": "away"})
    assert refused.status_code == 400 and "expired" in refused.get_data(as_text=True)
    assert status_of(r, "alex") == presence.AVAILABLE
    token = csrf(client.get("/console/me"))
    assert client.post("/console/me/status", data={"status": "away", "csrf_token": token}).status_code == 302
    assert status_of(r, "alex") == presence.AWAY


def test_an_agent_cannot_open_the_supervisors_screen(client, r):
    sign_in(client, r, "alex")
    refused = client.get("/console/line")
    assert refused.status_code == 403 and "supervisor" in refused.get_data(as_text=True)
    supervisor = sign_in(client.application.test_client(), r, "rosa")
    assert supervisor.get("/console/line").status_code == 200


def test_changing_a_password_signs_out_old_sessions(client, r):
    sign_in(client, r, "alex")
    accounts.set_password(r, "alex", "a brand new password")
    assert client.get("/console/me").status_code == 302


# --- the JSON API ---------------------------------------------------------------------------------------


def test_the_api_answers_json_errors_never_html(client, r):
    assert client.get("/api/agents").status_code == 401 and client.get("/api/agents").is_json
    headers = bearer(r, "alex")
    for method, path, body, status in [
        ("post", "/api/agents/priya/status", {"status": "away"}, 403),
        ("post", "/api/agents/alex/status", {"status": "asleep"}, 422),
        ("post", "/api/agents/nobody/status", {"status": "away"}, 404),
        ("post", "/api/calls/CA0000/wrap-up", {"outcome": "resolved"}, 404),
        ("post", "/api/calls/CA0000/wrap-up", {"outcome": "solved"}, 422),
        ("get", "/api/callers/not-a-number", None, 422),
        ("get", "/api/no-such-thing", None, 404),
        ("delete", "/api/agents", None, 405),
    ]:
        response = getattr(client, method)(path, json=body, headers=headers)
        assert response.status_code == status and response.is_json and response.json["error"], (path, response)
    assert client.get("/api/agents", headers={"Authorization": "Bearer ivr_forged"}).status_code == 401


def test_an_agent_sets_their_own_status_and_a_supervisor_anyones(client, r):
    alex, rosa = bearer(r, "alex"), bearer(r, "rosa")
    assert client.post("/api/agents/alex/status", json={"status": "away"}, headers=alex).status_code == 200
    assert client.post("/api/agents/mei/status", json={"status": "away"}, headers=rosa).status_code == 200
    assert status_of(r, "alex") == status_of(r, "mei") == presence.AWAY
    board = {p["id"]: p["status"] for p in client.get("/api/agents", headers=rosa).json["agents"]}
    assert board["alex"] == board["mei"] == "away" and board["priya"] == "available"
    mine = client.get("/api/agents", headers=alex).json["agents"]
    assert [p["id"] for p in mine] == ["alex"], "an agent sees their own"
    changes = audit.recent(r)
    assert [(c.who, c.subject, c.detail) for c in changes[:2]] == [("rosa", "mei", "away"), ("alex", "alex", "away")]


def test_available_never_overrides_a_call_in_progress(twilio, client, r):
    call_taken_by_alex(twilio, r, talk=False)
    assert status_of(r, "alex") == presence.BUSY
    refused = client.post("/api/agents/alex/status", json={"status": "available"}, headers=bearer(r, "alex"))
    assert refused.status_code == 409 and "on a call" in refused.json["error"]
    assert status_of(r, "alex") == presence.BUSY


def test_away_during_a_call_applies_when_it_ends_and_never_frees_them_for_a_second_call(twilio, client, r):
    first = call_taken_by_alex(twilio, r, "+14155550330", talk=False)
    alex = bearer(r, "alex")
    away = client.post("/api/agents/alex/status", json={"status": "away"}, headers=alex)
    assert away.status_code == 200 and "away when it ends" in away.json["said"]
    assert status_of(r, "alex") == presence.BUSY, "the call goes on"
    back = client.post("/api/agents/alex/status", json={"status": "available"}, headers=alex)
    assert back.status_code == 200 and "available when it ends" in back.json["said"], "changed his mind"
    assert status_of(r, "alex") == presence.BUSY
    again = client.post("/api/agents/alex/status", json={"status": "available"}, headers=alex)
    assert again.status_code == 409, "nothing to change: never a second call while on this one"
    client.post("/api/agents/alex/status", json={"status": "away"}, headers=alex)
    other = twilio.call("+14155550331").start()
    other.press("3")
    assert ALEX not in (other.dialled() or []), "on a call: not offered another"
    first.dial_result("completed", bridged=True, duration="60")
    assert status_of(r, "alex") == presence.AWAY, "away once it ended, not wrapping up into available"


def test_a_supervisor_sets_someone_away_while_they_ring_and_the_call_still_counts(twilio, client, r):
    put_presence(r, "mei", presence.Presence(presence.AWAY))
    call = twilio.call("+14155550332").start()
    call.press("3")
    assert call.dialled() == [ALEX] and status_of(r, "alex") == presence.RINGING
    assert client.post("/api/agents/alex/status", json={"status": "away"}, headers=bearer(r, "rosa")).status_code == 200
    call.agent_answers(talk=False)
    assert status_of(r, "alex") == presence.BUSY, "he took it: the board shows him on the call"
    call.dial_result("completed", bridged=True, duration="30")
    assert status_of(r, "alex") == presence.AWAY


def test_a_session_change_through_the_api_needs_the_csrf_token(client, r):
    sign_in(client, r, "alex")
    assert client.post("/api/agents/alex/status", json={"status": "away"}).status_code == 400
    token = csrf(client.get("/console/me"))
    ok = client.post("/api/agents/alex/status", json={"status": "away"}, headers={"X-CSRFToken": token})
    assert ok.status_code == 200 and status_of(r, "alex") == presence.AWAY


def test_the_queue_shows_who_waits_masked(twilio, client, r):
    for agent in ("alex", "mei", "rosa", "dev"):
        put_presence(r, agent, presence.Presence(presence.BUSY, 0, 9e12, "CAx"))
    call = twilio.call("+14155550388").start()
    call.press("3")
    assert call.enqueued()
    queue = client.get("/api/queue", headers=bearer(r, "priya")).json
    assert queue["waiting"] == 1 and queue["entries"][0]["caller"] == "***0388"
    assert queue["entries"][0]["groups"] == ["moving"] and "4155550388" not in str(queue)


# --- wrap-up: the note that travels with the caller ----------------------------------------------------


def test_after_a_call_its_person_wraps_up_and_is_offered_no_call_meanwhile(twilio, r, clock):
    call_taken_by_alex(twilio, r)
    assert status_of(r, "alex") == presence.WRAP_UP
    put_presence(r, "mei", presence.Presence(presence.AVAILABLE))
    other = twilio.call("+14155550302").start()
    other.press("3")
    assert other.dialled() == [MEI], "Alex is writing his note: the next mover goes to Mei"
    clock.advance(seconds=61)
    record = presence_records.parse(r.hget(keys.presence(), "alex"))
    assert presence.effective(record, clock.now) == presence.AVAILABLE, "the line's wrap-up time is up"


def test_the_next_person_hears_and_sees_the_last_note(twilio, client, r):
    first = call_taken_by_alex(twilio, r, "+14155550303")
    first.hangup()
    others = bearer(r, "mei")
    wrong = client.post(f"/api/calls/{first.sid}/wrap-up", json={"outcome": "resolved"}, headers=others)
    assert wrong.status_code == 403, "only the person who took it, or a supervisor"
    done = client.post(
        f"/api/calls/{first.sid}/wrap-up", json={"outcome": "unresolved", "note": NOTE}, headers=bearer(r, "alex")
    )
    assert done.status_code == 200 and "available" in done.json["said"]
    assert status_of(r, "alex") == presence.AVAILABLE, "finishing the wrap-up frees him at once"

    second = twilio.call("+14155550303").start()
    assert second.dialled() == [ALEX], "not resolved: back to the person who knows the case"
    heard, _ = second.whisper()
    assert f"Last time Alex noted: {NOTE}." in heard
    screen = sign_in(client.application.test_client(), r, "alex").get("/console/me/live").get_data(as_text=True)
    assert NOTE in screen and "not resolved" in screen and "***0303" in screen and "4155550303" not in screen
    assert client.get("/api/callers/+14155550303", headers=bearer(r, "priya")).status_code == 403
    assert client.get("/api/callers/+14155550303", headers=bearer(r, "alex")).status_code == 200, "he took it"
    history = client.get("/api/callers/+14155550303", headers=bearer(r, "rosa")).json
    wrapped = next(c["wrap_up"] for c in history["contacts"] if c["call"] == first.sid)
    assert (wrapped["outcome"], wrapped["note"], wrapped["by"]) == ("unresolved", NOTE, "alex")


def test_resolved_sends_the_next_call_through_the_menu_with_the_note_still_told(twilio, client, r):
    first = call_taken_by_alex(twilio, r, "+14155550304")
    first.hangup()
    headers = bearer(r, "alex")
    ok = client.post(
        f"/api/calls/{first.sid}/wrap-up", json={"outcome": "resolved", "note": "moved the line"}, headers=headers
    )
    assert ok.status_code == 200
    again = twilio.call("+14155550304").start()
    assert again.gather() is not None, "resolved: the menu again"
    again.press("3")
    heard, _ = again.whisper()
    assert "Last time Alex noted: moved the line." in heard


def test_a_callers_third_call_goes_to_the_supervisor_who_took_their_second(twilio, r, clock):
    number = "+14155550305"
    first = call_taken_by_alex(twilio, r, number)
    first.hangup()
    clock.advance(seconds=600)
    second = twilio.call(number).start()
    assert second.dialled() == [ALEX]
    second.dial_result("no-answer")
    assert set(second.dialled()) <= {"+15005550201", "+15005550202"}
    second.agent_answers()
    second.hangup()
    taker = wrap_ups.taken(r, second.sid).agent
    clock.advance(seconds=600)
    third = twilio.call(number).start()
    number_of = {"rosa": "+15005550201", "dev": "+15005550202"}
    assert third.dialled() == [number_of[taker]] and "the supervisor who took your last call" in third.heard()


def test_agents_token_prints_the_token_alone_on_the_last_line_and_revoke_ends_it(client, r, redis_server):
    env = {"REDIS_URL": redis_server.url, "FLOWS_DIR": str(ROOT / "flows")}
    result = CliRunner().invoke(main, ["agents", "token", "jordan"], env=env)
    assert result.exit_code == 0
    token = result.output.strip().splitlines()[-1]
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json["id"] == "jordan"
    assert token not in str(r.keys("*")) and not any(token in (r.get(k) or "") for k in r.keys(keys.token("*")))
    assert CliRunner().invoke(main, ["agents", "revoke", "jordan"], env=env).exit_code == 0
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    link = CliRunner().invoke(main, ["agents", "login-link", "jordan"], env=env).output.strip().splitlines()[-1]
    assert "/console/link/" in link and client.get(link[link.index("/console/") :]).status_code == 302


def test_the_supervisors_tiles_count_today_and_open_problems_follow_wrap_ups(twilio, client, r, clock):
    quick = call_taken_by_alex(twilio, r, "+14155550310")
    quick.hangup()
    put_presence(r, "alex", presence.Presence(presence.BUSY, 0, clock.now + 3600, "CAx"))
    for agent in ("rosa", "dev"):
        put_presence(r, agent, presence.Presence(presence.BUSY, 0, clock.now + 3600, "CAy"))
    gave_up = twilio.call("+14155550311").start()
    gave_up.press("3")
    assert gave_up.enqueued()
    gave_up.hangup()
    rosa = bearer(r, "rosa")
    line = client.get("/api/line", headers=rosa).json
    assert (line["answered_today"], line["answered_within_60s_today"], line["abandoned_today"]) == (1, 1, 1)
    assert line["open_problems"] == []
    assert client.get("/api/line", headers=bearer(r, "alex")).status_code == 403, "supervisors only"

    client.post(f"/api/calls/{quick.sid}/wrap-up", json={"outcome": "follow-up", "note": NOTE}, headers=rosa)
    problems = client.get("/api/line", headers=rosa).json["open_problems"]
    assert [(p["caller"], p["calls"], p["last_note"]) for p in problems] == [("***0310", 1, NOTE)]
    client.post(f"/api/calls/{quick.sid}/wrap-up", json={"outcome": "resolved"}, headers=rosa)
    assert client.get("/api/line", headers=rosa).json["open_problems"] == [], "resolved: no longer open"
    page = sign_in(client.application.test_client(), r, "dev").get("/console/line/live").get_data(as_text=True)
    assert "1 of 1" in page and "answered within 60 s today" in page
    assert "Recent changes" in page and f"call {quick.sid}" in page, "who wrapped up what, and when"


def test_resolving_with_a_console_session_needs_the_csrf_token(twilio, client, r):
    twilio.call("+14155550320").start().hangup()
    sign_in(client, r, "rosa")
    refused = client.post("/agent/resolve", json={"number": "+14155550320"})
    assert refused.status_code == 400 and refused.is_json
    token = csrf(client.get("/console/me"))
    ok = client.post("/agent/resolve", json={"number": "+14155550320"}, headers={"X-CSRFToken": token})
    assert ok.status_code == 200 and ok.json["resolved"] is True
