"""Every Redis key the project uses, built here and nowhere else, under one prefix."""

PREFIX = "ivr:"


def call(call_sid: str) -> str:
    """The state of one call in progress (a hash)."""
    return f"{PREFIX}call:{call_sid}"


def caller(caller_id: str) -> str:
    """One caller's recent contacts and resolution mark (a hash), keyed by an HMAC, never a raw number."""
    return f"{PREFIX}caller:{caller_id}"


def presence() -> str:
    """Every agent's availability (a hash: agent id -> JSON record)."""
    return f"{PREFIX}presence"
