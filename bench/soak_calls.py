"""The simulated phone network of bench/chaos_soak.py: Twilio's voice side, over HTTP, in compressed time.

Callers (one thread each) place calls to the line and follow the TwiML that comes back as Twilio would:
Gather (keys, words, or silence), Redirect, Dial (a person's phone rings: the whisper on the agent's leg,
then the Dial action), Enqueue (the wait document fetched every few seconds, keys pressed while holding,
<Leave/> and the Enqueue action), Record, Hangup, and the status callback at the end. Every webhook is
signed with twilio's RequestValidator over PUBLIC_URL + path, and each call's webhooks alternate between
the web servers. Every answer is checked: status 200 and TwiML valid against Twilio's XSD
(tests/twilio_sim.assert_valid_twiml).

The REST stand-in (tests/twilio_rest_stub.TwilioRestStub) is kept truthful: every inbound call is known
to it while it lasts (add_call) and completed when it hangs up (set_status), a caller in line leaves its
wait loop for the Url the dispatcher redirects it to, and every call the dispatcher creates (a callback)
is answered by the person's phone, which then dials the customer.

The people's phones are simulated too: each is on at most one call, and a ring to a phone already on a
call answers "busy" (and is counted: the service should never ring a person it knows to be on a call).
"""

from __future__ import annotations

import random
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
import yaml
from twilio.request_validator import RequestValidator

from tests.twilio_rest_stub import ENDED, TwilioRestStub
from tests.twilio_sim import assert_valid_twiml

LINE = "+15005550006"
PUBLIC_URL = "https://ivr.example.com"
WEBHOOK_TIMEOUT = 15.0  # Twilio gives up on a webhook after 15 s
MAX_HOPS = 400  # documents one call may follow before the sim calls it a loop
WAIT_FETCH_SECONDS = (3.0, 5.0)  # Twilio refetches the wait document about every 20 s; compressed
TALK_SECONDS = (2.0, 8.0)  # a conversation, compressed
RING_SECONDS = (0.4, 1.5)  # a phone rings this long before it is picked up (or given up on)
LISTEN_SECONDS = (0.3, 1.0)  # a caller listens this long to a menu before answering it
PAUSE_SCALE = 0.25  # a <Pause length="N"> lasts N / 4 seconds
NEXT_CALL_SECONDS = (1.0, 5.0)  # a caller thread waits this long before its next call
PATIENCE_SECONDS = (20.0, 150.0)  # how long a caller holds before hanging up (if nobody takes them)

# What a caller does at the menus, and how often: (weight, steps). A step is keys, "say:words",
# "silence" or "hangup"; once the steps run out, a caller still at a menu presses 0.
PLANS = {
    "zero": (18, ["0"]),
    "agent": (14, ["say:agent"]),
    "silence": (10, ["silence", "silence"]),
    "moving (3)": (24, ["3"]),
    "billing question": (10, ["1", "1"]),
    "technical": (9, ["2"]),
    "self-serve": (8, ["1", "2", "9"]),
    "hang up in menu": (7, ["hangup"]),
}
NOT_FOR_A_PERSON = ("self-serve", "hang up in menu")  # plans that never asked for a person
# How the phone of a person rung with the whisper is handled: (weight, fate).
RING_FATES = ((78, "answer"), (8, "decline"), (4, "silent"), (10, "no-answer"))
CALLBACK_FATES = ((87, "answer"), (7, "pass"), (6, "no-answer"))  # the person's phone, for a callback
CUSTOMER_ANSWERS = 0.85  # a customer called back picks up this often


class InvalidTwiml(Exception):
    pass


class TwimlChecker:
    """assert_valid_twiml, remembered per document (most documents repeat: menus, hold messages)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._seen: dict[str, ET.Element | str] = {}

    def check(self, xml: str) -> ET.Element:
        with self._lock:
            found = self._seen.get(xml)
            if found is None:
                try:
                    found = assert_valid_twiml(xml)
                except Exception as exc:  # the XSD's error, a parse error or a failed assertion
                    found = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
                if len(self._seen) > 50_000:
                    self._seen.clear()
                self._seen[xml] = found
        if isinstance(found, str):
            raise InvalidTwiml(found)
        return found


class Stats:
    """Everything the simulated network saw. Counters are only changed under the lock."""

    def __init__(self, t0: float):
        self.t0 = t0
        self.lock = threading.Lock()
        self.webhooks = 0
        self.by_path: Counter[str] = Counter()
        self.non_200: Counter[tuple[str, str]] = Counter()  # (path, status or the error of a request with no answer)
        self.non_200_times: list[float] = []
        self.invalid: Counter[str] = Counter()
        self.invalid_examples: list[str] = []
        self.latencies: list[float] = []
        self.degraded_times: list[float] = []  # answers that were the degraded ring-everyone
        self.degraded_spans: list[tuple[float, float]] = []  # per call: first and last degraded answer
        self.fallback_url_used = 0
        self.calls = 0
        self.calls_ended = 0
        self.plans: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.repeat_calls = 0
        self.wanted_person = 0
        self.never_offered: list[str] = []
        self.confirmed: dict[str, str] = {}  # callback request id (the caller's CallSid) -> the number confirmed
        self.confirmed_at: dict[str, float] = {}
        self.callback_legs = 0
        self.legs_for: Counter[str] = Counter()  # request id -> calls created for it
        self.leg_log: dict[str, list[str]] = defaultdict(list)  # request id -> "t agent: outcome" per call
        self.leg_outcomes: Counter[str] = Counter()
        self.dialled: Counter[str] = Counter()  # request id -> dials to the customer
        self.reached: Counter[str] = Counter()  # request id -> dials the customer answered
        self.reached_at: dict[str, list[float]] = defaultdict(list)
        self.wrong_number: list[str] = []
        self.rung_busy: list[str] = []  # a person rung (whisper or callback) while on a call the service knew of
        self.odd: Counter[str] = Counter()  # anything else Twilio would find strange
        self.stray_redirects: list[str] = []  # REST redirects of calls that were not waiting in line
        self.sim_errors: list[str] = []

    def now(self) -> float:
        return time.monotonic() - self.t0

    def count(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.odd[name] += n


class Phones:
    """The people's phones (from agents.yaml): each is on at most one call at a time."""

    def __init__(self, agents_file: Path):
        people = yaml.safe_load(agents_file.read_text())["agents"]
        self.address = {p["id"]: p.get("number") or f"client:{p['client']}" for p in people}
        self.by_address = {address: agent for agent, address in self.address.items()}
        self._lock = threading.Lock()
        self._on: dict[str, tuple[str, str]] = {}  # agent -> (CallSid, kind: "call", "callback" or "degraded")

    def agent_for(self, tag: str, text: str) -> str | None:
        return self.by_address.get(text if tag == "Number" else f"client:{text}")

    def seize(self, agent: str, sid: str, kind: str) -> tuple[bool, tuple[str, str] | None]:
        with self._lock:
            holder = self._on.get(agent)
            if holder is not None:
                return False, holder
            self._on[agent] = (sid, kind)
            return True, None

    def release(self, agent: str, sid: str) -> None:
        with self._lock:
            if self._on.get(agent, ("", ""))[0] == sid:
                del self._on[agent]

    def on_calls(self) -> dict[str, tuple[str, str]]:
        with self._lock:
            return dict(self._on)


class Numbers:
    """The callers' phone numbers: a pool, so some call again; a number is on one call at a time."""

    def __init__(self, size: int, rng: random.Random):
        self._free = [f"+1415556{n:04d}" for n in rng.sample(range(10_000), size)]
        self._lock = threading.Lock()
        self.used: Counter[str] = Counter()

    def take(self, rng: random.Random) -> str:
        with self._lock:
            number = self._free.pop(rng.randrange(len(self._free)))
            self.used[number] += 1
            return number

    def give_back(self, number: str) -> None:
        with self._lock:
            self._free.append(number)


class QueueBook:
    """Who Twilio has in each of its queues, in order (for QueuePosition and CurrentQueueSize)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._queues: dict[str, list[str]] = defaultdict(list)

    def join(self, name: str, sid: str) -> None:
        with self._lock:
            self._queues[name].append(sid)

    def leave(self, name: str, sid: str) -> None:
        with self._lock:
            if sid in self._queues[name]:
                self._queues[name].remove(sid)

    def position(self, name: str, sid: str) -> tuple[int, int]:
        with self._lock:
            queue = self._queues[name]
            return (queue.index(sid) + 1 if sid in queue else 1), max(1, len(queue))

    def waiting(self) -> int:
        with self._lock:
            return sum(len(q) for q in self._queues.values())


class Network:
    """What every simulated call shares: the servers, the REST stand-in, the phones, the counters."""

    def __init__(self, stub: TwilioRestStub, servers: list[str], token: str, agents_file: Path, stats: Stats):
        self.stub = stub
        self.servers = servers
        self.validator = RequestValidator(token)
        self.checker = TwimlChecker()
        self.phones = Phones(agents_file)
        self.stats = stats
        self.queues = QueueBook()
        self.ending = threading.Event()  # the soak is over: callers hang up at their next chance
        self.halt = threading.Event()  # Ctrl-C: everything stops now
        self.live_calls: set[str] = set()
        self.lock = threading.Lock()  # guards live_calls

    def sleep(self, seconds: float) -> None:
        self.halt.wait(seconds)


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def said(element: ET.Element) -> str:
    return " ".join(" ".join(e.itertext()).strip() for e in element.iter("Say"))


def new_sid() -> str:
    return "CA" + secrets.token_hex(16)


def pick(rng: random.Random, weighted) -> str:
    return rng.choices([name for _, name in weighted], weights=[w for w, _ in weighted])[0]


class Leg:
    """One call leg's webhooks: signed, alternating between the servers, every answer checked."""

    def __init__(self, net: Network, sid: str, rng: random.Random):
        self.net = net
        self.sid = sid
        self.rng = rng
        self.session = requests.Session()
        self.turn = [0]  # webhooks sent on this call (its agent legs share it): they alternate between servers
        self.failed_path: str | None = None
        self.last_path = ""

    def params(self, **extra) -> dict[str, str]:
        raise NotImplementedError

    def post(self, target: str, **extra) -> ET.Element | None:
        """POST the webhook; the parsed TwiML, or None when Twilio would have had no usable answer."""
        path = target.removeprefix(PUBLIC_URL)
        self.last_path = path
        server = self.net.servers[self.turn[0] % len(self.net.servers)]
        self.turn[0] += 1
        params = self.params(**{k: v for k, v in extra.items() if v is not None})
        signature = self.net.validator.compute_signature(PUBLIC_URL + path, params)
        bare = path.split("?", 1)[0]
        stats = self.net.stats
        started = time.monotonic()
        try:
            response = self.session.post(
                server + path, data=params, headers={"X-Twilio-Signature": signature}, timeout=WEBHOOK_TIMEOUT
            )
            status, body = response.status_code, response.text
        except requests.RequestException as exc:
            status, body = type(exc).__name__, ""
        took = time.monotonic() - started
        with stats.lock:
            stats.webhooks += 1
            stats.by_path[bare] += 1
            stats.latencies.append(took)
            if status != 200:
                stats.non_200[(bare, str(status))] += 1
                stats.non_200_times.append(stats.now())
        if status != 200:
            self.failed_path = bare
            return None
        try:
            doc = self.net.checker.check(body)
        except InvalidTwiml as exc:
            with stats.lock:
                stats.invalid[bare] += 1
                if len(stats.invalid_examples) < 5:
                    stats.invalid_examples.append(f"{bare}: {exc}")
            self.failed_path = bare
            return None
        dial = doc.find("Dial")
        if dial is not None and (dial.get("action") or "").startswith("/voice/fallback/dialled"):
            with stats.lock:
                stats.degraded_times.append(stats.now())
            self.degraded(stats.now())
        return doc

    def degraded(self, now: float) -> None:
        """An answer of this leg was the degraded ring (a caller's leg keeps when)."""
        return None


class InboundCall(Leg):
    """A caller's call to the line, from the first /voice to the status callback."""

    def __init__(self, net: Network, number: str, rng: random.Random, session: requests.Session, anonymous=False):
        super().__init__(net, new_sid(), rng)
        self.session = session  # the caller thread's keep-alive connections, reused call after call
        self.number = number  # the phone the caller holds (the one called back)
        self.from_ = "anonymous" if anonymous else number
        self.plan_name = pick(rng, [(w, name) for name, (w, _) in PLANS.items()])
        self.steps = list(PLANS[self.plan_name][1])
        self.patience = rng.uniform(*PATIENCE_SECONDS)
        self.wants_callback = rng.random() < 0.5
        self.wants_message = rng.random() < 0.08
        self.offered = False
        self.outcome = ""
        self.doing = "calling"  # what the caller is doing now, for the report of a stray redirect
        self.degraded_span: tuple[float, float] | None = None
        self.over = False
        self.updates_seen = 0
        self.started = 0.0
        self.stub_call = None

    def params(self, **extra) -> dict[str, str]:
        base = {
            "CallSid": self.sid,
            "AccountSid": self.net.stub.account_sid,
            "From": self.from_,
            "Caller": self.from_,
            "To": LINE,
            "Called": LINE,
            "CallStatus": "in-progress",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }
        base.update(extra)
        return base

    # --- the call ---
    def run(self) -> None:
        stats = self.net.stats
        self.stub_call = self.net.stub.call(self.net.stub.add_call(self.sid, from_=self.from_, to=LINE))
        self.started = time.monotonic()
        with stats.lock:
            stats.calls += 1
            stats.plans[self.plan_name] += 1
        with self.net.lock:
            self.net.live_calls.add(self.sid)
        try:
            doc = self.post("/voice", CallStatus="ringing")
            if doc is None:  # the number's "primary handler fails" URL, as the README tells deployers to set
                with stats.lock:
                    stats.fallback_url_used += 1
                doc = self.post("/voice/fallback", CallStatus="ringing")
            hops = 0
            while doc is not None and not self.net.halt.is_set():
                hops += 1
                if hops > MAX_HOPS:
                    self.outcome = "too many documents (a loop?)"
                    break
                doc = self.play(doc)
            if doc is None and self.failed_path and not self.outcome:
                self.outcome = f"ended by a failed webhook ({self.failed_path})"
        except Exception as exc:  # a bug of the sim: counted and shown, never hidden
            with stats.lock:
                stats.sim_errors.append(f"{type(exc).__name__}: {exc}")
            self.outcome = "sim error"
        finally:
            self.hang_up()

    def hang_up(self) -> None:
        self.end_at_twilio()
        self.post("/voice/status", CallStatus="completed", CallDuration=str(int(time.monotonic() - self.started)))
        stats = self.net.stats
        with self.net.lock:
            self.net.live_calls.discard(self.sid)
        wanted = self.plan_name not in NOT_FOR_A_PERSON and self.outcome != "hung up at the soak's end"
        with stats.lock:
            stats.calls_ended += 1
            stats.outcomes[self.outcome or "ended (document over)"] += 1
            if self.degraded_span:
                stats.degraded_spans.append(self.degraded_span)
            if wanted:
                stats.wanted_person += 1
                if not self.offered:
                    stats.never_offered.append(f"...{self.sid[-6:]} plan={self.plan_name} outcome={self.outcome}")

    def degraded(self, now: float) -> None:
        self.degraded_span = (self.degraded_span[0] if self.degraded_span else now, now)

    def end_at_twilio(self) -> None:
        """The caller hangs up: Twilio knows at once (before any webhook says so)."""
        if not self.over:
            self.over = True
            self.net.stub.set_status(self.sid, "completed")

    def listen(self, span=LISTEN_SECONDS) -> None:
        self.net.sleep(self.rng.uniform(*span))

    def redirected(self) -> str | None:
        """The Url of a REST API update (the dispatcher's hand-over) not yet followed, if any."""
        updates = self.stub_call.updates
        if len(updates) <= self.updates_seen:
            return None
        form = updates[-1]
        self.updates_seen = len(updates)
        return (form.get("Url") or [None])[0]

    def play(self, doc: ET.Element) -> ET.Element | None:
        """Run one document as Twilio would; the next document, or None when the call is over."""
        url = None if doc.find("Enqueue") is not None else self.redirected()  # (enqueue() takes a hand-over)
        if url:  # a hand-over of a caller who is not in line: Twilio would follow it anyway
            stats = self.net.stats
            came = [r.time - stats.t0 for r in self.net.stub.updates(self.sid)]
            with stats.lock:
                stats.stray_redirects.append(
                    f"...{self.sid[-6:]} redirected to {url.removeprefix(PUBLIC_URL)} at t={came[-1]:.1f}s "
                    f"while {self.doing} (last webhook {self.last_path}; hand-overs of this call at "
                    f"{', '.join(f'{t:.1f}' for t in came)} s)"
                )
            return self.post(url)
        for element in doc:
            tag = element.tag
            if tag == "Pause":
                self.net.sleep(min(5.0, float(element.get("length") or 1) * PAUSE_SCALE))
            elif tag == "Say" and "call you at" in (element.text or "") and doc.find("Hangup") is not None:
                with self.net.stats.lock:
                    self.net.stats.confirmed[self.sid] = self.number
                    self.net.stats.confirmed_at[self.sid] = self.net.stats.now()
                self.outcome = "asked for a callback"
            elif tag == "Say" and "Goodbye" in (element.text or "") and not self.outcome:
                self.outcome = "self-served" if self.plan_name == "self-serve" else "heard goodbye"
            elif tag == "Gather":
                return self.gather(element, doc)
            elif tag == "Redirect":
                return self.post((element.text or "").strip())
            elif tag == "Dial":
                self.offered = self.offered or any(c.tag in ("Number", "Client") for c in element)
                result = self.dial(element)
                if element.get("action"):
                    return self.post(element.get("action"), **result)
            elif tag == "Enqueue":
                self.offered = True
                return self.enqueue(element)
            elif tag == "Record":
                return self.record(element)
            elif tag == "Hangup":
                return None
        return None  # the document is over: Twilio hangs up

    def gather(self, gather: ET.Element, doc: ET.Element) -> ET.Element | None:
        action = gather.get("action") or ""
        node = query(action).get("node", "")
        self.doing = f"at the menu {node or '?'}"
        self.listen()
        if self.net.ending.is_set():
            self.outcome = "hung up at the soak's end"
            return None
        if node == "@callback":
            return self.post(action, Digits="1")
        if node == "@callback_number":
            return self.post(action, Digits=self.number.removeprefix("+"), FinishedOnKey="#")
        if node == "@hold":
            return self.post(action)
        step = self.steps.pop(0) if self.steps else "0"
        if step == "hangup":
            self.outcome = "hung up in the menu"
            return None
        if step == "silence":
            redirect = doc.find("Redirect")
            if redirect is not None and self.rng.random() < 0.5:  # the Gather timed out and fell through
                return self.post((redirect.text or "").strip())
            return self.post(action)  # actionOnEmptyResult: the action without Digits
        if step.startswith("say:"):
            return self.post(action, SpeechResult=step[4:], Confidence="0.9")
        return self.post(action, Digits=step)

    # --- ringing people ---
    def dial(self, dial: ET.Element) -> dict[str, str]:
        """Ring what the <Dial> names; the parameters of its action."""
        nouns = [(c.tag, (c.text or "").strip(), c.get("url")) for c in dial if c.tag in ("Number", "Client")]
        phones = self.net.phones
        if len(nouns) == 1 and nouns[0][2]:
            agent = phones.agent_for(nouns[0][0], nouns[0][1])
            if agent is not None:
                return self.ring_with_whisper(agent, nouns[0])
        # Several phones at once (the degraded ring), or a number outside the directory: the first free one answers.
        self.doing = f"ringing {len(nouns)} phones at once"
        self.listen(RING_SECONDS)
        order = list(nouns)
        self.rng.shuffle(order)
        for tag, text, _ in order:
            agent = phones.agent_for(tag, text)
            if agent is None:
                return self.talk(None, new_sid())  # a phone outside the directory (a fallback line) answers
            seized, _ = phones.seize(agent, self.sid, "degraded")
            if seized:
                return self.talk(agent, new_sid())
        return {"DialCallStatus": "no-answer", "DialBridged": "false", "DialCallDuration": "0"}

    def ring_with_whisper(self, agent: str, noun: tuple[str, str, str]) -> dict[str, str]:
        phones, stats = self.net.phones, self.net.stats
        self.doing = f"ringing {agent}"
        seized, holder = phones.seize(agent, self.sid, "call")
        if not seized:
            if holder[1] in ("call", "callback"):
                with stats.lock:
                    stats.rung_busy.append(
                        f"t={stats.now():.0f}s {agent} rung for ...{self.sid[-6:]} "
                        f"while on ...{holder[0][-6:]} ({holder[1]})"
                    )
            else:
                stats.count("person rung while on a degraded-mode call (the service could not know)")
            self.listen(RING_SECONDS)
            return {"DialCallStatus": "busy", "DialBridged": "false", "DialCallDuration": "0"}
        try:
            fate = pick(self.rng, RING_FATES)
            self.listen(RING_SECONDS)
            if fate == "no-answer":
                return {"DialCallStatus": "no-answer", "DialBridged": "false", "DialCallDuration": "0"}
            leg = new_sid()
            tag, text, url = noun
            agent_leg = AgentLeg(self, leg, text if tag == "Number" else f"client:{text}")
            whisper = agent_leg.post(url)
            if whisper is None or not agent_leg.takes(whisper, fate):
                phones.release(agent, self.sid)
                return {
                    "DialCallStatus": "completed",
                    "DialBridged": "false",
                    "DialCallDuration": "0",
                    "DialCallSid": leg,
                }
            return self.talk(agent, leg)
        finally:
            phones.release(agent, self.sid)

    def talk(self, agent: str | None, leg: str) -> dict[str, str]:
        self.doing = f"talking with {agent or 'a number outside the directory'}"
        seconds = self.rng.uniform(*TALK_SECONDS)
        self.net.sleep(seconds)
        if agent:
            self.net.phones.release(agent, self.sid)  # the person hangs up: their phone is free before the action
        self.outcome = "talked to a person"
        return {
            "DialCallStatus": "completed",
            "DialBridged": "true",
            "DialCallDuration": str(max(1, round(seconds))),
            "DialCallSid": leg,
        }

    # --- holding in line ---
    def enqueue(self, enqueue: ET.Element) -> ET.Element | None:
        name = (enqueue.text or "").strip()
        wait_url, action = enqueue.get("waitUrl"), enqueue.get("action")
        since = time.monotonic()
        queue_sid = "QU" + secrets.token_hex(16)
        self.net.queues.join(name, self.sid)
        self.doing = "holding in line"
        try:
            while not self.net.halt.is_set():
                url = self.redirected()
                if url:  # handed over by the dispatcher through the REST API
                    self.net.queues.leave(name, self.sid)
                    # Twilio requests the Enqueue action at once (QueueResult=redirected; its TwiML is not
                    # played: the call goes where the REST API sent it), then fetches the new Url.
                    waited = str(int(time.monotonic() - since))
                    self.post(action, QueueResult="redirected", QueueTime=waited, QueueSid=queue_sid)
                    return self.post(url)
                waited = str(int(time.monotonic() - since))
                if self.net.ending.is_set() or time.monotonic() - since > self.patience:
                    self.outcome = "hung up at the soak's end" if self.net.ending.is_set() else "hung up while waiting"
                    self.end_at_twilio()
                    self.net.queues.leave(name, self.sid)
                    self.post(action, QueueResult="hangup", QueueTime=waited, QueueSid=queue_sid)
                    return None
                position, size = self.net.queues.position(name, self.sid)
                doc = self.post(
                    wait_url,
                    QueueTime=waited,
                    AvgQueueTime=waited,
                    QueuePosition=str(position),
                    CurrentQueueSize=str(size),
                    QueueSid=queue_sid,
                )
                if doc is not None:
                    left = self.hold(doc)
                    if left:
                        self.net.queues.leave(name, self.sid)
                        waited = str(int(time.monotonic() - since))
                        return self.post(action, QueueResult="leave", QueueTime=waited, QueueSid=queue_sid)
                self.pause(self.rng.uniform(*WAIT_FETCH_SECONDS))
            return None
        finally:
            self.net.queues.leave(name, self.sid)

    def pause(self, seconds: float) -> None:
        """Hold music: wait, but stop at once when a REST redirect comes (Twilio interrupts the wait)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.net.halt.is_set():
            if len(self.stub_call.updates) > self.updates_seen:
                return
            self.net.sleep(0.25)

    def hold(self, doc: ET.Element) -> bool:
        """Play a wait document; True if the caller leaves the queue (<Leave/>)."""
        for element in doc:
            if element.tag == "Leave":
                return True
            if element.tag == "Gather":
                text = said(element)
                key = None
                if "call you back" in text and self.wants_callback:
                    key = "1"
                elif "leave a message" in text and self.wants_message:
                    key = "2"
                elif self.rng.random() < 0.04:
                    key = "0"
                if key is None:
                    return False
                self.listen()
                reply = self.post(element.get("action"), Digits=key)
                if reply is not None and reply.find("Leave") is None and reply.find("Dial") is not None:
                    self.net.stats.count("a <Dial> answered to a key pressed while holding")
                return reply is not None and reply.find("Leave") is not None
            if element.tag in ("Dial", "Enqueue", "Record", "Redirect", "Hangup"):
                self.net.stats.count(f"<{element.tag}> in a wait document")
        return False

    def record(self, record: ET.Element) -> ET.Element | None:
        self.doing = "leaving a message"
        self.listen()
        seconds = str(self.rng.randint(3, 20))
        recording = "RE" + secrets.token_hex(16)
        url = f"https://api.twilio.com/2010-04-01/Accounts/{self.net.stub.account_sid}/Recordings/{recording}"
        extra = {"RecordingUrl": url, "RecordingDuration": seconds, "RecordingSid": recording}
        doc = self.post(record.get("action"), Digits="#", **extra)
        if record.get("recordingStatusCallback"):
            self.post(record.get("recordingStatusCallback"), RecordingStatus="completed", **extra)
        self.outcome = "left a message"
        return doc


class AgentLeg(Leg):
    """The leg Twilio places to the person a caller's <Dial> rings: the whisper, and the key they press."""

    def __init__(self, call: InboundCall, sid: str, to: str):
        super().__init__(call.net, sid, call.rng)
        self.session = call.session
        self.turn = call.turn
        self.call = call
        self.to = to

    def params(self, **extra) -> dict[str, str]:
        return {
            "CallSid": self.sid,
            "ParentCallSid": self.call.sid,
            "AccountSid": self.net.stub.account_sid,
            "From": self.call.from_,
            "To": self.to,
            "CallStatus": "in-progress",
            "Direction": "outbound-dial",
            "ApiVersion": "2010-04-01",
            **extra,
        }

    def takes(self, whisper: ET.Element, fate: str) -> bool:
        """The person hears the whisper: True if the call is bridged."""
        gather = whisper.find("Gather")
        if gather is None:
            return whisper.find("Hangup") is None  # a whisper without a question bridges when it ends
        self.net.sleep(self.rng.uniform(0.3, 1.0))
        if fate == "silent":
            return False  # the Gather times out: "Passing the call on." and the leg hangs up
        reply = self.post(gather.get("action"), Digits="1" if fate == "answer" else "2")
        return fate == "answer" and reply is not None and reply.find("Hangup") is None


class CallbackLeg(Leg):
    """A call the dispatcher created (POST Calls.json) to call a customer back: the person first."""

    def __init__(self, net: Network, create, sid: str, rng: random.Random):
        super().__init__(net, sid, rng)
        self.create = create
        self.to = create.field("To")
        self.request = query(create.field("Url") or "").get("request", "")
        self.agent = net.phones.by_address.get(self.to)
        self.seized = False

    def params(self, **extra) -> dict[str, str]:
        return {
            "CallSid": self.sid,
            "AccountSid": self.net.stub.account_sid,
            "From": self.create.field("From"),
            "To": self.to,
            "CallStatus": "in-progress",
            "Direction": "outbound-api",
            "ApiVersion": "2010-04-01",
            **extra,
        }

    def run(self) -> None:
        stats, stub = self.net.stats, self.net.stub
        with stats.lock:
            stats.callback_legs += 1
            stats.legs_for[self.request] += 1
        started = time.monotonic()
        status = "completed"
        outcome = "?"
        try:
            self.net.sleep(self.rng.uniform(*RING_SECONDS))
            if self.agent is not None:
                self.seized, holder = self.net.phones.seize(self.agent, self.sid, "callback")
                if not self.seized:
                    if holder[1] in ("call", "callback"):
                        with stats.lock:
                            stats.rung_busy.append(
                                f"t={stats.now():.0f}s {self.agent} called for callback {self.request[-6:]} "
                                f"while on ...{holder[0][-6:]} ({holder[1]})"
                            )
                    status, outcome = "busy", "person busy"
                    return
            fate = pick(self.rng, CALLBACK_FATES)
            if fate == "no-answer":
                status, outcome = "no-answer", "person did not answer"
                return
            stub.set_status(self.sid, "in-progress")
            doc = self.post(self.create.field("Url"))
            outcome = "webhook failed" if doc is None else "person passed"
            hops = 0
            while doc is not None and hops < 10 and not self.net.halt.is_set():
                hops += 1
                gather, dial = doc.find("Gather"), doc.find("Dial")
                if gather is not None:
                    self.net.sleep(self.rng.uniform(0.3, 1.0))
                    doc = self.post(gather.get("action"), Digits="1" if fate == "answer" else "9")
                elif dial is not None:
                    outcome, doc = self.dial_customer(dial)
                else:
                    if "already" in said(doc).lower():
                        outcome = "already handled"
                    break
        finally:
            self.release()
            if stub.call(self.sid).status not in ENDED:
                stub.set_status(self.sid, status)
            with stats.lock:
                stats.leg_outcomes[outcome] += 1
                stats.leg_log[self.request].append(f"{stats.now():.1f}s {self.agent}: {outcome}")
            callback = self.create.field("StatusCallback")
            if callback:
                self.post(callback, CallStatus=status, CallDuration=str(int(time.monotonic() - started)))
            self.session.close()

    def dial_customer(self, dial: ET.Element) -> tuple[str, ET.Element | None]:
        stats = self.net.stats
        number = next(((c.text or "").strip() for c in dial if c.tag == "Number"), "")
        with stats.lock:
            stats.dialled[self.request] += 1
            expected = stats.confirmed.get(self.request)
            if expected is not None and expected != number:
                stats.wrong_number.append(
                    f"callback {self.request[-6:]}: dialled ...{number[-4:]}, confirmed ...{expected[-4:]}"
                )
            elif expected is None:
                stats.odd["customer dialled for a request the sim never heard confirmed"] += 1
        self.net.sleep(self.rng.uniform(*RING_SECONDS))
        if self.rng.random() < CUSTOMER_ANSWERS:
            with stats.lock:
                stats.reached[self.request] += 1
                stats.reached_at[self.request].append(stats.now())
            seconds = self.rng.uniform(*TALK_SECONDS)
            self.net.sleep(seconds)
            self.release()
            extra = {"DialCallStatus": "completed", "DialCallSid": new_sid(), "DialCallDuration": str(round(seconds))}
            return "customer talked", self.post(dial.get("action"), DialBridged="true", **extra)
        self.release()
        extra = {"DialCallStatus": "no-answer", "DialCallDuration": "0"}
        return "customer did not answer", self.post(dial.get("action"), DialBridged="false", **extra)

    def release(self) -> None:
        """The person hangs up: their phone is free before the action tells the service."""
        if self.seized:
            self.net.phones.release(self.agent, self.sid)
            self.seized = False


class SoakStub(TwilioRestStub):
    """The project's REST stand-in, telling the simulated network about each call created, and noting which
    client connection each create came on (so the soak can kill the dispatcher that is mid-create)."""

    def __init__(self, *args, on_create=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.on_create = on_create
        self._local = threading.local()
        self._ports_lock = threading.Lock()
        self.creating: dict[int, str] = {}  # client port -> request id of the create in progress on it

    def _handle(self, handler) -> None:
        self._local.port = handler.client_address[1]
        super()._handle(handler)

    def _create(self, record):
        port = getattr(self._local, "port", 0)
        with self._ports_lock:
            self.creating[port] = query(record.field("Url") or "").get("request", "")
        try:
            status, payload = super()._create(record)
        finally:
            with self._ports_lock:
                self.creating.pop(port, None)
        if status == 201 and self.on_create is not None:
            self.on_create(record, payload["sid"])
        return status, payload


def caller_loop(net: Network, numbers: Numbers, rng: random.Random) -> None:
    """One caller thread: a call, a pause, another call (from a number of the pool), until the soak ends."""
    with requests.Session() as session:
        _calls(net, numbers, rng, session)


def _calls(net: Network, numbers: Numbers, rng: random.Random, session: requests.Session) -> None:
    while not net.ending.is_set() and not net.halt.is_set():
        number = numbers.take(rng)
        anonymous = rng.random() < 0.04
        try:
            if numbers.used[number] > 1:
                with net.stats.lock:
                    net.stats.repeat_calls += 1
            InboundCall(net, number, rng, session, anonymous=anonymous).run()
        finally:
            numbers.give_back(number)
        net.sleep(rng.uniform(*NEXT_CALL_SECONDS))


def live_status(stub: TwilioRestStub, sid: str | None) -> str:
    """The stand-in's status of a call: "unknown" for a SID it never saw."""
    call = stub.calls().get(sid or "")
    return call.status if call else "unknown"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
