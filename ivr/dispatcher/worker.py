"""The worker (the Procfile's `worker:`): hands waiting callers and callback requests to people as they free up.

It wakes when a webhook says a person freed up or someone started waiting (a Redis list it blocks on,
holding one nudge at most: a burst of arrivals is one round), and at least once a second. Each round it
puts expired callback claims back in line, then gives each free person the caller they should take
(ivr.call.queueing.next_for), from the front of the lines: every hand-over of the round is claimed in one
round trip, then sent to Twilio in parallel. A waiting call is redirected through Twilio's REST API to
/voice/connect, which rings that person with the whisper; a callback request is placed as a call to the
person first, who hears who and why before the customer is dialled. A second
thread (ivr.dispatcher.reconcile) checks what the store holds against Twilio, so that lost webhooks never
leave anyone stuck.

Run it with `python -m ivr.dispatcher.worker`; it needs REDIS_URL, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and
PUBLIC_URL (the base URL Twilio reaches the web process at), and optionally TWILIO_API_BASE.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import requests
from twilio.base.exceptions import TwilioRestException

from ivr.call.queueing import QueueEntry, lines_for, next_for, request_id_of
from ivr.dispatcher import twilio_api
from ivr.dispatcher.incident_watch import IncidentWatch
from ivr.dispatcher.reconcile import ASK_TIMEOUT, Reconciler
from ivr.errors import ConfigError
from ivr.flows.catalog import Catalog
from ivr.flows.directory import Agent
from ivr.flows.live_catalog import LiveCatalog
from ivr.render import url
from ivr.settings import config_from_env, with_absolute_folders
from ivr.store import client as store
from ivr.store import durability
from ivr.store.callbacks import PLACING_SECONDS, CallbackStore
from ivr.store.dispatch import Dispatch, Round
from ivr.store.presence_index import PresenceIndex
from ivr.store.sealed import Sealer

log = logging.getLogger("ivr.worker")


class Worker:
    def __init__(
        self,
        catalogs: LiveCatalog,
        r: store.Client,
        twilio,
        public_url: str,
        caller_id: str | None = None,
        clock=time.time,
    ):
        self.catalogs = catalogs
        self.dispatch = Dispatch(r)
        self.callbacks = CallbackStore(r)
        self.twilio = twilio
        self.public_url = public_url.rstrip("/")
        self.caller_id = caller_id
        self.clock = clock
        self._checked = clock()
        self._refusals: dict[str, int] = {}  # queue id -> hand-overs refused in a row (for the pause)
        self._paused_until = 0.0  # no hand-overs before this: Twilio answered 429 with Retry-After
        self.presence = PresenceIndex(r)
        self._senders = ThreadPoolExecutor(twilio_api.HANDOVERS_AT_ONCE, thread_name_prefix="hand-over")

    @property
    def catalog(self) -> Catalog:
        return self.catalogs.current()

    def run(self, stop: threading.Event, wake_seconds: float = 1.0) -> None:
        while not stop.is_set():
            try:
                self.run_once()
                self.dispatch.wait_for_wake(wake_seconds)
                stop.wait(BURST_SECONDS)  # the rest of a burst (people freed together, callers arriving) joins
            except store.StoreError as exc:
                log.error("Redis unavailable (%s); trying again shortly", type(exc).__name__)
                stop.wait(wake_seconds)
            except Exception:  # the worker must outlive any one bad round: callers depend on it
                log.exception("dispatch round failed; trying again shortly")
                stop.wait(wake_seconds)

    def run_once(self) -> list[str]:
        """One round: re-deliver expired callback claims, then hand out waiting callers. Returns what it did."""
        now = self.clock()
        if now - self._checked >= RELOAD_SECONDS:  # flow edits reach the worker too, without a stat each round
            self._checked = now
            self.catalogs.check()
        done = [f"requeued callback {rid[-6:]}" for rid in self.callbacks.reap(now)]
        if now < self._paused_until:
            return done
        directory = self.catalog.directory
        seen = self.dispatch.round(now, directory.sorted_groups)
        if seen.directory_mark != self.presence.mark(directory):  # indexes of another directory, or lost with Redis
            self.presence.sync(directory, now)
            seen = self.dispatch.round(now, directory.sorted_groups)
        chosen = self._choose(seen, now)
        if not chosen:
            return done
        hand_overs = [(agent.id, entry, self._flow_of(entry).settings.ring_seconds) for agent, entry in chosen]
        tokens = self.dispatch.take_all(hand_overs, now)
        taken = [(agent, entry, token) for (agent, entry), token in zip(chosen, tokens, strict=True) if token]
        # the claims are made: the REST requests go out together, so a round of 30 costs about one request's time
        done += self._senders.map(lambda job: self._hand_over(*job, now), taken)
        return done

    def _choose(self, seen: Round, now: float) -> list[tuple[Agent, QueueEntry]]:
        """Who takes whom this round: each free person, longest idle first, the caller they should take."""
        directory = self.catalog.directory
        lines = {g: tuple(e for e in line if not e.is_callback or self._open(e, now)) for g, line in seen.lines.items()}
        taken: set[str] = set()
        chosen = []
        for agent_id in seen.free:
            agent = directory.get(agent_id)
            if agent is None:
                continue
            mine = {g: tuple(e for e in lines.get(g, ()) if e.id not in taken) for g in lines_for(agent, lines)}
            own = tuple(e for e in seen.own.get(agent_id, ()) if e.id not in taken)
            entry = next_for(agent, own, mine, now, self._max_hold(), seen.staffed, seen.on_duty)
            if entry is not None:
                taken.add(entry.id)
                chosen.append((agent, entry))
        return chosen

    def _flow_of(self, entry: QueueEntry):
        return self.catalog.flow(entry.flow) or self.catalog.for_number(None)

    def _hand_over(self, agent: Agent, entry: QueueEntry, token: str, now: float) -> str:
        if self.clock() < self._paused_until:
            return self._not_now(agent, entry, token)
        return self._place(agent, entry, token, now) if entry.is_callback else self._connect(agent, entry)

    def _not_now(self, agent: Agent, entry: QueueEntry, token: str) -> str:
        """Twilio asked for a pause while this round's hand-overs went out: this one waits, at its place."""
        now = self.clock()
        if entry.is_callback:
            callback = self.callbacks.callback(request_id_of(entry.id))
            if callback is not None:
                self.callbacks.settle(callback, token, "requeue", now, not_before=self._paused_until)
        else:
            self.dispatch.release(agent.id, entry.id, now)
            self.dispatch.put_back(replace(entry, not_before=self._paused_until), now)
        return f"{entry.id[-6:]} waits for Twilio's pause"

    def _open(self, entry: QueueEntry, now: float) -> bool:
        return self._flow_of(entry).settings.hours.is_open(now)

    def _max_hold(self) -> int:
        return min(f.settings.queue.max_hold_seconds for f in self.catalog.flows.values())

    def _connect(self, agent: Agent, entry: QueueEntry) -> str:
        target = self.public_url + url("connect", agent=agent.id)
        try:
            twilio_api.redirect_call(self.twilio, entry.id, target)
        except TwilioRestException as exc:
            # Twilio answered no: the hand-over did not happen, so the person is free again. A call that is
            # over (400/21220: it ended; 404: no such call) leaves the line for good; any other refusal (429,
            # 5xx) puts the caller back at their place, tried again after a pause that doubles, so one bad
            # entry never holds up the people behind it.
            now = self.clock()
            self.dispatch.release(agent.id, entry.id, now)
            if twilio_api.call_is_over(exc):
                self._refusals.pop(entry.id, None)
                self.dispatch.forget_ended_call(entry.id, now)
                log.info("call ...%s ended while waiting (Twilio %s/%s)", entry.id[-6:], exc.status, exc.code)
                return f"call {entry.id[-6:]} gone"
            if pause := twilio_api.asked_pause(self.twilio):  # 429: Twilio wants no requests for a while
                self._paused_until = now + pause
            self._back_in_line(entry, now, at_least=pause)
            log.warning("could not hand call ...%s to %s: Twilio %s/%s", entry.id[-6:], agent.id, exc.status, exc.code)
            return f"call {entry.id[-6:]} back in line"
        except requests.exceptions.RequestException as exc:
            if twilio_api.not_sent(exc):  # no connection was made: Twilio never saw it
                now = self.clock()
                self.dispatch.release(agent.id, entry.id, now)
                self._back_in_line(entry, now)
                log.error("Twilio unreachable; call ...%s back in line", entry.id[-6:])
                return f"call {entry.id[-6:]} back in line"
            # A read timeout or a reset after sending: the redirect may have reached Twilio. Keep the person
            # reserved (the claim expires by itself); if it did not, the caller's next wait document puts them
            # back in line. Putting them back now could hand one caller to two people.
            log.error("no answer from Twilio redirecting call ...%s; its wait document will recover", entry.id[-6:])
            return f"call {entry.id[-6:]} unknown"
        self._refusals.pop(entry.id, None)
        log.info("handing call ...%s to %s", entry.id[-6:], agent.id)
        return f"connected call {entry.id[-6:]} to {agent.id}"

    def _back_in_line(self, entry: QueueEntry, now: float, at_least: float = 0.0) -> None:
        if len(self._refusals) > 10_000:  # entries that left the line otherwise: start counting afresh
            self._refusals.clear()
        tries = self._refusals.get(entry.id, 0) + 1
        self._refusals[entry.id] = tries
        pause = max(at_least, min(RETRY_MAX_SECONDS, 2 ** (tries - 1)))
        self.dispatch.put_back(replace(entry, not_before=now + pause), now)

    def _place(self, agent: Agent, entry: QueueEntry, token: str, now: float) -> str:
        request_id = request_id_of(entry.id)
        callback = self.callbacks.callback(request_id)
        if callback is None or not self.callbacks.advance(callback, token, "placing", now, PLACING_SECONDS):
            return f"callback {request_id[-6:]} already settled"
        flow = self.catalog.flow(callback.request.get("flow")) or self.catalog.for_number(None)
        caller_id = (flow.numbers[0] if flow.numbers else None) or self.caller_id
        to = agent.number or f"client:{agent.client}"
        try:
            if not caller_id:
                raise ConfigError(f"line '{flow.name}' lists no number to call from; set TWILIO_CALLER_ID")
            sid = twilio_api.place_call(
                self.twilio,
                to=to,
                from_=caller_id,
                url=self.public_url + url("callback_agent", request=request_id, attempt=token),
                status_callback=self.public_url + url("callback_status", request=request_id, attempt=token),
            )
        except (TwilioRestException, ConfigError, requests.exceptions.RequestException) as exc:
            if isinstance(exc, requests.exceptions.RequestException) and not twilio_api.not_sent(exc):
                # a read timeout or a reset after sending: the call may have been placed. Its own webhooks
                # settle it, or the claim's expiry does (a late webhook of a settled attempt is refused).
                log.error("no answer from Twilio placing callback %s; left to its webhooks", request_id[-6:])
                return f"callback {request_id[-6:]} unknown"
            # Nothing was placed: back to its place in line, offered again after a pause, not in a tight loop.
            now = self.clock()
            if pause := twilio_api.asked_pause(self.twilio):
                self._paused_until = now + pause
            self.callbacks.settle(callback, token, "requeue", now, not_before=now + PLACE_RETRY_SECONDS)
            reason = f"Twilio {exc.status}/{exc.code}" if isinstance(exc, TwilioRestException) else type(exc).__name__
            log.error("could not place callback %s: %s", request_id[-6:], reason)
            return f"callback {request_id[-6:]} not placed"
        self.callbacks.note_leg(callback, token, sid)  # so its end can be checked if its webhooks are lost
        log.info("callback %s: calling %s first (call ...%s)", request_id[-6:], agent.id, sid[-6:])
        return f"placed callback {request_id[-6:]} via {agent.id}"


RELOAD_SECONDS = 2  # how often the worker looks for flow edits
BURST_SECONDS = 0.01  # after a wake, a round waits this long, so a burst of wakes is one round
PLACE_RETRY_SECONDS = 60  # a callback Twilio refused is offered again after this
RETRY_MAX_SECONDS = 30  # a hand-over Twilio refused is tried again after 1, 2, 4 ... up to this many seconds


def main() -> None:
    cfg = config_from_env()  # the same settings and defaults as the web process
    with_absolute_folders(cfg)
    logging.basicConfig(level=cfg["LOG_LEVEL"], format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)  # not every REST request's headers
    env = os.environ
    missing = [k for k in ("REDIS_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "PUBLIC_URL") if not env.get(k)]
    if missing:
        sys.exit(f"worker: set {', '.join(missing)}")
    # the same audio cache as the web process: prompts are converted once, not on every reload
    catalogs = LiveCatalog(Path(cfg["FLOWS_DIR"]), audio_cache=Path(cfg["AUDIO_CACHE"]))
    catalog = catalogs.current()
    try:
        client = store.connect(cfg["REDIS_URL"], timeout=5, connect_timeout=2)
        store.refuse_cluster(client)  # only if Redis answers now: the worker waits for it otherwise
    except ConfigError as exc:
        sys.exit(f"worker: {exc}")
    if problem := durability.warning(client):
        log.warning("Redis: %s", problem)
    twilio = twilio_api.make_client(env["TWILIO_ACCOUNT_SID"], cfg["TWILIO_AUTH_TOKEN"], env.get("TWILIO_API_BASE"))
    worker = Worker(catalogs, client, twilio, cfg["PUBLIC_URL"], env.get("TWILIO_CALLER_ID"))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    asking = twilio_api.make_client(
        env["TWILIO_ACCOUNT_SID"], cfg["TWILIO_AUTH_TOKEN"], env.get("TWILIO_API_BASE"), timeout=ASK_TIMEOUT
    )
    healing = threading.Thread(target=Reconciler(client, asking).run, args=(stop,), name="reconcile", daemon=True)
    healing.start()
    sealer = Sealer(cfg["DATA_KEYS"]) if cfg["DATA_KEYS"] else None  # for the texts promised to callers
    if sealer is None:
        log.warning("DATA_KEYS is not set: texts promised when an incident is fixed cannot be sent")
    watch = IncidentWatch(client, catalogs, twilio=twilio, sealer=sealer)
    watching = threading.Thread(target=watch.run, args=(stop,), name="incidents", daemon=True)
    watching.start()
    log.info("worker started: %d people, %d line(s)", len(catalog.directory.agents), len(catalog.flows))
    worker.run(stop)
    log.info("worker stopped")


if __name__ == "__main__":
    main()
