"""Who may sign in to the console and the API, and how: passwords kept as argon2 hashes, one-time sign-in
links and bearer tokens kept as SHA-256 digests, and a bounded number of failed sign-ins per person and per
address. No secret is ever stored, logged or shown again in plain text."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ivr.store import keys

HASHER = PasswordHasher()
LINK_SECONDS = 15 * 60  # a sign-in link works once, within this time
FAILURES_ALLOWED = 5  # failed sign-ins per person within FAILURE_WINDOW ...
ADDRESS_FAILURES_ALLOWED = 30  # ... and per address: many people may share one (an office, a proxy)
FAILURE_WINDOW = 5 * 60
PASSWORD_MIN = 10
TOKEN_PREFIX = "ivr_"  # recognisable in a config file or a leaked log, like other services' tokens


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def set_password(r, agent_id: str, password: str) -> None:
    """Keep a new password (hashed) and sign the person out of every session made with the old one."""
    if len(password) < PASSWORD_MIN:
        raise ValueError(f"a password needs at least {PASSWORD_MIN} characters")
    pipe = r.pipeline(transaction=True)
    pipe.hset(keys.account(agent_id), "password", HASHER.hash(password))
    pipe.hincrby(keys.account(agent_id), "epoch", 1)
    pipe.execute()


def password_matches(r, agent_id: str, password: str) -> bool:
    stored = r.hget(keys.account(agent_id), "password")
    if not stored:
        HASHER.hash(password)  # the same work as a real check: timing does not tell who has a password
        return False
    try:
        return HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def epoch(r, agent_id: str) -> int:
    """The person's session epoch: a session made under an older one is no longer valid."""
    return int(r.hget(keys.account(agent_id), "epoch") or 0)


def sign_out_everywhere(r, agent_id: str) -> None:
    r.hincrby(keys.account(agent_id), "epoch", 1)


def new_sign_in_link(r, agent_id: str) -> str:
    """A secret for a one-time sign-in link, valid for LINK_SECONDS."""
    secret = secrets.token_urlsafe(32)
    r.set(keys.sign_in_link(digest(secret)), agent_id, ex=LINK_SECONDS)
    return secret


def use_sign_in_link(r, secret: str) -> str | None:
    """The person a link signs in, once: the link is gone after this, used or not by them."""
    return r.getdel(keys.sign_in_link(digest(secret))) if secret else None


def new_token(r, agent_id: str) -> str:
    """A bearer token acting for the person, until revoked."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    pipe = r.pipeline(transaction=True)
    pipe.set(keys.token(digest(token)), agent_id)
    pipe.sadd(keys.tokens_of(agent_id), digest(token))
    pipe.execute()
    return token


def token_owner(r, token: str) -> str | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    return r.get(keys.token(digest(token)))


def revoke_tokens(r, agent_id: str) -> int:
    """Revoke every bearer token of a person; returns how many there were."""
    digests = r.smembers(keys.tokens_of(agent_id))
    pipe = r.pipeline(transaction=True)
    for d in digests:
        pipe.delete(keys.token(d))
    pipe.delete(keys.tokens_of(agent_id))
    pipe.execute()
    return len(digests)


def blocked(r, person: str, address: str) -> bool:
    """Whether this person, or this address, failed to sign in too often lately."""
    mine, theirs = r.mget([keys.sign_in_failures(person), keys.sign_in_failures(address)])
    return int(mine or 0) >= FAILURES_ALLOWED or int(theirs or 0) >= ADDRESS_FAILURES_ALLOWED


def failed(r, *who: str) -> None:
    pipe = r.pipeline(transaction=False)
    for w in who:  # the window starts at the first failure (INCR keeps the expiry SET NX gave it)
        pipe.set(keys.sign_in_failures(w), 0, ex=FAILURE_WINDOW, nx=True)
        pipe.incr(keys.sign_in_failures(w))
    pipe.execute()


def succeeded(r, who: str) -> None:
    r.delete(keys.sign_in_failures(who))
