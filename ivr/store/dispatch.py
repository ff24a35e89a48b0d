"""Handing waiting callers and callback requests to people as they free up, in Redis (client passed in).

The choice of who takes whom is pure (ivr.call.queueing.next_for); the hand-over is one Lua script, so a
person is never given two callers and a caller never two people, whatever the workers and webhooks race.
A callback request taken here is claimed with an expiry and an attempt token (see ivr.store.callbacks).
What a round reads is the free people and the first few entries of each line: its cost grows with the
people free and the number of groups, never with the number of callers waiting (but for a line whose first
entries nobody free may take: it is read a few pages further, so the callers behind them are not stranded).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from ivr.call import presence
from ivr.call.queueing import QueueEntry, request_id_of
from ivr.flows.directory import SUPERVISORS
from ivr.store import keys, presence_records, scripts, wake
from ivr.store.callbacks import CLAIM_SECONDS, PLACING_SECONDS
from ivr.store.calls import ENDED_TTL, RESERVE_MARGIN_SECONDS

HEAD = 16  # entries read from the front of each line per round
FURTHER_PAGE = 4 * HEAD  # entries read at a time behind a head that nobody free may take ...
FURTHER_PAGES = 4  # ... for at most this many pages per round
FREE_PER_LINE = 32  # free people read per group someone waits for, longest idle first
SWEPT_PER_ROUND = 100  # expired holds let go per round


@dataclass(frozen=True)
class Round:
    """What one dispatch round sees: who is free (longest idle first), and the front of every line."""

    free: tuple[str, ...] = ()  # of the groups someone waits for
    directory_mark: str | None = None  # the fingerprint the presence indexes were built for
    lines: dict[str, tuple[QueueEntry, ...]] = field(default_factory=dict)  # group -> first entries
    own: dict[str, tuple[QueueEntry, ...]] = field(default_factory=dict)  # free person -> their returning callers
    staffed: dict[str, int] = field(default_factory=dict)  # group -> non-supervisors on duty
    on_duty: frozenset[str] = frozenset()  # of the people waiting callers prefer, those not away


class Dispatch:
    def __init__(self, r):
        self.r = r
        self.scripts = scripts.Registered(r)
        self._known_lines: tuple[str, ...] = ()  # every group with a line, as the last round found them

    def round(self, now: float, directory_groups: tuple[str, ...]) -> Round:
        """What a round needs, in two round trips (a third, when returning callers wait): the heads of the lines
        and the free people of each group, longest idle first; then, only if someone waits and someone of a
        group they wait for (or a supervisor) is free, the entries the heads name and those people's own
        returning callers (and, for a line whose head nobody free may take, a few pages behind it); then
        whether the people callers prefer are on duty. Holds that expired unheard are let go first. Besides the
        directory's groups, the lines of groups that left it are read too (the supervisors take their callers).
        A round with nobody free, or nobody waiting, stops after the first."""
        groups = tuple(dict.fromkeys((*directory_groups, *self._known_lines, SUPERVISORS)))

        def first(pipe, shas) -> None:
            pipe.evalsha(shas["sweep"], 0, now, SWEPT_PER_ROUND)
            pipe.get(keys.people_version())
            pipe.smembers(keys.lines())
            for g in groups:
                pipe.zrange(keys.line(g), 0, HEAD - 1)
                pipe.scard(keys.staffed(g))
                pipe.zrange(keys.free(g), 0, FREE_PER_LINE - 1, withscores=True)

        replies = self.scripts.run(first)
        mark = replies[1]
        self._known_lines = tuple(sorted(replies[2]))
        head_ids = {g: ids for i, g in enumerate(groups) if (ids := replies[3 + 3 * i])}
        staffed = {g: int(replies[4 + 3 * i]) for i, g in enumerate(groups)}
        free_lists = {g: replies[5 + 3 * i] for i, g in enumerate(groups)}
        idle = {a: since for g in (*head_ids, SUPERVISORS) for a, since in free_lists[g]}
        free = tuple(sorted(idle, key=lambda a: (idle[a], a)))
        if not head_ids or not free:
            return Round((), mark, staffed=staffed)
        wanted = list({q for ids in head_ids.values() for q in ids})
        pipe = self.r.pipeline(transaction=False)
        pipe.hmget(keys.queue_entries(), wanted)
        for agent in free:
            pipe.zrange(keys.own_line(agent), 0, HEAD - 1)
        raw, *own_ids = pipe.execute()
        entries = _parse(dict(zip(wanted, raw, strict=True)))
        head_ids = self._read_further(head_ids, entries, set(free), now)
        own_wanted = [q for ids in own_ids for q in ids if q not in entries]  # further down than the heads
        prefer = sorted({e.prefer for e in entries.values() if e.prefer})
        duty = []
        if own_wanted or prefer:
            pipe = self.r.pipeline(transaction=False)
            pipe.hmget(keys.queue_entries(), own_wanted or ["-"])
            pipe.smismember(keys.on_duty(presence.EVERYONE), prefer or ["-"])
            own_raw, duty = pipe.execute()
            entries.update(_parse(dict(zip(own_wanted, own_raw, strict=False))))
        return Round(
            free,
            mark,
            {g: tuple(entries[q] for q in ids if q in entries) for g, ids in head_ids.items()},
            {a: tuple(entries[q] for q in ids if q in entries) for a, ids in zip(free, own_ids, strict=True) if ids},
            staffed,
            frozenset(a for a, yes in zip(prefer, duty, strict=False) if yes),
        )

    def _read_further(
        self, head_ids: dict[str, list[str]], entries: dict[str, QueueEntry], free: set[str], now: float
    ) -> dict[str, list[str]]:
        """The lines' ids, read further where nobody free may take any entry of a full head (as far as the store
        can tell): a page at a time, until a page holds one someone may take, at most FURTHER_PAGES pages, so
        callers behind paused or closed-line callbacks (most likely on the supervisors' line) are not stranded.
        Adds the entries read to `entries`. Two round trips a page, and none when every head has such an entry."""
        lines = {g: list(ids) for g, ids in head_ids.items()}
        stuck = [g for g, ids in lines.items() if len(ids) == HEAD and not _any_open(ids, entries, free, now)]
        for page in range(FURTHER_PAGES):
            if not stuck:
                break
            start = HEAD + page * FURTHER_PAGE
            pipe = self.r.pipeline(transaction=False)
            for g in stuck:
                pipe.zrange(keys.line(g), start, start + FURTHER_PAGE - 1)
            pages = dict(zip(stuck, pipe.execute(), strict=True))
            unread = list({q for ids in pages.values() for q in ids if q not in entries})
            if unread:
                entries.update(_parse(dict(zip(unread, self.r.hmget(keys.queue_entries(), unread), strict=True))))
            for g, ids in pages.items():  # one put back in line meanwhile shifts the others: each offered once
                lines[g] += [q for q in ids if q not in lines[g]]
            stuck = [g for g in stuck if len(pages[g]) == FURTHER_PAGE and not _any_open(pages[g], entries, free, now)]
        return lines

    def holds(self) -> dict[str, str]:
        """One round trip: who is held by what (agent -> CallSid or callback queue id, while ringing or busy)."""
        held = self.r.zrange(keys.held(), 0, -1)
        if not held:
            return {}
        records = self.r.hmget(keys.presence(), held)
        found = {}
        for agent, raw in zip(held, records, strict=True):
            record = presence_records.parse(raw)
            if record.call and record.status in (presence.RINGING, presence.BUSY):
                found[agent] = record.call
        return found

    def waiting_page(self, start: int, count: int) -> tuple[tuple[str, ...], int]:
        """The CallSids of the callers waiting at places start .. start+count-1 (callback requests left out),
        and where the next page starts (0 again after the end), so the line is checked a page at a time."""
        page = self.r.zrange(keys.queue(), start, start + count - 1)
        following = start + count if len(page) == count else 0
        return tuple(q for q in page if request_id_of(q) == q), following

    def take_all(self, hand_overs: list[tuple[str, QueueEntry, int]], now: float) -> list[str | None]:
        """Give each entry to its person, if both are still free: one round trip for every hand-over of a
        round. Takes (agent, entry, ring seconds); returns each hand-over's attempt token, or None."""
        tokens = [secrets.token_hex(8) for _ in hand_overs]  # names a hand-over: a re-sent take knows its own

        def build(pipe, shas) -> None:
            for (agent, entry, ring_seconds), token in zip(hand_overs, tokens, strict=True):
                callback_key = keys.callback(request_id_of(entry.id)) if entry.is_callback else keys.callback("-")
                hold = now + (PLACING_SECONDS if entry.is_callback else ring_seconds + RESERVE_MARGIN_SECONDS)
                call_key = keys.call("-") if entry.is_callback else keys.call(entry.id)
                pipe.evalsha(
                    shas["take"],
                    6,
                    keys.presence(),
                    keys.queue(),
                    keys.queue_entries(),
                    keys.callbacks_claimed(),
                    callback_key,
                    call_key,
                    now,
                    hold,
                    agent,
                    entry.id,
                    "1" if entry.is_callback else "0",
                    now + CLAIM_SECONDS,
                    token,
                )

        replies = self.scripts.run(build) if hand_overs else []
        return [token if taken == 1 else None for token, taken in zip(tokens, replies, strict=True)]

    def take(self, agent: str, entry: QueueEntry, now: float, ring_seconds: int) -> str | None:
        """Give `entry` to `agent` if both are still free; returns the attempt token, or None."""
        return self.take_all([(agent, entry, ring_seconds)], now)[0]

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

        def build(pipe, shas) -> None:
            pipe.hset(keys.call(call_sid), "ended", now)
            pipe.expire(keys.call(call_sid), ENDED_TTL)
            pipe.evalsha(shas["dequeue"], 0, call_sid)

        self.scripts.run(build)

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


def _any_open(ids: list[str], entries: dict[str, QueueEntry], free: set[str], now: float) -> bool:
    """Whether someone free may take one of these entries now, as far as the store can tell: an entry is not a
    callback (its line may be closed: the worker knows the hours), not paused, and not kept for a returning
    caller's own person who is not free. The supervisors' patience (max hold) is not checked: the entries
    behind are younger, so reading further would not help."""
    for q in ids:
        entry = entries.get(q)
        if entry is None or entry.is_callback or entry.not_before > now:
            continue
        if not (entry.prefer and now < entry.prefer_until and entry.prefer not in free):
            return True
    return False


def _parse(raw: dict[str, str | None]) -> dict[str, QueueEntry]:
    """Parse entries; one that has left the queue meanwhile (or cannot be read) is skipped this round. It is
    not removed from its line here: it may have come back in line since it was read."""
    parsed = {q: QueueEntry.from_json(text) if text else None for q, text in raw.items()}
    return {q: e for q, e in parsed.items() if e is not None}
