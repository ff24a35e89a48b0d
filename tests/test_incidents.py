"""Outages noticed by the line itself: when many callers make the same menu choice at once, a suspected
incident appears; a supervisor confirms it with a message the next callers hear (and need not report it
again); 0 still reaches a person; steady traffic raises no alarm."""

from __future__ import annotations

import shutil

from click.testing import CliRunner

from ivr.dispatcher.incident_watch import IncidentWatch
from ivr.report.surge import SurgeRule, surging
from ivr.store import incidents, keys
from ivr.tools.cli import main
from tests.support import AUTH_TOKEN, PUBLIC_URL, ROOT, SEALER, bearer
from tests.test_console import csrf, sign_in
from tests.twilio_sim import Twilio

RULE = SurgeRule()
MESSAGE = "There is a fault on the network in the north of the city; engineers expect it fixed by 6 pm."


def report_outage(twilio, number: str):
    call = twilio.call(number).start()
    call.press("2")  # "If your internet is down or slow, press 2"
    return call


def test_the_surge_rule():
    assert not surging(9, 0, RULE) and surging(10, 0, RULE), "with no history, the minimum alone"
    three_a_window = 3 * 7 * 24 * 4  # a week of three per 15 minutes
    assert not surging(11, three_a_window, RULE) and surging(12, three_a_window, RULE), "4 times the usual rate"


def test_ten_callers_choosing_internet_down_raise_a_suspected_incident(app, twilio, r, clock):
    watch = IncidentWatch(r, app.extensions["ivr"].catalogs, clock=clock)
    for n in range(9):
        report_outage(twilio, f"+1415555090{n}")
        clock.advance(seconds=40)
    assert watch.run_once() == [], "nine is not yet a surge"
    report_outage(twilio, "+14155550909")
    (incident,) = watch.run_once()
    assert (incident.line, incident.option, incident.reports, incident.status) == (
        "riverlink-support",
        "welcome:2",
        10,
        "suspected",
    )
    assert watch.run_once() == [], "one incident per option, not one per pass"
    assert r.keys("*4155550900*") == []


def test_steady_traffic_raises_no_alarm(app, twilio, r, clock):
    pipe = r.pipeline()
    for n in range(12 * 4 * 24 * 7):  # a week of twelve callers every 15 minutes
        incidents.chose(pipe, "riverlink-support", "welcome:2", f"CAold{n}", clock.now - 7 * 86400 + n * 75)
    pipe.execute()
    for n in range(12):
        report_outage(twilio, f"+1415555091{n % 10}{n // 10}")
        clock.advance(seconds=60)
    assert IncidentWatch(r, app.extensions["ivr"].catalogs, clock=clock).run_once() == []


def test_a_confirmed_incident_is_heard_and_the_caller_can_ask_for_a_text_or_a_person(
    app, twilio, client, r, clock, rest
):
    watch = IncidentWatch(r, app.extensions["ivr"].catalogs, clock=clock)
    for n in range(30):
        report_outage(twilio, f"+141555092{n:02d}")
        clock.advance(seconds=20)
    (incident,) = watch.run_once()
    rosa = bearer(r, "rosa")
    app.config["METRICS_TOKEN"] = "scrape-secret"
    scraped = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"}).get_data(as_text=True)
    assert 'ivr_incidents{line="riverlink-support",option="welcome:2",status="suspected"} 30.0' in scraped
    listed = client.get("/api/incidents", headers=rosa).json["incidents"]
    assert [(i["id"], i["node"], i["option"], i["reports"], i["status"]) for i in listed] == [
        (incident.id, "welcome", "2", 30, "suspected")
    ]
    assert client.get("/api/incidents", headers=bearer(r, "alex")).status_code == 403, "supervisors only"
    short = client.post(f"/api/incidents/{incident.id}/confirm", json={"message": ""}, headers=rosa)
    assert short.status_code == 422
    ok = client.post(f"/api/incidents/{incident.id}/confirm", json={"message": MESSAGE}, headers=rosa)
    assert ok.status_code == 200 and ok.json["incident"]["status"] == "confirmed"

    texted = report_outage(twilio, "+14155550931")  # the 31st caller
    assert MESSAGE in texted.heard() and "You don't need to report it again" in texted.heard()
    texted.press("1")
    assert texted.ended() and "number ending in 0 9 3 1" in texted.heard()
    sealed = r.hget(keys.incident_texts(incident.id), texted.sid)
    assert sealed and "4155550931" not in sealed and SEALER.open(sealed) == "+14155550931"

    person = report_outage(twilio, "+14155550932")
    person.press("0")
    assert person.dial() is not None, "0 still reaches a person"
    heard, _ = person.whisper()
    assert "the known fault, internet problem: one of 30 callers about it" in heard, "the person rung knows"
    rung = next(
        a
        for a in ("jordan", "mei", "rosa", "dev")
        if r.hget(keys.presence(), a) and person.sid in r.hget(keys.presence(), a)
    )
    screen = sign_in(app.test_client(), r, rung).get("/console/me/live").get_data(as_text=True)
    assert "Known fault:" in screen and "one of 32 callers about it" in screen, "and sees it"

    carried = report_outage(twilio, "+14155550933")
    carried.silence()
    heard = carried.heard()
    assert "If every light on your router is off" in heard and MESSAGE not in heard, "silence carries on their path"

    closed = client.post(f"/api/incidents/{incident.id}/close", json={}, headers=rosa)
    assert closed.status_code == 200 and closed.json["incident"]["texts_asked"] == 1
    after = report_outage(twilio, "+14155550934")
    assert MESSAGE not in after.heard(), "fixed: no longer told"

    texting = IncidentWatch(r, app.extensions["ivr"].catalogs, clock=clock, twilio=rest.client(), sealer=SEALER)
    rest.fail_next(503, 20503, "Service Unavailable")
    assert texting.send_texts() == [], "Twilio refused: kept for the next pass"
    assert texting.send_texts() == [texted.sid]
    assert texting.send_texts() == [], "sent once"
    tries = [t for t in rest.texts() if t.field("To") == "+14155550931"]
    assert len(tries) == len(rest.texts()) == 2, "the refused try and the one that went out, to that caller only"
    assert tries[-1].field("From") == "+15005550006" and "is fixed" in tries[-1].field("Body")
    assert incidents.texting(r) == [], "nothing left to send"


def test_ivr_incident_lists_confirms_and_closes(app, twilio, r, clock, redis_server):
    watch = IncidentWatch(r, app.extensions["ivr"].catalogs, clock=clock)
    for n in range(10):
        report_outage(twilio, f"+141555094{n:02d}")
    (incident,) = watch.run_once()
    env = {"REDIS_URL": redis_server.url}
    listed = CliRunner().invoke(main, ["incident", "list"], env=env)
    assert listed.exit_code == 0 and incident.id in listed.output and "suspected" in listed.output
    assert CliRunner().invoke(main, ["incident", "confirm", incident.id, MESSAGE], env=env).exit_code == 0
    assert incidents.one(r, incident.id).status == "confirmed"
    assert CliRunner().invoke(main, ["incident", "close", incident.id], env=env).exit_code == 0
    assert CliRunner().invoke(main, ["incident", "close", "nope"], env=env).exit_code != 0


def test_a_line_sets_its_own_surge_rule(make_app, r, clock, tmp_path):
    shutil.copytree(ROOT / "flows", tmp_path, dirs_exist_ok=True)
    support = tmp_path / "support.yaml"
    support.write_text(
        support.read_text()
        .replace("  reporting:\n", "", 1)
        .replace(
            "settings:\n", "settings:\n  reporting:\n    incident_min_reports: 5\n    incident_window_minutes: 5\n", 1
        )
    )
    app = make_app(FLOWS_DIR=str(tmp_path))
    twilio = Twilio(app.test_client(), AUTH_TOKEN, PUBLIC_URL)
    for n in range(5):
        report_outage(twilio, f"+141555095{n:02d}")
    (incident,) = IncidentWatch(r, app.extensions["ivr"].catalogs, clock=clock).run_once()
    assert incident.reports == 5, "five in five minutes is this line's surge"


def test_a_supervisor_confirms_and_closes_an_incident_from_the_console(app, twilio, client, r, clock):
    for n in range(10):
        report_outage(twilio, f"+141555096{n:02d}")
    (incident,) = IncidentWatch(r, app.extensions["ivr"].catalogs, clock=clock).run_once()
    agent = sign_in(app.test_client(), r, "alex")
    assert agent.get("/console/incidents/").status_code == 403
    rosa = sign_in(client, r, "rosa")
    page = rosa.get("/console/incidents/").get_data(as_text=True)
    assert "internet problem" in page and "suspected" in page and ">10<" in page
    token = csrf(rosa.get("/console/incidents/"))
    refused = rosa.post(f"/console/incidents/{incident.id}/confirm", data={"message": MESSAGE})
    assert refused.status_code == 400, "no CSRF token, no change"
    done = rosa.post(f"/console/incidents/{incident.id}/confirm", data={"message": MESSAGE, "csrf_token": token})
    assert done.status_code == 302 and incidents.one(r, incident.id).status == "confirmed"
    assert MESSAGE in report_outage(twilio, "+14155550970").heard()
    rosa.post(f"/console/incidents/{incident.id}/close", data={"csrf_token": token})
    assert incidents.one(r, incident.id).status == "closed"
    assert MESSAGE not in report_outage(twilio, "+14155550971").heard()
