"""The voicemail inbox: every message a caller leaves, for the team they were trying to reach (or their own
person), with its recording's address, whether a callback was promised, and who dealt with it and when.
Numbers are sealed; a message and its record go away by themselves after KEPT_SECONDS."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ivr.store import audit, keys
from ivr.store.sealed import Sealer

KEPT_SECONDS = 14 * 24 * 3600
SHOWN = 200  # the newest messages a screen lists
NEW, DONE = "new", "done"


@dataclass(frozen=True)
class Message:
    id: str  # the CallSid of the call that left it
    flow: str
    groups: tuple[str, ...]
    owner: str | None  # a person it is for (a returning caller's own), or taken by someone
    caller: str  # HMAC of the number, "" when withheld
    number: str | None  # opened, only where the sealer was given
    url: str
    seconds: float
    at: float
    path: tuple[str, ...]
    callback: str | None  # the callback request made with it
    status: str  # new or done
    done_by: str | None
    done_at: float

    def for_person(self, agent) -> bool:
        """Whether it is this person's to see: theirs, or their team's (a supervisor sees all)."""
        return agent.is_supervisor or self.owner == agent.id or any(g in agent.groups for g in self.groups)


def store(pipe, message: dict, sealer: Sealer) -> None:
    """Queue the writes that keep a new message (HSETNX and ZADD NX: a re-sent pipeline changes nothing)."""
    key = keys.message(message["id"])
    fields = {
        "flow": message.get("flow", ""),
        "groups": ",".join(message.get("groups", ())),
        "owner": message.get("owner") or "",
        "caller": message.get("caller") or "",
        "number": sealer.seal(message.get("number")) or "",
        "url": message.get("url", ""),
        "seconds": message.get("seconds", 0),
        "at": message["at"],
        "path": json.dumps(list(message.get("path", ()))),
        "callback": message.get("callback") or "",
        "status": NEW,
    }
    for name, value in fields.items():
        pipe.hsetnx(key, name, value)
    pipe.expire(key, KEPT_SECONDS)
    pipe.zadd(keys.messages(), {message["id"]: message["at"]}, nx=True)
    pipe.zremrangebyscore(keys.messages(), "-inf", message["at"] - KEPT_SECONDS)


def inbox(r, sealer: Sealer | None = None, limit: int = SHOWN) -> list[Message]:
    """The newest messages first."""
    ids = r.zrevrange(keys.messages(), 0, limit - 1)
    pipe = r.pipeline(transaction=False)
    for message_id in ids:
        pipe.hgetall(keys.message(message_id))
    found = [_parse(i, data, sealer) for i, data in zip(ids, pipe.execute(), strict=True)]
    return [m for m in found if m is not None]


def one(r, message_id: str, sealer: Sealer | None = None) -> Message | None:
    return _parse(message_id, r.hgetall(keys.message(message_id)), sealer)


def mark(r, message_id: str, action: str, who: str, now: float, owner: str | None = None) -> None:
    """Mark a message done, or give it to a person (`own`), recorded with who and when."""
    key = keys.message(message_id)
    pipe = r.pipeline(transaction=True)
    if action == "done":
        pipe.hset(key, mapping={"status": DONE, "done_by": who, "done_at": now})
    elif action == "own":
        pipe.hset(key, mapping={"owner": owner or who})
    elif action == "reopen":
        pipe.hset(key, mapping={"status": NEW, "done_by": "", "done_at": 0})
    else:
        raise ValueError(f"unknown action {action!r}")
    audit.record(pipe, audit.Change(now, who, f"message {action}", f"message {message_id}", owner or ""))
    pipe.execute()


def _parse(message_id: str, data: dict, sealer: Sealer | None) -> Message | None:
    if not data or "url" not in data:
        return None
    try:
        path = tuple(json.loads(data.get("path") or "[]"))
    except ValueError:
        path = ()
    return Message(
        id=message_id,
        flow=data.get("flow", ""),
        groups=tuple(g for g in data.get("groups", "").split(",") if g),
        owner=data.get("owner") or None,
        caller=data.get("caller", ""),
        number=sealer.open(data["number"]) if sealer and data.get("number") else None,
        url=data.get("url", ""),
        seconds=float(data.get("seconds") or 0),
        at=float(data.get("at") or 0),
        path=path,
        callback=data.get("callback") or None,
        status=data.get("status", NEW),
        done_by=data.get("done_by") or None,
        done_at=float(data.get("done_at") or 0),
    )
