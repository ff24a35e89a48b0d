"""Count problems, not calls: every call leaves a record, and the line's metrics are computed from them with
exact, documented definitions (checked here on scripted histories, with a clock moved across the window)."""

from __future__ import annotations

import json
import time

from click.testing import CliRunner

from ivr.call import presence
from ivr.report import metrics
from ivr.store import call_records
from ivr.tools.cli import main
from tests.support import AUTH_TOKEN, ROOT, put_presence

DAY = 86400
WEEK = 7 * DAY
T0 = 1_800_000_000.0


def record(call, caller, at, line="support", **extra) -> dict:
    base = {"call": call, "caller": caller, "line": line, "arrived": at, "ended": at + 120, "repeat_window": WEEK}
    return {**base, **extra}


def test_one_repeat_in_four_contacts_is_a_repeat_call_rate_of_a_quarter():
    history = [
        record("c1", "ann", T0),
        record("c2", "bob", T0 + 100),
        record("c3", "cat", T0 + 200),
        record("c4", "ann", T0 + 2 * DAY),  # Ann again within the week: a repeat
    ]
    m = metrics.line_metrics(history, T0, T0 + 3 * DAY)
    assert (m["contacts"], m["repeat_contacts"], m["repeat_call_rate"]) == (4, 1, 0.25)
    fcr = m["first_contact_resolution"]
    assert fcr == {"provisional": 0.6667, "final": None, "first_contacts": 3}, "Ann's first call was not resolved"


def test_final_first_contact_resolution_counts_only_contacts_whose_window_has_passed():
    history = [record("c1", "ann", T0), record("c2", "bob", T0 + DAY), record("c3", "ann", T0 + 3 * DAY)]
    early = metrics.line_metrics(history, T0, T0 + 4 * DAY)["first_contact_resolution"]
    assert early == {"provisional": 0.5, "final": None, "first_contacts": 2}
    later = metrics.line_metrics(history, T0, T0 + WEEK + 10)["first_contact_resolution"]
    assert later == {"provisional": 0.5, "final": 0.0, "first_contacts": 2}, "only Ann's window has passed"
    last = metrics.line_metrics(history, T0, T0 + DAY + WEEK + 10)["first_contact_resolution"]
    assert last["final"] == 0.5, "Bob never called again within his week: resolved"


def test_a_first_contact_wrapped_up_not_resolved_is_not_resolved_and_is_an_open_problem():
    wrap = {"outcome": "follow-up", "note": "engineer on Friday", "by": "alex", "at": T0 + 300}
    history = [record("c1", "ann", T0, talked="alex", bridged=T0 + 40, wrap=wrap), record("c2", "bob", T0 + 10)]
    m = metrics.line_metrics(history, T0, T0 + DAY)
    assert m["first_contact_resolution"]["provisional"] == 0.5
    assert m["open_problems"] == 1
    assert m["agents"] == {"alex": {"contacts_taken": 1, "problems_resolved": 0}}


def test_problems_resolved_per_person_need_a_resolved_wrap_up_and_no_repeat():
    resolved = {"outcome": "resolved", "note": "", "by": "mei", "at": T0 + 500}
    history = [
        record("c1", "ann", T0, talked="mei", bridged=T0 + 30, wrap=resolved),
        record("c2", "bob", T0, talked="mei", bridged=T0 + 90, wrap={**resolved, "at": T0 + 600}),
        record("c3", "bob", T0 + DAY, talked="alex", bridged=T0 + DAY + 20),  # Bob called again: not resolved
    ]
    m = metrics.line_metrics(history, T0, T0 + 2 * DAY)
    assert m["agents"] == {
        "alex": {"contacts_taken": 1, "problems_resolved": 0},
        "mei": {"contacts_taken": 2, "problems_resolved": 1},
    }
    assert m["time_to_human_seconds"] == {"p50": 30.0, "p90": 90.0, "max": 90.0}
    assert m["open_problems"] == 1, "Bob: two contacts in his week, the latest not wrapped up resolved"


def test_menus_that_send_callers_to_zero_and_where_they_hang_up_are_counted():
    history = [
        record("c1", "ann", T0, zero_out="welcome"),
        record("c2", "bob", T0, zero_out="welcome"),
        record("c3", "cat", T0, zero_out="internet"),
        record("c4", "dan", T0, queued=T0 + 10, hold_seconds=95, hung_up_at="@hold"),
        record("c5", "eve", T0, queued=T0 + 10, bridged=T0 + 50, talked="mei", hold_seconds=40),
        record("c6", "", T0, hung_up_at="welcome"),
    ]
    m = metrics.line_metrics(history, T0, T0 + DAY)
    assert m["zero_outs_by_node"] == {"welcome": 2, "internet": 1}
    assert m["hang_ups_by_node"] == {"@hold": 1, "welcome": 1}
    assert m["queue"] == {
        "queued": 2,
        "answered_within_60s": 1,
        "abandoned": 1,
        "longest_wait_seconds": 95,
        "average_wait_seconds": 67.5,
    }
    assert m["first_contact_resolution"]["first_contacts"] == 5, "a withheld number is left out"


def test_records_before_the_period_only_decide_repeats():
    history = [record("c0", "ann", T0 - DAY), record("c1", "ann", T0 + 10)]
    m = metrics.line_metrics(history, T0, T0 + DAY)
    assert (m["contacts"], m["repeat_contacts"]) == (1, 1)


def test_every_call_leaves_one_record_and_ivr_report_and_export_read_them(twilio, r, redis_server, clock):
    put_presence(r, "mei", presence.Presence(presence.AWAY))
    helped = twilio.call("+14155550701").start()
    helped.press("0")  # to a person from the first menu
    helped.agent_answers()
    helped.hangup()
    for agent in ("alex", "rosa", "dev", "jordan"):
        put_presence(r, agent, presence.Presence(presence.BUSY, 0, clock.now + 3600, "CAx"))
    gave_up = twilio.call("+14155550702").start()
    gave_up.press("3")
    assert gave_up.enqueued()
    clock.advance(seconds=30)
    gave_up.hangup()

    found = {rec["call"]: rec for rec in call_records.read(r, clock.now - 3600, clock.now)}
    assert set(found) == {helped.sid, gave_up.sid}
    one, two = found[helped.sid], found[gave_up.sid]
    assert one["zero_out"] == "welcome" and one["talked"] and one["bridged"] >= one["arrived"]
    assert two["hung_up_at"] == "@hold" and two["hold_seconds"] == 30.0 and two["chosen"] == ["welcome:3"]
    assert "4155550701" not in json.dumps(found), "callers are HMACs, never numbers"

    env = {"REDIS_URL": redis_server.url, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "FLOWS_DIR": str(ROOT / "flows")}
    exported = CliRunner().invoke(main, ["export", "--since", "1d"], env=env)
    assert exported.exit_code == 0
    lines = [json.loads(x) for x in exported.output.splitlines()]
    assert {x["call"] for x in lines} == {helped.sid, gave_up.sid}


def test_ivr_report_json_prints_one_object_with_the_documented_keys(twilio, r, redis_server):
    pipe = r.pipeline()
    start = time.time() - DAY  # `ivr report` reads up to the real now
    for n, caller in enumerate(("ann", "bob", "ann")):
        call_records.append(pipe, record(f"CA{n}", caller, start + n, line="riverlink-support"), start + n + 120)
    pipe.execute()
    env = {"REDIS_URL": redis_server.url, "TWILIO_AUTH_TOKEN": AUTH_TOKEN}
    result = CliRunner().invoke(main, ["report", "--since", "2w", "--json"], env=env)
    assert result.exit_code == 0
    found = json.loads(result.stdout)
    assert set(found) == {"since", "until", "lines"}
    assert found["lines"]["riverlink-support"]["repeat_call_rate"] == 0.3333
    assert set(found["lines"]["riverlink-support"]) >= {
        "contacts",
        "repeat_contacts",
        "repeat_call_rate",
        "first_contact_resolution",
        "open_problems",
        "agents",
        "time_to_human_seconds",
        "zero_outs_by_node",
        "hang_ups_by_node",
        "queue",
        "callbacks",
        "messages",
    }
    table = CliRunner().invoke(main, ["report", "--since", "2w"], env=env)
    assert table.exit_code == 0 and "repeat-call rate" in table.output
    bad = CliRunner().invoke(main, ["report", "--since", "soon"], env=env)
    assert bad.exit_code != 0 and "7d" in bad.output


def ended_callback(call, asked, settled, outcome) -> dict:
    return {"kind": "callback", "call": call, "line": "support", "asked": asked, "settled": settled, "outcome": outcome}


def test_callbacks_completed_failed_and_time_to_the_callback():
    history = [
        record("c1", "ann", T0, callback=True),
        record("c2", "bob", T0 + 10, callback=True),
        {
            "kind": "callback",
            "call": "c1",
            "line": "support",
            "asked": T0 + 60,
            "settled": T0 + 660,
            "outcome": "completed",
        },
        {
            "kind": "callback",
            "call": "c2",
            "line": "support",
            "asked": T0 + 70,
            "settled": T0 + 4000,
            "outcome": "failed",
        },
    ]
    m = metrics.report(history, T0, T0 + DAY)["lines"]["support"]
    assert m["callbacks"] == {
        "requested": 2,
        "completed": 1,
        "failed": 1,
        "time_to_callback_seconds": {"p50": 600.0, "p90": 600.0, "max": 600.0},
    }
    assert m["contacts"] == 2, "a callback's end is not a contact"
