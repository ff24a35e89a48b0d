"""Callback requests in Redis: the number to call, where each attempt stands, and the lists that show them.

An attempt is fenced by a token: a worker that dies before placing the call leaves a claim that expires and
is put back in line at its old place (reap); every later webhook of an attempt that was settled meanwhile is
ignored, so no request is placed twice. The Lua for each step is in ivr.store.scripts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from ivr.call import presence
from ivr.call.calling_back import CALLING_CUSTOMER
from ivr.call.callstate import Contact
from ivr.call.queueing import QueueEntry, callback_queue_id, request_id_of
from ivr.store import call_records, caller_history, keys, presence_records, scripts, wake, wrap_ups
from ivr.store.sealed import Sealer

CLAIM_SECONDS = 30  # a worker must start placing a claimed callback within this
PLACING_SECONDS = 600  # from placing until the agent answers (ring, whisper): then it goes back in line
TALKING_SECONDS = 3 * 3600  # an attempt that reached the customer is settled by its dial result
REQUEST_TTL = 7 * 24 * 3600  # a callback request is kept a week, whatever becomes of it


@dataclass(frozen=True)
class Callback:
    """A stored callback request and where its current attempt stands."""

    id: str  # the CallSid of the call that asked for it
    request: dict  # number, flow, caller, path, since
    status: str
    attempt: str  # the token of the attempt in flight ("" when none)
    attempts: int  # failed tries at reaching the customer
    agent: str | None
    entry: QueueEntry | None
    leg: str = ""  # the CallSid of the call to the agent, once known

    @property
    def queue_id(self) -> str:
        return callback_queue_id(self.id)


def store_request(pipe, request: dict, sealer: Sealer) -> None:
    """Queue the write of a new request (its place in line is the caller's queue entry, written beside it).

    The number to call is kept sealed, in a field of its own that is deleted once the request is settled."""
    key = keys.callback(request["id"])
    request = dict(request)
    pipe.hsetnx(key, "number", sealer.seal(request.pop("number", None)) or "")
    # HSETNX: written once; a re-sent pipeline must not reset a request a worker has already taken
    pipe.hsetnx(key, "request", json.dumps(request, separators=(",", ":")))
    pipe.hsetnx(key, "attempts", 0)
    pipe.hsetnx(key, "status", "waiting")
    pipe.expire(key, REQUEST_TTL)


class CallbackStore:
    def __init__(self, r, sealer: Sealer | None = None):
        """Without a sealer, requests are read without their number (the dispatcher never needs it)."""
        self.r = r
        self.scripts = scripts.Registered(r)
        self.sealer = sealer

    def callback(self, request_id: str) -> Callback | None:
        return from_hash(request_id, self.r.hgetall(keys.callback(request_id)), self.sealer)

    def advance(
        self,
        callback: Callback,
        attempt: str,
        status: str,
        now: float,
        seconds: int,
        busy_agent: str | None = None,
        leg: str = "",
    ) -> bool:
        """Move an attempt on (placing, agent answered, calling the customer); False if it is stale.

        With busy_agent, that person is marked busy on this request in the same atomic step; with leg, the
        CallSid of the call to the agent is kept, so the dispatcher can ask Twilio whether it has ended.
        """
        record = presence_records.dump(presence.busy(presence.Presence(), callback.queue_id, now)) if busy_agent else ""
        return (
            self.scripts.call(
                "advance",
                [keys.callback(callback.id), keys.callbacks_claimed(), keys.presence()],
                [attempt, status, now + seconds, callback.queue_id, busy_agent or "", record, leg, now],
            )
            == 1
        )

    def note_leg(self, callback: Callback, attempt: str, leg: str) -> bool:
        """Keep the CallSid of the call placed to the agent, if the attempt is still current."""
        return self.advance(callback, attempt, "", 0.0, 0, leg=leg)

    def settle(
        self,
        callback: Callback,
        attempt: str,
        outcome: str,
        now: float,
        failed_try: bool = False,
        not_before: float = 0.0,
        contact: Contact | None = None,
        window_seconds: int = 0,
        wrap_up_seconds: int = 0,
    ) -> bool:
        """End an attempt: 'requeue' (same place in line), 'supervisors', or a final status such as 'done'.

        With a contact (a callback that reached the customer), it joins the caller's history in the same
        round trip, so their next call comes back to this agent.
        """
        caller = callback.request.get("caller")
        entry = callback.entry or QueueEntry(
            callback.queue_id,
            float(callback.request.get("since", now)),
            tuple(callback.request.get("groups", ())),
            callback.request.get("flow", ""),
        )
        entry = replace(entry, not_before=not_before)
        settled = self.scripts.call(
            "settle",
            [
                keys.callback(callback.id),
                keys.callbacks_claimed(),
                keys.queue(),
                keys.queue_entries(),
                keys.presence(),
                keys.callbacks_for_supervisors(),
            ],
            [
                attempt,
                outcome,
                callback.queue_id,
                entry.to_json(),
                entry.since,
                "1" if failed_try else "0",
                now,
                REQUEST_TTL,
                wrap_up_seconds if contact is not None else 0,
            ],
            also=lambda pipe: _wake_then(pipe, caller, contact, window_seconds, callback.request, outcome, now),
        )
        return settled == 1

    def expired_claims(self, now: float) -> list[str]:
        """Callback requests whose attempt outlived its claim (a worker died, or Twilio never called)."""
        return [request_id_of(queue_id) for queue_id in self.r.zrangebyscore(keys.callbacks_claimed(), "-inf", now)]

    def reap(self, now: float) -> list[str]:
        """Settle every attempt whose claim expired; returns the request ids put back in line.

        Before the customer was dialled, the request goes back in line at its old place (a late webhook of
        that attempt is refused, so the customer is never called twice). Once the customer was dialled, the
        outcome is not guessed: with the agent's CallSid known, the dispatcher asks Twilio (see
        ivr.dispatcher.reconcile); without it, a supervisor decides.
        """
        requeued = []
        for request_id in self.expired_claims(now):
            callback = self.callback(request_id)
            if callback is None:
                self.r.zrem(keys.callbacks_claimed(), callback_queue_id(request_id))
            elif not callback.attempt:
                continue
            elif callback.status != CALLING_CUSTOMER:
                if self.settle(callback, callback.attempt, "requeue", now):
                    requeued.append(request_id)
            elif not callback.leg:
                self.settle(callback, callback.attempt, "supervisors", now)
        return requeued

    def in_flight(self) -> list[Callback]:
        """Every attempt being placed or talked on now (at most one per person)."""
        ids = self.r.zrange(keys.callbacks_claimed(), 0, -1)
        if not ids:
            return []
        pipe = self.r.pipeline(transaction=False)
        for queue_id in ids:
            pipe.hgetall(keys.callback(request_id_of(queue_id)))
        found = (from_hash(request_id_of(q), data, self.sealer) for q, data in zip(ids, pipe.execute(), strict=True))
        return [c for c in found if c is not None and c.attempt]

    def seal_plain_numbers(self) -> int:
        """Requests stored before numbers were sealed hold theirs in plain text inside the request: seal each
        into its own field (run at start; a no-op once done). Returns how many were sealed."""
        sealed = 0
        for key in self.r.scan_iter(match=keys.callback("*"), count=500):
            raw = self.r.hget(key, "request")
            try:
                request = json.loads(raw) if raw else {}
            except ValueError:
                continue
            if not isinstance(request, dict) or not request.get("number") or self.sealer is None:
                continue
            number = request.pop("number")
            pipe = self.r.pipeline(transaction=True)
            pipe.hsetnx(key, "number", self.sealer.seal(number))
            pipe.hset(key, "request", json.dumps(request, separators=(",", ":")))
            pipe.execute()
            sealed += 1
        return sealed

    def listing(self) -> list[tuple[Callback, str]]:
        """Every callback request still open, with where it stands: waiting, being placed, needs a supervisor."""
        pipe = self.r.pipeline(transaction=False)
        pipe.zrange(keys.queue(), 0, -1)
        pipe.zrange(keys.callbacks_claimed(), 0, -1)
        pipe.zrange(keys.callbacks_for_supervisors(), 0, -1)
        waiting, placing, stuck = pipe.execute()
        states = {q: "waiting" for q in waiting if request_id_of(q) != q}
        states.update({q: "being placed" for q in placing})
        states.update({q: "needs a supervisor" for q in stuck})
        found = []
        for queue_id, state in states.items():
            callback = self.callback(request_id_of(queue_id))
            if callback is not None:
                found.append((callback, state))
        return found


def _wake_then(
    pipe, caller: str | None, contact: Contact | None, window_seconds: int, request: dict, outcome: str, now: float
) -> None:
    """Nudge the dispatcher (a person or a place in line may have freed up), keep the contact, and record how
    a request that ended, ended (for the line's metrics)."""
    wake.nudge(pipe, "settled")
    if outcome in ("done", "supervisors"):
        call_records.callback_settled(pipe, request, "completed" if outcome == "done" else "failed", now)
    if caller and contact is not None:
        caller_history.remember(pipe, caller, contact, window_seconds)
    if contact is not None and contact.agent:  # a conversation: its person wraps it up, now or later
        wrap_ups.remember_taker(pipe, contact.call, contact.agent, caller, window_seconds)


def from_hash(request_id: str, data: dict, sealer: Sealer | None) -> Callback | None:
    """A request as its hash holds it (the number opened with a sealer, else left as stored)."""
    if not data or "request" not in data:
        return None
    try:
        request = json.loads(data["request"])
    except ValueError:
        return None
    if sealer is not None and data.get("number"):
        request["number"] = sealer.open(data["number"])
    entry = QueueEntry.from_json(data["entry"]) if data.get("entry") else None
    return Callback(
        request_id,
        request,
        data.get("status", ""),
        data.get("attempt", ""),
        int(data.get("attempts", 0) or 0),
        data.get("agent") or None,
        entry,
        data.get("leg", ""),
    )
