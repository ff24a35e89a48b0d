"""The supervisors' week: headline figures and charts from calls' records, as a person reads them."""

from __future__ import annotations

import time

from ivr.store import call_records
from tests.test_console import sign_in

DAY = 86400


def put_records(r, records: list[dict]) -> None:
    pipe = r.pipeline()
    for rec in records:
        call_records.append(pipe, rec, time.time())
    pipe.execute()


def rec(call, caller, at, **extra) -> dict:
    base = {"call": call, "caller": caller, "line": "riverlink-support", "arrived": at, "ended": at + 60}
    return {**base, "repeat_window": 7 * DAY, **extra}


def test_the_week_shows_the_repeat_rate_people_and_the_menus_that_send_callers_to_zero(client, r, clock):
    now = clock.now
    resolved = {"outcome": "resolved", "note": "", "by": "mei", "at": now - 3000}
    put_records(
        r,
        [
            rec("c1", "ann", now - 4000, zero_out="welcome", talked="mei", bridged=now - 3970, wrap=resolved),
            rec("c2", "bob", now - 3900, zero_out="welcome"),
            rec("c3", "cat", now - 3800, zero_out="billing"),
            rec("c4", "bob", now - 3700),  # Bob again: a repeat
        ],
    )
    page = sign_in(client, r, "rosa").get("/console/week/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "25%" in html, "one repeat in four contacts"
    assert 'aria-label="Callers who pressed 0, per menu: welcome 2; billing 1"' in html, "worst menu first"
    assert 'aria-label="Problems resolved per person: mei 1"' in html
    assert 'aria-label="Time to a person, seconds: p50 30 s; p90 30 s; max 30 s"' in html
    assert sign_in(client.application.test_client(), r, "alex").get("/console/week/").status_code == 403


def test_a_menu_name_is_escaped_in_the_charts(client, r, clock):
    put_records(r, [rec("c1", "ann", clock.now - 100, zero_out="<script>x</script>")])
    html = sign_in(client, r, "dev").get("/console/week/?days=1").get_data(as_text=True)
    assert "<script>x</script>" not in html and "&lt;script&gt;" in html
