"""A caller's recent contacts and resolution mark: one hash per caller, keyed by an HMAC of their number."""

from __future__ import annotations

from dataclasses import replace

from ivr.call.callstate import CallerMemory, Contact, WrapUp
from ivr.store import keys

CONTACT = "c:"  # field prefix: one field per contact, named by its CallSid
WRAP = "w:"  # field prefix: the wrap-up of a contact, apart from it, so the call's own saves never erase it
RESOLVED = "resolved_at"
LABEL = "label"  # the caller's number masked (***1234), for people's screens: never the number itself
PENDING_CALLBACK = "cb"  # written and cleared by ivr.store.callback_desk and the callback scripts


def remember(pipe, caller: str, contact: Contact, window_seconds: int, forget: tuple | list = ()) -> None:
    """Queue the writes that keep a contact (and drop ones past the window); the hash lives as long as the window."""
    key = keys.caller(caller)
    pipe.hset(key, CONTACT + contact.call, contact.to_json())
    if forget:
        pipe.hdel(key, *[field for call in forget for field in (CONTACT + call, WRAP + call)])
    pipe.expire(key, window_seconds)


def wrap_up(pipe, caller: str, call: str, wrap: WrapUp, window_seconds: int) -> None:
    """Queue the writes that keep a wrap-up with the caller's contact; "resolved" closes their problem, so
    their next call goes through the menu again (the note is still told to whoever takes it)."""
    key = keys.caller(caller)
    pipe.hset(key, WRAP + call, wrap.to_json())
    if wrap.outcome == "resolved":
        pipe.hset(key, RESOLVED, wrap.at)
        pipe.zrem(keys.open_problems(), caller)
    else:  # not resolved, or a follow-up is needed: open until a call of theirs is resolved
        pipe.zadd(keys.open_problems(), {caller: wrap.at})
    pipe.expire(key, window_seconds)


def resolve(r, caller: str, now: float) -> int:
    """Mark a caller's problem resolved: their next call goes through the menu again.

    Returns how many contacts in the store this closes: 0 for a caller never seen (or forgotten after their
    window), of whom nothing is written.
    """
    closed = sum(1 for f in r.hkeys(keys.caller(caller)) if f.startswith(CONTACT))
    if closed:
        r.hset(keys.caller(caller), RESOLVED, now)  # the hash keeps its window's expiry
        r.zrem(keys.open_problems(), caller)
    return closed


def history(r, caller: str) -> CallerMemory:
    return parse(r.hgetall(keys.caller(caller)))


def parse(caller_hash: dict) -> CallerMemory:
    contacts = []
    for name, raw in caller_hash.items():
        if name.startswith(CONTACT):
            contact = Contact.from_json(raw)
            if contact is not None:
                wrap = caller_hash.get(WRAP + contact.call)
                contacts.append(replace(contact, wrap=WrapUp.from_json(wrap)) if wrap else contact)
    try:
        resolved = float(caller_hash.get(RESOLVED, 0))
    except ValueError:
        resolved = 0.0
    return CallerMemory(
        tuple(contacts), resolved, caller_hash.get(PENDING_CALLBACK) or None, caller_hash.get(LABEL, "")
    )
