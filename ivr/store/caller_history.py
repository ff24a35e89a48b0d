"""A caller's recent contacts and resolution mark: one hash per caller, keyed by an HMAC of their number."""

from __future__ import annotations

from ivr.call.callstate import CallerMemory, Contact
from ivr.store import keys

CONTACT = "c:"  # field prefix: one field per contact, named by its CallSid
RESOLVED = "resolved_at"


def remember(pipe, caller: str, contact: Contact, window_seconds: int, forget: tuple | list = ()) -> None:
    """Queue the writes that keep a contact (and drop ones past the window); the hash lives as long as the window."""
    key = keys.caller(caller)
    pipe.hset(key, CONTACT + contact.call, contact.to_json())
    if forget:
        pipe.hdel(key, *[CONTACT + call for call in forget])
    pipe.expire(key, window_seconds)


def resolve(r, caller: str, now: float) -> int:
    """Mark a caller's problem resolved: their next call goes through the menu again.

    Returns how many contacts in the store this closes.
    """
    pipe = r.pipeline(transaction=True)
    pipe.hset(keys.caller(caller), RESOLVED, now)
    pipe.hgetall(keys.caller(caller))
    _, caller_hash = pipe.execute()
    return sum(1 for f in caller_hash if f.startswith(CONTACT))


def history(r, caller: str) -> CallerMemory:
    return parse(r.hgetall(keys.caller(caller)))


def parse(caller_hash: dict) -> CallerMemory:
    contacts = []
    for name, raw in caller_hash.items():
        if name.startswith(CONTACT):
            contact = Contact.from_json(raw)
            if contact is not None:
                contacts.append(contact)
    try:
        resolved = float(caller_hash.get(RESOLVED, 0))
    except ValueError:
        resolved = 0.0
    return CallerMemory(tuple(contacts), resolved)
