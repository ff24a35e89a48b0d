"""The line heals itself: what the store believes is live is checked against Twilio, so a lost webhook (Redis
down when it came, a process killed) never leaves a person busy, a ghost in line or a callback in limbo.

Every few seconds the dispatcher asks Twilio's REST API for the status of each call the store holds on to:
the calls people are ringing or talking on, the callers waiting in line, and the calls placed to people for
callbacks. A call that is over (a final status, or unknown to Twilio) is let go of: its people are free,
its queue entry is gone, and a callback attempt settles as its own webhooks would have, never placing the
customer's call twice. Each call is asked about at most once per CHECK_EVERY_SECONDS, in parallel, so the
cost is bounded by the calls in flight, and a failure to ask only means asking again later. The line is read
a page per pass, so a pass costs the same with ten callers waiting or ten thousand.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait

import requests
from twilio.base.exceptions import TwilioRestException

from ivr.call.calling_back import after_agent_call_ended
from ivr.call.events import CALL_ENDED
from ivr.call.queueing import request_id_of
from ivr.dispatcher import passes, twilio_api
from ivr.store import client as store
from ivr.store.callbacks import CallbackStore
from ivr.store.dispatch import Dispatch

log = logging.getLogger("ivr.reconcile")

EVERY_SECONDS = 5  # how often a pass runs
CHECK_EVERY_SECONDS = 15  # one call's status is asked at most this often
GRACE_SECONDS = 10  # a callback's call seen over is settled only after this: its own webhooks come first
MAX_CHECKS = 100  # calls asked about per pass, the longest unchecked first
WAITING_PAGE = 100  # callers in line looked at per pass, a page after another
PARALLEL = 4  # requests to Twilio at once (within the REST client's connection pool)
PASS_SECONDS = 20  # answers later than this are left for the next pass, so a slow Twilio cannot stall healing
ASK_TIMEOUT = 2.0  # seconds for one status request (the REST client for healing is made with it)
ALL_GONE_SUSPECT = 3  # this many calls asked about, all unknown to Twilio: the account is wrong, not the calls


class Reconciler:
    def __init__(self, r: store.Client, twilio, clock=time.time):
        self.dispatch = Dispatch(r)
        self.callbacks = CallbackStore(r)
        self.twilio = twilio
        self.clock = clock
        self._asked: dict[str, float] = {}  # CallSid -> when Twilio was last asked
        self._over_since: dict[str, float] = {}  # callback CallSid -> when first seen over
        self._pool = ThreadPoolExecutor(PARALLEL, thread_name_prefix="reconcile")
        self._page = 0  # where in the line the next pass looks

    def run(self, stop: threading.Event, every: float = EVERY_SECONDS) -> None:
        passes.every(stop, every, self.run_once, log, "reconciling")
        self._pool.shutdown(wait=False, cancel_futures=True)

    def run_once(self) -> list[str]:
        """One pass: ask Twilio about the calls due a check and let go of those that are over."""
        now = self.clock()
        holds = self.dispatch.holds()
        waiting, self._page = self.dispatch.waiting_page(self._page, WAITING_PAGE)
        flying = self.callbacks.in_flight()
        attempts = {c.leg: c for c in flying if c.leg}
        in_flight = {c.queue_id for c in flying}
        done = []
        for agent, holder in holds.items():
            orphan = request_id_of(holder) != holder and holder not in in_flight  # a callback settled without them
            if orphan and self.dispatch.release_orphan(agent, holder, now):
                done.append(f"freed {agent}")
        calls = {h for h in holds.values() if request_id_of(h) == h} | set(waiting) | set(attempts)
        statuses = self._ask(calls, now)
        if len(statuses) >= ALL_GONE_SUSPECT and all(s == twilio_api.GONE for s in statuses.values()):
            # 404 for every one is not many hang-ups: REST requests go to another account (a subaccount, a
            # wrong TWILIO_ACCOUNT_SID, another region). Letting go on that would free everyone mid-call.
            log.error(
                "Twilio knows none of the %d calls asked about: is TWILIO_ACCOUNT_SID the account that receives "
                "the calls? Nothing let go.",
                len(statuses),
            )
            return done
        for sid, status in statuses.items():
            if status not in CALL_ENDED and status != twilio_api.GONE:
                self._over_since.pop(sid, None)
            elif sid in attempts:
                done += self._settle_attempt(attempts[sid], sid, status, now)
            else:
                done += self._let_go(sid, holds, waiting, status, now)
        return done

    def _ask(self, calls: set[str], now: float) -> dict[str, str]:
        """Twilio's status of each call due a check (longest unchecked first); those it could not tell left out."""
        self._asked = {sid: t for sid, t in self._asked.items() if sid in calls}
        self._over_since = {sid: t for sid, t in self._over_since.items() if sid in calls}
        due = sorted(
            (s for s in calls if now - self._asked.get(s, 0.0) >= CHECK_EVERY_SECONDS),
            key=lambda s: self._asked.get(s, 0.0),
        )
        due = due[:MAX_CHECKS]
        for sid in due:
            self._asked[sid] = now
        asked = {self._pool.submit(self._status, sid): sid for sid in due}
        answered, _ = wait(asked, timeout=PASS_SECONDS)
        return {asked[f]: f.result() for f in answered if f.result() is not None}

    def _status(self, sid: str) -> str | None:
        try:
            return twilio_api.call_status(self.twilio, sid)
        except (TwilioRestException, requests.exceptions.RequestException) as exc:
            log.warning("could not ask Twilio about call ...%s (%s); asking again later", sid[-6:], type(exc).__name__)
            return None

    def _let_go(self, sid: str, holds: dict[str, str], waiting: tuple[str, ...], status: str, now: float) -> list[str]:
        done = []
        for agent in [a for a, holder in holds.items() if holder == sid]:
            self.dispatch.release(agent, sid, now)
            done.append(f"freed {agent}")
        self.dispatch.forget_ended_call(sid, now)
        if sid in waiting:
            done.append(f"call {sid[-6:]} out of line")
        log.info("call ...%s is %s: %s", sid[-6:], status, ", ".join(done) or "nothing held")
        return done

    def _settle_attempt(self, callback, sid: str, status: str, now: float) -> list[str]:
        first_seen = self._over_since.setdefault(sid, now)
        if now - first_seen < GRACE_SECONDS:
            self._asked[sid] = min(self._asked[sid], now - CHECK_EVERY_SECONDS + GRACE_SECONDS)  # look again then
            return []
        outcome, not_before = after_agent_call_ended(callback.status, now)
        if not self.callbacks.settle(callback, callback.attempt, outcome, now, not_before=not_before):
            return []  # its own webhook settled it meanwhile
        log.info("callback %s: the call to %s is %s; %s", callback.id[-6:], callback.agent, status, outcome)
        return [f"callback {callback.id[-6:]} {outcome}"]
