"""Several hosts on one Redis: two web servers (the Procfile's gunicorn) and two dispatchers, each a process of
its own, with each call's webhooks alternating between the web servers. Every free person gets one hand-over
at a time, every caller is handed over once, every callback is placed exactly once, and presence ends true."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
import requests

from ivr.call import presence
from ivr.call.callstate import WrapUp
from ivr.call.queueing import QueueEntry
from ivr.call.world import Outcome
from ivr.store import keys, presence_records, wrap_ups
from ivr.store.calls import CallStore, Snapshot
from ivr.store.embedded_redis import EmbeddedRedis, free_port
from tests.support import (
    AUTH_TOKEN,
    DATA_KEYS,
    PUBLIC_URL,
    ROOT,
    SEALER,
    put_presence,
    wait_for_health,
    wait_until,
)
from tests.test_worker import agent_leg, post_doc
from tests.twilio_rest_stub import TwilioRestStub
from tests.twilio_sim import Twilio

PEOPLE = {"alex": "+15005550101", "mei": "+15005550104"}  # the moving team (flows/agents.yaml)


class Reply:
    def __init__(self, response: requests.Response):
        self.status_code = response.status_code
        self._text = response.text

    def get_data(self, as_text: bool = False) -> str:
        return self._text


class AlternatingHosts:
    """Posts each call's webhooks to the web servers in turn, as a load balancer would spread them."""

    def __init__(self, bases: list[str]):
        self.bases = bases
        self.sent: Counter = Counter()  # CallSid -> webhooks sent
        self.served: Counter = Counter()  # base -> webhooks answered
        self.session = requests.Session()

    def post(self, path: str, data: dict, headers: dict) -> Reply:
        call = data.get("ParentCallSid") or data["CallSid"]
        base = self.bases[self.sent[call] % len(self.bases)]
        self.sent[call] += 1
        self.served[base] += 1
        return Reply(self.session.post(base + path, data=data, headers=headers, timeout=10))


def start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


@pytest.fixture
def line(tmp_path):
    """Redis, the REST stand-in, two web servers and two dispatchers; everything stopped afterwards."""
    processes: list[subprocess.Popen] = []
    with EmbeddedRedis(tmp_path / "redis", persist=False) as server, TwilioRestStub(auth_token=AUTH_TOKEN) as rest:
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "TWILIO_AUTH_TOKEN", "PUBLIC_URL")}
        env.update(
            REDIS_URL=server.url,
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            TWILIO_ACCOUNT_SID=rest.account_sid,
            TWILIO_API_BASE=rest.url,
            DATA_KEYS=DATA_KEYS,
            PUBLIC_URL=PUBLIC_URL,
            FLOWS_DIR=str(ROOT / "flows"),
            AUDIO_CACHE=str(tmp_path / "audio-cache"),
            WEB_CONCURRENCY="1",
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        )
        web = next(x for x in (ROOT / "Procfile").read_text().splitlines() if x.startswith("web:"))[4:].strip()
        bases = []
        try:
            for n in (1, 2):
                port = free_port()
                processes.append(
                    start(["bash", "-c", f"exec {web}"], {**env, "PORT": str(port)}, tmp_path / f"web{n}.log")
                )
                bases.append(f"http://127.0.0.1:{port}")
            for n in (1, 2):
                processes.append(start([sys.executable, "-m", "ivr.dispatcher"], env, tmp_path / f"worker{n}.log"))
            for base, process in zip(bases, processes, strict=False):
                wait_for_health(base, process)
            r = redis.Redis.from_url(server.url, decode_responses=True)
            yield r, rest, AlternatingHosts(bases)
            r.close()
        finally:
            for process in processes:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def test_two_web_servers_and_two_dispatchers_hand_each_caller_over_once(line):
    r, rest, hosts = line
    twilio = Twilio(hosts, AUTH_TOKEN, PUBLIC_URL)
    for person in PEOPLE:  # on other calls, live as far as Twilio knows
        on = presence.Presence(presence.BUSY, 0, time.time() + 3600, rest.add_call())
        put_presence(r, person, on)
    for person in ("rosa", "dev", "priya", "jordan"):  # nobody else steps in
        presence_records.set_status(r, person, presence.AWAY, time.time())
    callers = []
    for n in range(4):
        call = twilio.call(f"+1415555031{n}").start()
        rest.add_call(call.sid)
        call.press("3")  # moving
        assert call.enqueued(), call.xml
        callers.append(call)
    requests_ids = []
    store = CallStore(r, SEALER)
    for n in range(2):  # two callback requests, written as the callback webhook writes them
        request_id = f"CAcallback{n}"
        entry = QueueEntry(f"cb:{request_id}", time.time(), ("moving",), "riverlink-support")
        request = {"id": request_id, "number": f"+1415555032{n}", "flow": "riverlink-support", "since": entry.since}
        store.save(Outcome((), None, enqueue=entry, callback=request), Snapshot(), time.time(), 3600)
        requests_ids.append(request_id)
    assert hosts.served[hosts.bases[0]] and hosts.served[hosts.bases[1]], "both web servers answered"

    for person in PEOPLE:  # both free at once: the two dispatchers race for them
        put_presence(r, person, presence.Presence(presence.AVAILABLE, time.time()))  # their calls ended
    by_sid = {c.sid: c for c in callers}
    handled = 0

    def hand_overs() -> list:
        """Redirects of waiting callers and callback calls placed to people, not yet played out."""
        return [x for x in rest.requests() if x.kind in ("update", "create")][handled:]

    while handled < len(callers) + len(requests_ids):
        wait_until(hand_overs)
        time.sleep(0.3)  # any second hand-over racing for the same person would have arrived by now
        pending = hand_overs()
        targets = [person_of(x) for x in pending]
        seen = [(x.kind, x.call_sid, x.field("Url")) for x in pending]
        assert len(targets) == len(set(targets)) <= len(PEOPLE), f"a person was handed two calls at once: {seen}"
        hand_over = pending[0]
        if hand_over.kind == "update":
            finish_handed_over_call(by_sid[hand_over.call_sid], hand_over, rest, r)
        else:
            finish_callback(twilio, hand_over, rest, r)
        handled += 1

    updates = Counter(x.call_sid for x in rest.requests("update"))
    assert updates == Counter({c.sid: 1 for c in callers}), "every caller handed over exactly once"
    creates = Counter(query(x.field("Url"))["request"] for x in rest.creates())
    assert creates == Counter({rid: 1 for rid in requests_ids}), "every callback placed exactly once"
    assert [r.hget(keys.callback(rid), "status") for rid in requests_ids] == ["done", "done"]
    wait_until(
        lambda: all(presence_records.parse(r.hget(keys.presence(), p)).status == presence.AVAILABLE for p in PEOPLE)
    )
    assert r.zrange(keys.queue(), 0, -1) == []


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def person_of(request) -> str:
    if request.kind == "update":
        return query(request.field("Url"))["agent"]
    return next(p for p, number in PEOPLE.items() if number == request.field("To"))


def finish_handed_over_call(call, update, rest, r) -> None:
    """The caller, redirected, hears the person rung; the person takes the call, they talk, the caller hangs up;
    the person wraps up (as the console does), so is free for the next."""
    call.post(update.field("Url"))
    assert call.dial() is not None, call.xml
    call.agent_answers()
    rest.set_status(call.sid, "completed")
    call.hangup()
    taken = wrap_ups.taken(r, call.sid)
    assert wrap_ups.wrap_up(r, taken, WrapUp("resolved", "", taken.agent, time.time())), "freed by the wrap-up"


def finish_callback(twilio, create, rest, r) -> None:
    """Twilio places the call to the person: they hear the whisper, press 1, talk to the customer, hang up;
    the person wraps up (as the console does), so is free for the next."""
    leg = next(c.sid for c in rest.calls().values() if c.to == create.field("To") and c.status == "queued")
    rest.set_status(leg, "in-progress")
    doc = post_doc(twilio, create.field("Url"), agent_leg(twilio, create, CallSid=leg))
    doc = post_doc(twilio, doc.find("Gather").get("action"), agent_leg(twilio, create, CallSid=leg, Digits="1"))
    dialled = agent_leg(twilio, create, CallSid=leg, DialCallStatus="completed", DialCallDuration="30")
    post_doc(twilio, doc.find("Dial").get("action"), dialled)
    rest.set_status(leg, "completed")
    post_doc(twilio, create.field("StatusCallback"), agent_leg(twilio, create, CallSid=leg, CallStatus="completed"))
    request = query(create.field("Url"))["request"]
    taken = wrap_ups.taken(r, request)
    assert wrap_ups.wrap_up(r, taken, WrapUp("resolved", "", taken.agent, time.time())), "freed by the wrap-up"
