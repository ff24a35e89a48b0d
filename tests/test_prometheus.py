"""GET /metrics: Prometheus's text format behind METRICS_TOKEN, the line's figures computed at scrape time."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from ivr.call import presence
from tests.support import AUTH_TOKEN, PUBLIC_URL, put_presence
from tests.twilio_sim import Twilio

TOKEN = {"Authorization": "Bearer scrape-secret"}


def samples(text: str) -> dict:
    """(name, sorted labels) -> value"""
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def test_metrics_need_their_token_and_answer_json_otherwise(make_app):
    off = make_app().test_client().get("/metrics")
    assert off.status_code == 404 and off.is_json and "METRICS_TOKEN" in off.json["error"]
    client = make_app(METRICS_TOKEN="scrape-secret").test_client()
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.is_json


def test_the_line_now_and_its_week_are_scraped(make_app, r, clock):
    app = make_app(METRICS_TOKEN="scrape-secret", METRICS_REFRESH_SECONDS=0)  # the week's figures every scrape
    client = app.test_client()
    twilio = Twilio(client, AUTH_TOKEN, PUBLIC_URL)
    line = (("line", "riverlink-support"),)
    calls_before = samples(client.get("/metrics", headers=TOKEN).get_data(as_text=True)).get(
        ("ivr_calls_total", line), 0
    )
    for number in ("+14155550801", "+14155550802", "+14155550801"):  # the third is a repeat
        call = twilio.call(number).start()
        call.press("0")
        call.hangup()
        clock.advance(seconds=60)
    for agent in ("alex", "mei"):
        put_presence(r, agent, presence.Presence(presence.BUSY, 0, clock.now + 3600, "CAx"))
    waiting = twilio.call("+14155550803").start()
    waiting.press("3")
    assert waiting.enqueued()

    scraped = client.get("/metrics", headers=TOKEN)
    assert scraped.status_code == 200 and scraped.mimetype == "text/plain"
    found = samples(scraped.get_data(as_text=True))
    assert found[("ivr_waiting_callers", ())] == 1
    assert found[("ivr_people", (("status", "busy"),))] == 2
    assert found[("ivr_contacts", line)] == 3
    assert round(found[("ivr_repeat_call_rate", line)], 4) == 0.3333
    assert found[("ivr_zero_outs", (("line", "riverlink-support"), ("node", "welcome")))] == 3
    assert found[("ivr_calls_total", line)] - calls_before == 4, "this process's own counter"
