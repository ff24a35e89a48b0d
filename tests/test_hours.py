"""Business hours and holidays: out of hours, 0 still reaches a person (on call) or a callback or a message."""

from __future__ import annotations

import shutil
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from ivr.flows.hours import Hours, parse_days, parse_spans
from ivr.store import keys
from tests.support import AUTH_TOKEN, PUBLIC_URL, ROOT, SEALER
from tests.twilio_sim import Twilio

NY = ZoneInfo("America/New_York")
WEEKDAYS = Hours(
    "America/New_York", {d: ((8 * 60, 20 * 60),) for d in range(5)}, frozenset({"2026-12-25"}), None, always_open=False
)


def at(*args) -> float:
    return datetime(*args, tzinfo=NY).timestamp()


def test_open_closed_holidays_in_the_lines_time_zone():
    assert WEEKDAYS.is_open(at(2026, 11, 23, 9, 0))  # Monday 9:00 in New York
    assert not WEEKDAYS.is_open(at(2026, 11, 23, 20, 0))  # closing time
    assert not WEEKDAYS.is_open(at(2026, 11, 22, 12, 0))  # Sunday
    assert not WEEKDAYS.is_open(at(2026, 12, 25, 10, 0))  # a holiday on a Friday
    assert WEEKDAYS.spoken_next_opening(at(2026, 11, 23, 21, 0)) == "We open again tomorrow at 8 AM."
    assert WEEKDAYS.spoken_next_opening(at(2026, 11, 21, 12, 0)) == "We open again on Monday at 8 AM."
    assert WEEKDAYS.spoken_next_opening(at(2026, 12, 24, 21, 0)) == "We open again on Monday at 8 AM."
    assert Hours().is_open(at(2026, 12, 25, 3, 0)), "no hours: always open"


def test_day_and_time_parsing():
    assert parse_days("mon-fri") == [0, 1, 2, 3, 4] and parse_days("sat,sun") == [5, 6]
    assert parse_days("fri-mon") == [4, 5, 6, 0] and parse_days("someday") is None
    assert parse_spans("08:00-12:00, 13:00-17:30") == [(480, 720), (780, 1050)]
    assert parse_spans("20:00-08:00") is None and parse_spans("8-5") is None


@pytest.fixture
def closed_line(tmp_path, make_app, clock):
    def make(on_call: str | None):
        shutil.copy(ROOT / "flows" / "agents.yaml", tmp_path)
        extra = f'    on_call_number: "{on_call}"\n' if on_call else ""
        hours = 'settings:\n  hours:\n    timezone: America/New_York\n    open:\n      mon-fri: "08:00-20:00"\n' + extra
        text = (ROOT / "flows" / "support.yaml").read_text().replace("settings:\n", hours, 1)
        (tmp_path / "support.yaml").write_text(text)
        clock.now = at(2026, 11, 23, 22, 0)  # Monday 10 pm
        app = make_app(FLOWS_DIR=str(tmp_path))
        return Twilio(app.test_client(), AUTH_TOKEN, PUBLIC_URL)

    return make


def test_out_of_hours_zero_reaches_the_on_call_number(closed_line):
    call = closed_line("+15005550999").call().start()
    assert "closed right now" in call.heard() and "tomorrow at 8 AM" in call.heard()
    assert "on-call team, press 0" in call.heard()
    call.press("0")
    assert call.dialled() == ["+15005550999"]
    call.dial_result("no-answer")
    assert call.doc.find("Record") is not None, "on-call did not answer: a message, never a hang-up"


def test_out_of_hours_without_on_call_zero_offers_a_callback(closed_line, r):
    call = closed_line(None).call("+14155550170").start()
    assert "press 0" not in call.heard()
    call.press("0")
    assert "as soon as we're open" in call.heard()
    call.press("1")
    assert call.ended()
    assert SEALER.open(r.hget(keys.callback(call.sid), "number")) == "+14155550170"
    assert r.zrange(keys.queue(), 0, -1) == [f"cb:{call.sid}"]


def test_out_of_hours_silence_leads_to_a_message_not_a_hangup(closed_line):
    call = closed_line(None).call().start()
    call.silence()
    assert "didn't hear anything" in call.heard()
    call.silence()
    assert call.doc.find("Record") is not None


def test_out_of_hours_message(closed_line):
    call = closed_line(None).call().start()
    call.press("2")
    call.finish_recording(20)
    assert "message is saved" in call.heard()


def test_a_retried_arrival_out_of_hours_stays_out_of_hours(closed_line):
    call = closed_line(None).call().start()
    call.post("/voice", CallStatus="ringing")  # Twilio retries the first webhook
    assert "closed right now" in call.heard() and call.dial() is None
