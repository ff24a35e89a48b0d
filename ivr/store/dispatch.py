"""Handing waiting callers and callback requests to people as they free up, in Redis (client passed in).

The choice of who takes whom is pure (ivr.call.queueing.next_for); the hand-over is one Lua script, so a
person is never given two callers and a caller never two people, whatever the workers and webhooks race.
A callback request taken here is claimed with an expiry and an attempt token (see ivr.store.callbacks).
"""

from __future__ import annotations

import secrets

from ivr.call import presence
from ivr.call.queueing import QueueEntry, parse_queue, request_id_of
from ivr.store import keys, presence_records, scripts, wake
from ivr.store.callbacks import CLAIM_SECONDS, PLACING_SECONDS
from ivr.store.calls import ENDED_TTL, RESERVE_MARGIN_SECONDS


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

    def holds(self) -> tuple[dict[str, str], tuple[str, ...]]:
        """One round trip: who is held by what (agent -> CallSid or callback queue id, while ringing or busy),
        and the CallSids of the callers waiting in line."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall(keys.presence())
        pipe.zrange(keys.queue(), 0, -1)
        presence_hash, queued = pipe.execute()
        holds = {}
        for agent, raw in presence_hash.items():
            record = presence_records.parse(raw)
            if record.call and record.status in (presence.RINGING, presence.BUSY):
                holds[agent] = record.call
        return holds, tuple(q for q in queued if request_id_of(q) == q)

    def take(self, agent: str, entry: QueueEntry, now: float, ring_seconds: int) -> str | None:
        """Give `entry` to `agent` if both are still free; returns the attempt token, or None."""
        attempt = secrets.token_hex(8)  # names this hand-over, so a re-sent take recognises itself
        callback_key = keys.callback(request_id_of(entry.id)) if entry.is_callback else keys.callback("-")
        hold = now + (PLACING_SECONDS if entry.is_callback else ring_seconds + RESERVE_MARGIN_SECONDS)
        call_key = keys.call("-") if entry.is_callback else keys.call(entry.id)
        taken = self.scripts.call(
            "take",
            [keys.presence(), keys.queue(), keys.queue_entries(), keys.callbacks_claimed(), callback_key, call_key],
            [now, hold, agent, entry.id, "1" if entry.is_callback else "0", now + CLAIM_SECONDS, attempt],
        )
        return attempt if taken == 1 else None

    def put_back(self, entry: QueueEntry, now: float) -> None:
        """Return a waiting caller to the queue at their old place (a hand-over that did not happen, the person
        already let go), unless their call has ended meanwhile: a ghost must never hold a place in line."""
        self.scripts.call(
            "enqueue",
            [keys.queue(), keys.queue_entries(), keys.call(entry.id), keys.presence()],
            [entry.id, entry.since, entry.to_json(), "1", now],
        )

    def forget_ended_call(self, call_sid: str, now: float) -> None:
        """Twilio says this call is over: mark it ended (so no late webhook puts it back in line) and take it
        out of the queue. Anyone it still holds is freed by release."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hset(keys.call(call_sid), "ended", now)
        pipe.expire(keys.call(call_sid), ENDED_TTL)
        pipe.zrem(keys.queue(), call_sid)
        pipe.hdel(keys.queue_entries(), call_sid)
        pipe.execute()

    def release_orphan(self, agent: str, queue_id: str, now: float) -> bool:
        """Free `agent` held by a callback request no attempt is placing any more (checked in the same step)."""
        script_keys = [keys.presence(), keys.callbacks_claimed()]
        return self.scripts.call("release_orphan", script_keys, [now, queue_id, agent]) == 1

    def release(self, agent: str, holder: str, now: float) -> None:
        """Free `agent` if `holder` (a CallSid or a callback's queue id) still holds them."""
        call_key = keys.call("-") if request_id_of(holder) != holder else keys.call(holder)
        self.scripts.call("release", [keys.presence(), call_key], [now, holder, "keep", agent])

    def wait_for_wake(self, timeout: float) -> None:
        wake.wait(self.r, timeout)
