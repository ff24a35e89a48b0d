"""The outage day: thousands waiting and a large directory cost a webhook no more than a quiet day does, the
presence indexes always say what the records say, and a round's hand-overs go to Twilio together."""

from __future__ import annotations

import random
import shutil
import threading
from dataclasses import replace

import pytest

from ivr.call import presence
from ivr.call.actions import DialFirstFree
from ivr.call.callstate import CallState
from ivr.call.presence import Presence, Staffing
from ivr.call.queueing import QueueEntry
from ivr.call.world import Outcome
from ivr.dispatcher.worker import Worker
from ivr.flows.catalog import load_catalog
from ivr.flows.directory import SUPERVISORS
from ivr.store import keys, presence_records
from ivr.store.calls import FREE_PER_GROUP, CallStore, Snapshot
from ivr.store.dispatch import HEAD
from ivr.store.presence_index import PresenceIndex
from tests.support import AUTH_TOKEN, PUBLIC_URL, ROOT, SEALER, put_in_line, put_presence
from tests.twilio_rest_stub import TwilioRestStub
from tests.twilio_sim import Twilio

GROUPS = ("billing", "technical", "outages", "moving", "cancellations", "general")


def many_people(folder, count: int) -> None:
    """A flows folder whose directory has `count` people, one supervisor in twenty."""
    shutil.copy(ROOT / "flows" / "support.yaml", folder)
    rows = ["agents:"]
    for n in range(count):
        role = "supervisor" if n % 20 == 0 else "agent"
        rows += [
            f"  - id: p{n:04d}",
            f"    name: Person {n}",
            f'    number: "+1500555{n:04d}"',
            f"    role: {role}",
            f"    groups: [{GROUPS[n % len(GROUPS)]}]",
        ]
    (folder / "agents.yaml").write_text("\n".join(rows) + "\n")


def bytes_sent(r) -> int:
    return int(r.info("stats")["total_net_output_bytes"])


def test_a_wait_document_reads_the_same_few_bytes_with_ten_or_three_thousand_waiting(make_app, r, clock, tmp_path):
    many_people(tmp_path, 300)
    app = make_app(FLOWS_DIR=str(tmp_path))
    directory = app.extensions["ivr"].catalog.directory
    for person in directory.agents:
        presence_records.set_status(r, person, presence.AWAY, clock.now)
    twilio = Twilio(app.test_client(), AUTH_TOKEN, PUBLIC_URL)

    def ahead(count: int, start: int) -> None:
        for n in range(start, start + count):
            put_in_line(r, QueueEntry(f"CA{n:032x}", clock.now - 10_000 + n, ("moving",), "riverlink-support"))
        for n in range(count // 3):  # and callers of another team, who are not ahead of a moving caller
            put_in_line(r, QueueEntry(f"CAbill{start + n:028x}", clock.now - 20_000 + n, ("billing",), "x"))

    ahead(10, 0)
    call = twilio.call().start()
    call.press("3")  # moving: everyone is away, so the caller waits in line
    assert call.enqueued()
    before = bytes_sent(r)
    call.wait(seconds=5)
    few = bytes_sent(r) - before
    assert "You are number 11 in line" in call.heard()

    ahead(3000, 10)
    before = bytes_sent(r)
    call.wait(seconds=25)
    many = bytes_sent(r) - before
    assert "You are number 3011 in line" in call.heard(), "only those waiting for the same people are ahead"
    assert many < 4000 and abs(many - few) < 200, f"{few} bytes with 10 ahead, {many} with 3,010"


def test_the_presence_indexes_always_say_what_the_records_say(r):
    """Claims, releases, bridges, misses, away and back, expiries, in a random order: after each, what a webhook
    reads of the indexes is what the records alone would say."""
    directory = load_catalog(ROOT / "flows").directory
    index = PresenceIndex(r)
    store = CallStore(r, SEALER)
    now = 1_800_000_000.0
    index.sync(directory, now)
    people = sorted(directory.agents)
    rng = random.Random(9)
    calls: dict[str, str] = {}  # CallSid -> the person it holds
    for step in range(300):
        now += rng.choice((0.5, 3, 40, 200))
        sid = f"CA{step:032x}"
        kind = rng.choice(("claim", "claim", "release", "miss", "bridge", "away", "back", "nothing"))
        state = CallState(call=sid, flow="riverlink-support", caller=None, number=None, started=now)
        if kind == "claim":
            candidates = tuple(directory.agents[p] for p in rng.sample(people, 3))
            if claimed := store.save(Outcome((DialFirstFree(candidates, 20),), state), Snapshot(), now, 3600):
                calls[sid] = claimed
        elif kind in ("release", "miss", "bridge") and calls:
            held_by, agent = rng.choice(sorted(calls.items()))
            held = state.but(call=held_by)
            if kind == "bridge":
                store.save(Outcome((), held, busy=(agent,)), Snapshot(), now, 3600)
            else:
                outcome = Outcome((), held, **{"release" if kind == "release" else "missed": (agent,)})
                store.save(outcome, Snapshot(), now, 3600)
                del calls[held_by]
        elif kind in ("away", "back"):
            status = presence.AWAY if kind == "away" else presence.AVAILABLE
            presence_records.set_status(r, rng.choice(people), status, now)
        seen = store.load(None, None, False, now, directory.sorted_groups).staffing
        truth = Staffing.from_records(presence_records.read_all(r), directory, now, first=FREE_PER_GROUP)
        assert (seen.free, seen.on_duty) == (
            {g: truth.free[g] for g in directory.sorted_groups},
            {g: truth.on_duty[g] for g in directory.sorted_groups},
        ), f"after step {step} ({kind})"


def test_indexes_follow_a_new_directory_and_come_back_after_redis_lost_them(r, make_app, tmp_path, clock):
    many_people(tmp_path, 40)
    app = make_app(FLOWS_DIR=str(tmp_path))
    services = app.extensions["ivr"]
    first = services.catalog.directory
    assert r.zcard(keys.free("moving")) == len(first.group("moving")), "built when the web process started"
    put_presence(r, "p0003", Presence(presence.AWAY, clock.now))
    r.delete(*r.keys(keys.free("*")), keys.people_version())  # a Redis that lost them
    worker = Worker(services.catalogs, r, None, PUBLIC_URL, clock=clock)
    worker.run_once()
    assert r.zcard(keys.free("moving")) == len(first.group("moving")) - 1, "rebuilt from the records: away stays away"
    text = (tmp_path / "agents.yaml").read_text().replace("groups: [moving]", "groups: [moving, billing]")
    (tmp_path / "agents.yaml").write_text(text.split("  - id: p0039")[0])  # and the last person leaves
    assert services.catalogs.check(), "the edit goes live in this process, and the indexes follow"
    moving, billing = len(first.group("moving")), len(first.group("billing"))
    # the movers answer for billing too now, but for p0003 (away) and p0039 (gone), both movers
    assert r.zcard(keys.free("billing")) == billing + moving - 2
    assert r.zscore(keys.free("*"), "p0039") is None, "who left is offered nothing"


@pytest.fixture
def rest():
    with TwilioRestStub(auth_token="rest-token", accept_any_call=True) as stub:
        yield stub


@pytest.fixture
def four_waiting_four_free(twilio, r, clock):
    """Four callers for the moving team, past the hold limit, and the two movers and two supervisors free."""
    people = ("alex", "mei", "rosa", "dev")
    for person in people:
        put_presence(r, person, Presence(presence.BUSY, 0, clock.now + 3600, "CAx"))
    waiting = []
    for _ in range(4):
        call = twilio.call().start()
        call.press("3")
        assert call.enqueued()
        waiting.append(call)
        clock.advance(seconds=1)
    clock.advance(seconds=60)  # supervisors take another team's callers once they waited the hold limit
    for person in people:  # their calls end
        put_presence(r, person, Presence(presence.AVAILABLE, clock.now), clock.now)
    return waiting


def test_a_rounds_hand_overs_go_to_twilio_together(app, four_waiting_four_free, rest, clock):
    """Each REST answer takes 3 s here: one after another, four hand-overs would take 12 s; sent together, all
    four reach Twilio before the first answer comes back."""
    worker = Worker(app.extensions["ivr"].catalogs, app.extensions["ivr"].redis, rest.client(10), PUBLIC_URL)
    worker.clock = clock
    rest.delay(3)
    done: list[str] = []
    round_ = threading.Thread(target=lambda: done.extend(worker.run_once()))
    round_.start()
    rest.wait_for(lambda: len(rest.updates()) == 4, timeout=2.5)
    round_.join(10)
    assert {u.call_sid for u in rest.updates()} == {c.sid for c in four_waiting_four_free} and len(done) == 4
    assert len({u.field("Url") for u in rest.updates()}) == 4, "one person each"


def test_a_caller_is_handed_over_however_many_people_of_other_teams_are_idle_longer(make_app, r, rest, clock, tmp_path):
    """300 people: the 250 of other teams free and idle for hours, the movers busy but for one who just came
    back. The one moving caller goes to that mover at once; nobody else reads as a candidate for them."""
    many_people(tmp_path, 300)
    app = make_app(FLOWS_DIR=str(tmp_path))
    directory = app.extensions["ivr"].catalog.directory
    movers = [a.id for a in directory.group("moving") if not a.is_supervisor]
    for person in directory.agents:  # everyone else free since long ago; the supervisors busy
        if person in movers or directory.agents[person].is_supervisor:
            put_presence(r, person, Presence(presence.BUSY, 0, clock.now + 3600, "CAx"))
    caller = QueueEntry("CA" + "5" * 32, clock.now - 30, ("moving",), "riverlink-support")
    put_in_line(r, caller)
    put_presence(r, movers[-1], Presence(presence.AVAILABLE, clock.now), clock.now)  # their call just ended
    worker = Worker(app.extensions["ivr"].catalogs, r, rest.client(), PUBLIC_URL, clock=clock)
    assert worker.run_once() == [f"connected call 555555 to {movers[-1]}"]


def test_a_line_that_starts_with_a_person_rings_one_for_a_new_caller(make_app, tmp_path):
    """An arrival reads who is free only when it may need it: a returning caller, or a line whose start leads
    to a person before any menu. Here the line greets, then goes to the moving team: the first caller is rung."""
    shutil.copy(ROOT / "flows" / "agents.yaml", tmp_path)
    (tmp_path / "movers.yaml").write_text(
        'numbers: ["+15005550006"]\n'
        "start: hello\n"
        "nodes:\n"
        "  hello:\n"
        "    type: message\n"
        "    say: Thanks for calling the movers.\n"
        "    next: team\n"
        "  team:\n"
        "    type: route\n"
        "    group: moving\n"
    )
    app = make_app(FLOWS_DIR=str(tmp_path))
    call = Twilio(app.test_client(), AUTH_TOKEN, PUBLIC_URL).call().start()
    assert "the movers" in call.heard()
    assert call.dialled() in (["+15005550101"], ["+15005550104"]), "alex or mei, the movers"


def named_agent_line(folder, movers: int = 10) -> None:
    """A line whose menu sends 1 to one named mover (the last), among `movers` movers and a supervisor."""
    rows = ["agents:", "  - id: sup", "    name: Sup", '    number: "+15005559000"', "    role: supervisor"]
    for n in range(movers):
        rows += [f"  - id: m{n}", f"    name: Mover {n}", f'    number: "+1500555{n:04d}"', "    groups: [moving]"]
    (folder / "agents.yaml").write_text("\n".join(rows) + "\n")
    (folder / "movers.yaml").write_text(
        'numbers: ["+15005550006"]\n'
        "start: hello\n"
        "settings:\n"
        '  fallback_number: "+15005559999"\n'
        "nodes:\n"
        "  hello:\n"
        "    type: menu\n"
        "    say: For your own mover, press 1.\n"
        "    options:\n"
        '      - key: "1"\n'
        "        next: mine\n"
        "  mine:\n"
        "    type: route\n"
        f"    agent: m{movers - 1}\n"
    )


def test_a_named_agent_free_but_idle_shortest_of_a_large_group_is_rung(make_app, r, clock, tmp_path):
    """The menu routes to one named mover, free but the latest to free up of ten: a webhook reads only the first
    few free people of each group, so the named person's own record must be read, or the caller goes to a
    supervisor while the person they chose is free."""
    named_agent_line(tmp_path)
    app = make_app(FLOWS_DIR=str(tmp_path))
    for n in range(10):  # every mover free, m9 the last to free up
        put_presence(r, f"m{n}", Presence(presence.AVAILABLE, clock.now - 1000 + n), clock.now)
    put_presence(r, "sup", Presence(presence.AVAILABLE, clock.now - 5000), clock.now)
    assert FREE_PER_GROUP < 9
    call = Twilio(app.test_client(), AUTH_TOKEN, PUBLIC_URL).call().start()
    call.press("1")
    assert call.dialled() == ["+15005550009"], "m9, the person the caller chose, not the supervisor"


def test_a_named_agent_busy_but_on_duty_is_waited_for(make_app, r, clock, tmp_path):
    """The named mover is on a call, the supervisor away: the caller waits in line for them, not sent to the
    fallback number as if nobody who could take them were on duty."""
    named_agent_line(tmp_path)
    app = make_app(FLOWS_DIR=str(tmp_path))
    for n in range(9):
        put_presence(r, f"m{n}", Presence(presence.AVAILABLE, clock.now - 1000 + n), clock.now)
    put_presence(r, "m9", Presence(presence.BUSY, 0, clock.now + 3600, "CAx"), clock.now)
    put_presence(r, "sup", Presence(presence.AWAY, clock.now), clock.now)
    call = Twilio(app.test_client(), AUTH_TOKEN, PUBLIC_URL).call().start()
    call.press("1")
    assert call.enqueued() and call.dialled() == [], "in line for m9, who takes a call when theirs ends"


def test_a_caller_behind_a_head_of_the_line_nobody_free_may_take_is_handed_over(app, r, rest, clock):
    """The supervisors' line starts with more entries than a round reads at first, none of them for the one free
    supervisor: callbacks Twilio refused (paused) and returning callers kept for their own person, on a call.
    The caller behind them is not stranded: the round reads further and hands them to the supervisor."""
    for person in ("alex", "priya", "jordan", "mei"):
        put_presence(r, person, Presence(presence.BUSY, 0, clock.now + 3600, "CAx"), clock.now)
    put_presence(r, "rosa", Presence(presence.AWAY, clock.now), clock.now)
    put_presence(r, "dev", Presence(presence.AVAILABLE, clock.now - 100), clock.now)
    since = clock.now - 300
    for n in range(HEAD // 2 + 1):
        paused = QueueEntry(f"cb:CA{n:032x}", since + n, (SUPERVISORS,), "riverlink-support", not_before=clock.now + 60)
        kept = QueueEntry(f"CAa{n:031x}", since + n + 0.5, ("billing", SUPERVISORS), "riverlink-support", "alex")
        put_in_line(r, paused)
        put_in_line(r, replace(kept, prefer_until=clock.now + 120))
    put_in_line(r, QueueEntry("CA" + "7" * 32, since + 100, (SUPERVISORS,), "riverlink-support"))
    assert r.zcard(keys.line(SUPERVISORS)) > HEAD + 1
    worker = Worker(app.extensions["ivr"].catalogs, r, rest.client(), PUBLIC_URL, clock=clock)
    assert worker.run_once() == ["connected call 777777 to dev"]
