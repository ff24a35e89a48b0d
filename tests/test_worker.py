"""The worker hands waiting callers and callback requests to people as they free up, through a stand-in for
Twilio's REST API on 127.0.0.1; callbacks survive a worker killed mid-call and are placed exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ivr.call import presence
from ivr.call.queueing import QueueEntry
from ivr.dispatcher.worker import Worker
from ivr.flows.live_catalog import LiveCatalog
from ivr.store import accounts, call_records, keys, presence_records, scripts
from ivr.store.callbacks import CLAIM_SECONDS
from ivr.store.calls import RESERVE_MARGIN_SECONDS
from ivr.store.dispatch import Dispatch
from tests.support import AUTH_TOKEN, DATA_KEYS, PUBLIC_URL, ROOT, put_in_line, put_presence
from tests.twilio_rest_stub import TwilioRestStub
from tests.twilio_sim import Twilio, assert_valid_twiml, new_sid

LINE = "+15005550006"
ALEX = "+15005550101"


def waiting_entries(r) -> list[QueueEntry]:
    """Everyone in line, oldest first, as the store keeps them."""
    return [QueueEntry.from_json(r.hget(keys.queue_entries(), q)) for q in r.zrange(keys.queue(), 0, -1)]


def busy(r, clock, *agents):
    for agent in agents:
        put_presence(r, agent, presence.Presence(presence.BUSY, 0, clock.now + 3600, "CAx"))


def free(r, clock, agent):
    """The person's call ended (no wrap-up): free from now."""
    put_presence(r, agent, presence.Presence(presence.AVAILABLE, clock.now), clock.now)


def queued(twilio, number=None):
    call = twilio.call(number).start()
    call.press("3")  # moving
    assert call.enqueued()
    return call


def request_callback(call, twilio):
    call.wait(seconds=65)
    call.press_while_waiting("1")
    call.left_queue("leave")
    call.press("1")
    assert call.ended()


def agent_leg(twilio, create, **extra):
    """Twilio calls the person first: post what the created call's Url gets, as Twilio would."""
    params = {
        "CallSid": new_sid(),
        "AccountSid": twilio.account,
        "From": create.field("From"),
        "To": create.field("To"),
        "CallStatus": "in-progress",
        "Direction": "outbound-api",
        "ApiVersion": "2010-04-01",
        **extra,
    }
    return params


def worker_rounds(r, rounds: int, timeout: float = 15) -> None:
    """Wait until a running worker process has finished at least ROUNDS - 1 whole rounds: each round ends by
    taking one nudge off the wake list, so push ROUNDS nudges and wait for the list to empty."""
    r.rpush(keys.wake(), *["test"] * rounds)
    deadline = time.monotonic() + timeout
    while r.llen(keys.wake()):
        assert time.monotonic() < deadline, "the worker stopped doing rounds"
        time.sleep(0.02)


def post_doc(twilio, url, params):
    return assert_valid_twiml(twilio.post(url, params).get_data(as_text=True))


def said(doc) -> str:
    return " ".join(" ".join(e.itertext()) for e in doc.iter("Say"))


def test_a_queued_caller_is_connected_when_a_person_frees_up(twilio, worker, rest, r, clock):
    busy(r, clock, "alex", "mei")
    call = queued(twilio, "+14155550161")
    clock.advance(seconds=30)
    assert worker.run_once() == [], "the moving team is busy; supervisors only step in after the hold limit"
    busy(r, clock, "rosa", "dev")
    clock.advance(seconds=270)
    assert worker.run_once() == [], "nobody free: nothing happens"
    free(r, clock, "alex")
    assert worker.run_once() == [f"connected call {call.sid[-6:]} to alex"]
    update = rest.updates(call.sid)[0]
    assert update.field("Url") == f"{PUBLIC_URL}/voice/connect?agent=alex"
    assert r.zrange(keys.queue(), 0, -1) == []
    call.post(update.field("Url"))
    assert call.dialled() == [ALEX] and "Thank you for waiting" in call.heard()
    heard, _ = call.whisper()
    assert "waited 5 minutes" in heard and "moving" in heard
    call.agent_answers()
    assert presence_records.parse(r.hget(keys.presence(), "alex")).status == presence.WRAP_UP, "then writes a note"


def test_the_longest_waiting_caller_goes_first(twilio, worker, rest, r, clock):
    busy(r, clock, "alex", "mei")
    first = queued(twilio)
    clock.advance(seconds=10)
    queued(twilio)
    free(r, clock, "mei")
    worker.run_once()
    assert [u.call_sid for u in rest.updates()] == [first.sid]


def test_a_returning_caller_in_line_waits_for_their_own_agent_first(twilio, worker, rest, r, clock):
    talk = twilio.call("+14155550162").start()
    talk.press("3")
    talk.agent_answers()  # alex helped them
    talk.hangup()
    busy(r, clock, "alex", "mei", "rosa", "dev")
    clock.advance(seconds=60)
    other = queued(twilio)
    clock.advance(seconds=10)
    back = twilio.call("+14155550162").start()
    assert back.enqueued(), "own agent and supervisors busy: in line, preferring alex"
    free(r, clock, "mei")
    worker.run_once()
    assert [u.call_sid for u in rest.updates()] == [other.sid], "mei takes the other caller"
    free(r, clock, "alex")
    worker.run_once()
    assert rest.updates()[-1].call_sid == back.sid


def test_a_callback_calls_the_agent_then_the_customer(twilio, worker, rest, r, clock, client):
    busy(r, clock, "alex", "mei")
    call = queued(twilio, "+14155550163")
    request_callback(call, twilio)
    free(r, clock, "alex")
    assert worker.run_once() == [f"placed callback {call.sid[-6:]} via alex"]
    create = rest.creates()[0]
    assert create.field("To") == ALEX and create.field("From") == LINE
    doc = post_doc(twilio, create.field("Url"), agent_leg(twilio, create))
    assert "1 4 1 5 5 5 5 0 1 6 3" in said(doc) and "moving" in said(doc) and "Press 1" in said(doc)
    accept = doc.find("Gather").get("action")
    doc = post_doc(twilio, accept, agent_leg(twilio, create, Digits="1"))
    assert doc.find("Dial/Number").text == "+14155550163"
    assert presence_records.parse(r.hget(keys.presence(), "alex")).status == presence.BUSY
    doc = post_doc(
        twilio,
        doc.find("Dial").get("action"),
        agent_leg(twilio, create, DialCallStatus="completed", DialCallDuration="95"),
    )
    assert doc.find("Hangup") is not None
    assert r.hget(keys.callback(call.sid), "status") == "done"
    post_doc(twilio, create.field("StatusCallback"), agent_leg(twilio, create, CallStatus="completed"))
    assert r.hget(keys.callback(call.sid), "status") == "done", "a late status callback changes nothing"
    (ended,) = [x for x in call_records.read(r, clock.now - 3600, clock.now + 60) if x.get("kind") == "callback"]
    assert (ended["call"], ended["outcome"]) == (call.sid, "completed"), "the line's metrics count it"
    assert presence_records.parse(r.hget(keys.presence(), "alex")).status == presence.WRAP_UP, "writes a note"
    token = {"Authorization": f"Bearer {accounts.new_token(r, 'alex')}"}
    note = {"outcome": "follow-up", "note": "booked the engineer for Friday"}
    assert client.post(f"/api/calls/{call.sid}/wrap-up", json=note, headers=token).status_code == 200
    assert presence_records.parse(r.hget(keys.presence(), "alex")).status == presence.AVAILABLE
    again = twilio.call("+14155550163").start()
    assert again.dialled() == [ALEX], "the callback counts: their next call goes straight back to alex"
    assert "Alex noted: booked the engineer for Friday" in again.whisper()[0]


def test_a_customer_who_does_not_answer_is_tried_again_later_then_supervisors(twilio, worker, rest, r, clock):
    busy(r, clock, "alex", "mei")
    call = queued(twilio, "+14155550164")
    request_callback(call, twilio)
    free(r, clock, "alex")
    for attempt in range(3):
        worker.run_once()
        create = rest.creates()[-1]
        doc = post_doc(twilio, create.field("Url"), agent_leg(twilio, create))
        doc = post_doc(twilio, doc.find("Gather").get("action"), agent_leg(twilio, create, Digits="1"))
        doc = post_doc(twilio, doc.find("Dial").get("action"), agent_leg(twilio, create, DialCallStatus="no-answer"))
        if attempt < 2:
            assert "try again in" in said(doc)
            assert worker.run_once() == [], "not before the retry time"
            clock.advance(seconds=60 * 5 * 2**attempt + 1)
    assert "supervisors" in said(doc)
    assert r.hget(keys.callback(call.sid), "status") == "needs a supervisor"
    assert r.zrange(keys.callbacks_for_supervisors(), 0, -1) == [f"cb:{call.sid}"]
    assert len(rest.creates()) == 3


def test_an_agent_who_passes_leaves_the_request_at_its_place(twilio, worker, rest, r, clock):
    busy(r, clock, "alex", "mei")
    call = queued(twilio, "+14155550165")
    since = r.zscore(keys.queue(), call.sid)
    request_callback(call, twilio)
    free(r, clock, "alex")
    worker.run_once()
    create = rest.creates()[0]
    doc = post_doc(twilio, create.field("Url"), agent_leg(twilio, create))
    post_doc(twilio, doc.find("Gather").get("action"), agent_leg(twilio, create, Digits="9"))
    assert r.zscore(keys.queue(), f"cb:{call.sid}") == since


def test_a_worker_that_died_after_claiming_is_redelivered_once(app, twilio, worker, rest, r, clock):
    busy(r, clock, "alex", "mei")
    call = queued(twilio, "+14155550166")
    request_callback(call, twilio)
    free(r, clock, "alex")
    dispatch = Dispatch(r)
    queue = waiting_entries(r)
    assert dispatch.take("alex", queue[0], clock.now, 20), "a worker claims it, then dies before placing it"
    assert worker.run_once() == [] and rest.creates() == []
    clock.advance(seconds=CLAIM_SECONDS + 1)
    free(r, clock, "alex")
    done = worker.run_once()
    assert done == [f"requeued callback {call.sid[-6:]}", f"placed callback {call.sid[-6:]} via alex"]
    assert len(rest.creates()) == 1


def test_a_worker_killed_mid_call_delivers_the_request_exactly_once(app, twilio, rest, r, redis_server, clock):
    busy(r, clock, "alex", "mei")
    call = queued(twilio, "+14155550167")
    request_callback(call, twilio)
    rest.hold_creates()
    env = {
        **os.environ,
        "REDIS_URL": redis_server.url,
        "TWILIO_ACCOUNT_SID": rest.account_sid,
        "TWILIO_AUTH_TOKEN": rest.auth_token,
        "TWILIO_API_BASE": rest.url,
        "PUBLIC_URL": PUBLIC_URL,
        "FLOWS_DIR": str(ROOT / "flows"),
    }

    def start_worker():
        return subprocess.Popen(
            [sys.executable, "-m", "ivr.dispatcher"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    first = start_worker()
    try:
        # alex's call ends; the worker process uses the real clock
        put_presence(r, "alex", presence.Presence(presence.AVAILABLE, time.time()), time.time())
        rest.wait_for(lambda: rest.held, timeout=15)  # the create reached "Twilio" and hangs there
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=5)
    finally:
        if first.poll() is None:
            first.kill()
    rest.release_creates()
    assert len(rest.creates()) == 1
    second = start_worker()
    try:
        worker_rounds(r, 3)  # the claim is being placed, so no round may place it again
        assert len(rest.creates()) == 1
        create = rest.creates()[0]
        doc = post_doc(twilio, create.field("Url"), agent_leg(twilio, create))
        doc = post_doc(twilio, doc.find("Gather").get("action"), agent_leg(twilio, create, Digits="1"))
        assert doc.find("Dial/Number").text == "+14155550167"
        post_doc(twilio, doc.find("Dial").get("action"), agent_leg(twilio, create, DialCallStatus="completed"))
        assert r.hget(keys.callback(call.sid), "status") == "done"
        worker_rounds(r, 3)
        assert len(rest.creates()) == 1, "delivered exactly once"
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=10)
    assert second.returncode == 0, "the worker stops cleanly on SIGTERM"


def test_callbacks_wait_for_business_hours(tmp_path, make_app, rest, r, clock):
    import shutil

    shutil.copy(ROOT / "flows" / "agents.yaml", tmp_path)
    text = (
        (ROOT / "flows" / "support.yaml")
        .read_text()
        .replace("settings:\n", 'settings:\n  hours:\n    timezone: UTC\n    open:\n      mon-sun: "00:00-00:01"\n', 1)
    )
    (tmp_path / "support.yaml").write_text(text)
    closed_worker = Worker(LiveCatalog(tmp_path), r, rest.client(), PUBLIC_URL, clock=clock)

    entry = QueueEntry("cb:CA" + "9" * 32, clock.now, ("moving",), "riverlink-support")
    put_in_line(r, entry)
    clock.now = clock.now - clock.now % 86400 + 3600  # 01:00 UTC: closed
    assert closed_worker.run_once() == []
    clock.now += 30 * 60 * 24 - 3600  # (a day later at 00:00: open)


def test_queue_and_callback_webhooks_make_at_most_two_redis_round_trips(app, twilio, worker, rest, r, clock):
    from tests.test_calls import CountingConnection

    pool = app.extensions["ivr"].redis.connection_pool
    pool.connection_class = CountingConnection
    pool.disconnect()
    scripts.register(r)  # loaded once, so the counts are of the webhooks alone
    counts = {}

    def measure(name, action):
        CountingConnection.sent = 0
        result = action()
        counts[name] = CountingConnection.sent
        return result

    busy(r, clock, "alex", "mei")
    call = twilio.call("+14155550168").start()
    measure("menu choice that enqueues", lambda: call.press("3"))
    measure("wait document", lambda: call.wait(seconds=5))
    measure("wait document with the offer", lambda: call.wait(seconds=65))
    measure("key while waiting", lambda: call.press_while_waiting("1"))
    measure("left the queue", lambda: call.left_queue("leave"))
    measure("callback confirmed", lambda: call.press("1"))
    free(r, clock, "alex")
    worker.run_once()
    create = rest.creates()[0]
    doc = measure("callback agent answered", lambda: post_doc(twilio, create.field("Url"), agent_leg(twilio, create)))
    doc = measure(
        "callback accepted",
        lambda: post_doc(twilio, doc.find("Gather").get("action"), agent_leg(twilio, create, Digits="1")),
    )
    measure(
        "callback dialled",
        lambda: post_doc(twilio, doc.find("Dial").get("action"), agent_leg(twilio, create, DialCallStatus="completed")),
    )
    measure(
        "callback status",
        lambda: post_doc(twilio, create.field("StatusCallback"), agent_leg(twilio, create, CallStatus="completed")),
    )
    assert max(counts.values()) <= 2, counts


def test_a_handed_over_caller_whose_person_does_not_answer_keeps_their_place(twilio, worker, rest, r, clock):
    busy(r, clock, "alex", "mei", "rosa", "dev")
    call = queued(twilio)
    since = r.zscore(keys.queue(), call.sid)
    clock.advance(seconds=10)
    free(r, clock, "alex")
    worker.run_once()
    call.post(rest.updates(call.sid)[0].field("Url"))
    call.dial_result("no-answer")
    assert call.enqueued(), "nobody else free: back in line, never a hang-up"
    assert r.zscore(keys.queue(), call.sid) == since, "at the same place"


def test_if_twilio_runs_the_queue_action_after_a_hand_over_the_caller_still_reaches_the_person(
    twilio, worker, rest, r, clock
):
    busy(r, clock, "alex", "mei", "rosa", "dev")
    call = queued(twilio)
    free(r, clock, "mei")
    worker.run_once()
    call.left_queue("redirected")
    assert call.dialled() == ["+15005550104"], "the same person the worker chose"


def test_supervisors_see_the_callbacks_that_need_them(twilio, worker, rest, r, clock, redis_server):
    from click.testing import CliRunner

    from ivr.tools.cli import main

    busy(r, clock, "alex", "mei")
    call = queued(twilio, "+14155550169")
    request_callback(call, twilio)
    env = {"REDIS_URL": redis_server.url, "DATA_KEYS": DATA_KEYS}
    listing = CliRunner().invoke(main, ["callbacks"], env=env).output
    assert "***0169" in listing and "waiting" in listing and "4155550169" not in listing
    r.zadd(keys.callbacks_for_supervisors(), {f"cb:{call.sid}": clock.now})
    r.zrem(keys.queue(), f"cb:{call.sid}")
    listing = CliRunner().invoke(main, ["callbacks", "--show-numbers"], env=env).output
    assert "+14155550169" in listing and "needs a" in listing


def test_callback_webhooks_never_answer_an_agent_with_an_error(make_app):
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    twilio = Twilio(app.test_client(), AUTH_TOKEN, PUBLIC_URL)
    params = {"CallSid": new_sid(), "AccountSid": twilio.account, "From": LINE, "To": ALEX, "CallStatus": "in-progress"}
    for path in ("/voice/callback/agent", "/voice/callback/accept", "/voice/callback/dialled"):
        doc = post_doc(twilio, f"{path}?request=CA{'1' * 32}&attempt=abc", params)
        assert "cannot go ahead right now" in said(doc) and doc.find("Hangup") is not None


def test_a_hand_over_twilio_refuses_puts_the_caller_back_in_line(twilio, worker, rest, r, clock):
    busy(r, clock, "alex", "mei", "rosa", "dev")
    call = queued(twilio)
    since = r.zscore(keys.queue(), call.sid)
    clock.advance(seconds=1)
    behind = queued(twilio)
    free(r, clock, "alex")
    rest.rate_limit_next(retry_after=10)
    assert worker.run_once() == [f"call {call.sid[-6:]} back in line"]
    assert r.zscore(keys.queue(), call.sid) == since
    assert presence_records.parse(r.hget(keys.presence(), "alex")).status == presence.AVAILABLE
    free(r, clock, "mei")  # (hand-overs already sent in the same round, in parallel, cannot be called back)
    clock.advance(seconds=5)
    assert worker.run_once() == [], "Twilio asked for 10 s without requests: nobody is handed over, not even others"
    clock.advance(seconds=5.1)
    assert worker.run_once() and {u.call_sid for u in rest.updates()[1:]} == {call.sid, behind.sid}
    handed = {u.call_sid: u.field("Url").rsplit("=", 1)[1] for u in rest.updates()[1:]}
    assert sorted(handed.values()) == ["alex", "mei"], "then both, one to each"


def test_a_caller_twilio_keeps_refusing_never_holds_up_those_behind(twilio, worker, rest, r, clock):
    busy(r, clock, "alex", "mei", "rosa", "dev")
    first = queued(twilio)
    clock.advance(seconds=5)
    second = queued(twilio)
    free(r, clock, "alex")
    refused = rest.fail_next
    refused(status=503, code=20503, message="Service Unavailable")
    assert worker.run_once() == [f"call {first.sid[-6:]} back in line"]
    assert worker.run_once() == [f"connected call {second.sid[-6:]} to alex"], "the next caller goes ahead"
    free(r, clock, "mei")
    clock.advance(seconds=1.1)
    refused(status=503, code=20503, message="Service Unavailable")
    assert worker.run_once() == [f"call {first.sid[-6:]} back in line"]
    assert r.zrange(keys.queue(), 0, -1) == [first.sid], "still at their place"
    clock.advance(seconds=1.1)
    assert worker.run_once() == [], "each refusal doubles the pause: 2 s now"
    clock.advance(seconds=1)
    assert worker.run_once() == [f"connected call {first.sid[-6:]} to mei"]


def test_a_caller_who_hung_up_during_an_outage_leaves_the_line_at_the_first_hand_over(twilio, worker, rest, r, clock):
    busy(r, clock, "alex", "mei", "rosa", "dev")
    ghost = queued(twilio)
    clock.advance(seconds=5)
    behind = queued(twilio)
    rest.add_call(ghost.sid)
    rest.set_status(ghost.sid, "completed")  # the hang-up's status webhook was lost: only Twilio knows
    free(r, clock, "alex")
    assert worker.run_once() == [f"call {ghost.sid[-6:]} gone"]
    assert rest.requests()[-1].status == 400, "Twilio answers 400/21220 to redirecting an ended call"
    assert worker.run_once() == [f"connected call {behind.sid[-6:]} to alex"]
    assert len(rest.updates(ghost.sid)) == 1, "never redirected again"
    ghost.wait(seconds=5)  # a late wait document of the ended call
    assert r.zrange(keys.queue(), 0, -1) == [], "and never back in line"


def test_a_caller_out_of_line_with_nobody_ringing_rejoins_at_their_place(twilio, worker, rest, r, clock):
    busy(r, clock, "alex", "mei", "rosa", "dev")
    call = queued(twilio)
    since = r.zscore(keys.queue(), call.sid)
    free(r, clock, "alex")
    dispatch = Dispatch(r)
    queue = waiting_entries(r)
    assert dispatch.take("alex", queue[0], clock.now, 20)  # a worker takes them, then dies before redirecting
    call.wait(seconds=10)
    assert "Connecting you now" in call.heard(), "while the person is reserved, the hand-over may still come"
    clock.advance(seconds=20 + RESERVE_MARGIN_SECONDS + 1)  # the reservation expires
    call.wait(seconds=61)
    assert "still in line" in call.heard() and r.zscore(keys.queue(), call.sid) == since
    call.wait(seconds=20)
    assert "You are next in line" in call.heard(), "the next wait document tells their number again"


def test_a_slow_twilio_never_stops_the_worker(app, twilio, r, clock):
    with TwilioRestStub(auth_token="rest-token", accept_any_call=True) as stub:
        slow = Worker(app.extensions["ivr"].catalogs, r, stub.client(timeout=0.3), PUBLIC_URL, clock=clock)
        busy(r, clock, "alex", "mei", "rosa", "dev")
        queued(twilio)
        free(r, clock, "alex")
        stub.delay(1.0)
        assert slow.run_once()[0].endswith("unknown"), "a read timeout is reported, not raised"
        stub.delay(0)


def test_a_callback_twilio_refuses_is_retried_after_a_pause_not_in_a_loop(twilio, worker, rest, r, clock):
    busy(r, clock, "alex", "mei")
    call = queued(twilio, "+14155550171")
    request_callback(call, twilio)
    free(r, clock, "alex")
    rest.fail_next(status=400, code=21211, message="Invalid 'To' Phone Number")
    assert worker.run_once() == [f"callback {call.sid[-6:]} not placed"]
    assert worker.run_once() == [] and len(rest.creates()) == 1
    clock.advance(seconds=61)
    done = worker.run_once()
    assert done[0].startswith(f"placed callback {call.sid[-6:]} via") and not done[0].endswith("alex"), (
        "and to someone else next: alex, who was just tried, is now the least idle"
    )


def test_a_caller_who_records_nothing_is_not_hung_up_on(twilio, r, clock):
    busy(r, clock, "alex", "mei")
    call = queued(twilio)
    call.wait(seconds=65)
    call.press_while_waiting("2")
    call.left_queue("leave")
    assert call.doc.find("Record") is not None and call.doc.find("Redirect") is not None
    call.follow_redirect()  # Twilio skips an empty recording's action and goes on to the next verb
    assert call.enqueued() and "didn't hear a message" in call.heard()


def test_the_wait_between_tries_at_a_customer_doubles():
    from ivr.call.calling_back import after_no_answer
    from ivr.flows.model import CallbackPolicy

    policy = CallbackPolicy(max_attempts=5, retry_minutes=5)
    assert [after_no_answer(tries, policy) for tries in range(5)] == [
        ("requeue", 5),
        ("requeue", 10),
        ("requeue", 20),
        ("requeue", 40),
        ("supervisors", 0),
    ]


def test_a_retry_is_offered_exactly_when_its_wait_is_over(twilio, worker, rest, r, clock):
    busy(r, clock, "alex", "mei")
    call = queued(twilio, "+14155550166")
    request_callback(call, twilio)
    free(r, clock, "alex")
    for attempt, minutes in enumerate((5, 10)):
        (placed,) = worker.run_once()
        assert placed.startswith(f"placed callback {call.sid[-6:]} via "), attempt
        create = rest.creates()[-1]
        doc = post_doc(twilio, create.field("Url"), agent_leg(twilio, create))
        doc = post_doc(twilio, doc.find("Gather").get("action"), agent_leg(twilio, create, Digits="1"))
        doc = post_doc(twilio, doc.find("Dial").get("action"), agent_leg(twilio, create, DialCallStatus="busy"))
        assert f"We will try again in {minutes} minutes" in said(doc)
        clock.advance(seconds=minutes * 60 - 5)
        assert worker.run_once() == [], f"not before {minutes} minutes"
        clock.advance(seconds=10)


def _line_with_numbers(tmp_path, numbers: str):
    import shutil

    shutil.copy(ROOT / "flows" / "agents.yaml", tmp_path)
    text = (ROOT / "flows" / "support.yaml").read_text().replace('numbers: ["+15005550006"]', f"numbers: {numbers}")
    (tmp_path / "support.yaml").write_text(text)
    return LiveCatalog(tmp_path)


@pytest.mark.parametrize(
    ("numbers", "caller_id", "placed_from"),
    [
        ('["+15005550006", "+15005550009"]', "+15005550777", "+15005550006"),  # the line's own first number
        ("[]", "+15005550777", "+15005550777"),  # a line with no number: TWILIO_CALLER_ID
    ],
    ids=["line-number-wins", "caller-id-when-none"],
)
def test_callbacks_are_placed_from_the_lines_number_and_from_caller_id_only_when_it_lists_none(
    tmp_path, twilio, rest, r, clock, numbers, caller_id, placed_from
):

    catalogs = _line_with_numbers(tmp_path, numbers)
    placing = Worker(catalogs, r, rest.client(), PUBLIC_URL, caller_id=caller_id, clock=clock)
    request_id = "CA" + "7" * 32
    entry = QueueEntry(f"cb:{request_id}", clock.now, ("moving",), "riverlink-support")
    request = {"id": request_id, "number": "+14155550167", "flow": "riverlink-support", "since": clock.now}
    r.hset(keys.callback(request_id), mapping={"request": json.dumps(request), "attempts": 0, "status": "waiting"})
    put_in_line(r, entry)
    busy(r, clock, "mei")
    assert placing.run_once() == [f"placed callback {request_id[-6:]} via alex"]
    assert rest.creates()[-1].field("From") == placed_from


def test_an_agent_whose_reservation_expired_is_free_again(twilio, worker, rest, r, clock):
    """A webhook that never came must not strand a person: an expired ringing or busy record means available,
    in the atomic claims too (Lua), not only in what the engine reads."""
    busy(r, clock, "alex", "mei")
    call = queued(twilio, "+14155550168")
    for status in (presence.RINGING, presence.BUSY):
        stale = presence.Presence(status, 0, clock.now - 1, "CAgone")  # its end was never heard of
        put_presence(r, "alex", stale)
    assert worker.run_once() == [f"connected call {call.sid[-6:]} to alex"]
    put_presence(r, "alex", presence.Presence(presence.RINGING, 0, clock.now - 1, "CAx"))
    direct = twilio.call("+14155550169").start()
    direct.press("3")
    assert direct.dialled() == [ALEX], "the claim made by a caller's webhook takes them too"


def test_a_supervisor_takes_a_caller_at_once_when_nobody_of_the_group_is_on_duty(twilio, worker, rest, r, clock):
    for agent in ("alex", "mei"):
        presence_records.set_status(r, agent, presence.AWAY, clock.now)
    busy(r, clock, "rosa", "dev")
    call = queued(twilio, "+14155550170")
    clock.advance(seconds=5)  # far below the 60 s hold limit
    free(r, clock, "rosa")
    assert worker.run_once() == [f"connected call {call.sid[-6:]} to rosa"]


def test_a_supervisor_waits_for_the_hold_limit_while_the_group_is_on_duty(twilio, worker, rest, r, clock):
    busy(r, clock, "alex", "mei", "rosa", "dev")
    call = queued(twilio, "+14155550171")
    clock.advance(seconds=5)
    free(r, clock, "rosa")
    assert worker.run_once() == [], "the moving team will free up: supervisors step in after the hold limit"
    clock.advance(seconds=60)
    assert worker.run_once() == [f"connected call {call.sid[-6:]} to rosa"]
