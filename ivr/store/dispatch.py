"""Handing waiting callers and callback requests to people as they free up, in Redis (client passed in).

The choice of who takes whom is pure (ivr.call.queueing.next_for); the hand-over is one Lua script, so a
person is never given two callers and a caller never two people, whatever the workers and webhooks race.
A callback request is claimed with an expiry and fenced by an attempt token: a worker that dies before
placing the call leaves a claim that expires and is put back in line at its old place; every later
webhook of an attempt that was settled meanwhile is ignored, so no request is placed twice.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, replace

from ivr.call import presence
from ivr.call.queueing import QueueEntry, parse_queue
from ivr.store import keys, presence_records, scripts, wake
from ivr.store.calls import RESERVE_MARGIN_SECONDS

CLAIM_SECONDS = 30  # a worker must start placing a claimed callback within this
PLACING_SECONDS = 600  # from placing until the agent answers (ring, whisper): then it goes back in line
TALKING_SECONDS = 3 * 3600  # an attempt that reached the customer is settled by its dial result


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

    @property
    def queue_id(self) -> str:
        return f"cb:{self.id}"


class Dispatch:
    def __init__(self, r):
        self.r = r
        self.scripts = scripts.Registered(r)

    def snapshot(self) -> tuple[dict, tuple[QueueEntry, ...]]:
        """One round trip: everyone's presence, and everyone waiting, oldest first."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall(keys.presence())
        pipe.hgetall(keys.queue_entries())
        presence_hash, entries = pipe.execute()
        return {a: presence_records.parse(raw) for a, raw in presence_hash.items()}, parse_queue(entries)

    def take(self, agent: str, entry: QueueEntry, now: float, ring_seconds: int) -> str | None:
        """Give `entry` to `agent` if both are still free; returns the attempt token, or None."""
        attempt = secrets.token_hex(8) if entry.is_callback else ""
        callback_key = keys.callback(entry.id.removeprefix("cb:")) if entry.is_callback else keys.callback("-")
        hold = now + (PLACING_SECONDS if entry.is_callback else ring_seconds + RESERVE_MARGIN_SECONDS)
        call_key = keys.call("-") if entry.is_callback else keys.call(entry.id)
        taken = self.scripts.call(
            "take",
            [keys.presence(), keys.queue(), keys.queue_entries(), keys.callbacks_claimed(), callback_key, call_key],
            [now, hold, agent, entry.id, "1" if entry.is_callback else "0", now + CLAIM_SECONDS, attempt],
        )
        return (attempt or "taken") if taken == 1 else None

    def callback(self, request_id: str) -> Callback | None:
        return _callback(request_id, self.r.hgetall(keys.callback(request_id)))

    def advance(
        self, callback: Callback, attempt: str, status: str, now: float, seconds: int, busy_agent: str | None = None
    ) -> bool:
        """Move an attempt on (placing, agent answered, calling the customer); False if it is stale.

        With busy_agent, that person is marked busy on this request in the same atomic step.
        """
        record = presence_records.dump(presence.busy(presence.Presence(), callback.queue_id, now)) if busy_agent else ""
        return (
            self.scripts.call(
                "advance",
                [keys.callback(callback.id), keys.callbacks_claimed(), keys.presence()],
                [attempt, status, now + seconds, callback.queue_id, busy_agent or "", record],
            )
            == 1
        )

    def settle(
        self,
        callback: Callback,
        attempt: str,
        outcome: str,
        now: float,
        failed_try: bool = False,
        not_before: float = 0.0,
        also=None,
    ) -> bool:
        """End an attempt: 'requeue' (same place in line), 'supervisors', or a final status such as 'done'."""
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
            [attempt, outcome, callback.queue_id, entry.to_json(), entry.since, "1" if failed_try else "0", now],
            also=lambda pipe: _wake_then(pipe, also),
        )
        return settled == 1

    def expired_claims(self, now: float) -> list[str]:
        """Callback requests whose attempt outlived its claim (a worker died, or Twilio never called)."""
        return [
            queue_id.removeprefix("cb:") for queue_id in self.r.zrangebyscore(keys.callbacks_claimed(), "-inf", now)
        ]

    def reap(self, now: float) -> list[str]:
        """Put every expired attempt back in line at its old place; returns their request ids."""
        requeued = []
        for request_id in self.expired_claims(now):
            callback = self.callback(request_id)
            if callback is None:
                self.r.zrem(keys.callbacks_claimed(), f"cb:{request_id}")
            elif callback.attempt and self.settle(callback, callback.attempt, "requeue", now):
                requeued.append(request_id)
        return requeued

    def put_back(self, entry: QueueEntry) -> None:
        """Return a waiting caller to the queue at their old place (a hand-over that did not happen)."""
        pipe = self.r.pipeline(transaction=False)
        pipe.zadd(keys.queue(), {entry.id: entry.since})
        pipe.hset(keys.queue_entries(), entry.id, entry.to_json())
        pipe.execute()

    def release(self, agent: str, holder: str, now: float) -> None:
        self.scripts.call("release", [keys.presence(), keys.call("-")], [now, holder, "keep", agent])

    def listing(self) -> list[tuple[Callback, str]]:
        """Every callback request still open, with where it stands: waiting, being placed, needs a supervisor."""
        pipe = self.r.pipeline(transaction=False)
        pipe.zrange(keys.queue(), 0, -1)
        pipe.zrange(keys.callbacks_claimed(), 0, -1)
        pipe.zrange(keys.callbacks_for_supervisors(), 0, -1)
        waiting, placing, stuck = pipe.execute()
        states = {q: "waiting" for q in waiting if q.startswith("cb:")}
        states.update({q: "being placed" for q in placing})
        states.update({q: "needs a supervisor" for q in stuck})
        found = []
        for queue_id, state in states.items():
            callback = self.callback(queue_id.removeprefix("cb:"))
            if callback is not None:
                found.append((callback, state))
        return found

    def wait_for_wake(self, timeout: float) -> None:
        wake.wait(self.r, timeout)


def _wake_then(pipe, also) -> None:
    """Nudge the dispatcher (a person or a place in line may have freed up), plus any other writes."""
    wake.nudge(pipe, "settled")
    if also is not None:
        also(pipe)


def _callback(request_id: str, data: dict) -> Callback | None:
    if not data or "request" not in data:
        return None
    try:
        request = json.loads(data["request"])
    except ValueError:
        return None
    entry = QueueEntry.from_json(data["entry"]) if data.get("entry") else None
    return Callback(
        request_id,
        request,
        data.get("status", ""),
        data.get("attempt", ""),
        int(data.get("attempts", 0) or 0),
        data.get("agent") or None,
        entry,
    )
