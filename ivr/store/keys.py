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


def queue() -> str:
    """Everyone waiting for a person, callers and callback requests alike (a sorted set: id -> since)."""
    return f"{PREFIX}queue"


def queue_entries() -> str:
    """Who may take each waiting id (a hash: id -> QueueEntry JSON)."""
    return f"{PREFIX}queue:entries"


def callback(request_id: str) -> str:
    """One callback request: the number to call and its progress (a hash). callback("*") matches them all."""
    return f"{PREFIX}callback:{request_id}"


def callbacks_claimed() -> str:
    """Callback requests a worker is placing (a sorted set: id -> claim expiry), for re-delivery."""
    return f"{PREFIX}callbacks:claimed"


def callbacks_for_supervisors() -> str:
    """Callback requests that could not be completed (a sorted set: id -> time given up)."""
    return f"{PREFIX}callbacks:supervisors"


def talk_times(group: str) -> str:
    """Recent talk times of a group's calls, for wait estimates (a sorted set: "CallSid:seconds" -> when),
    so recording one twice (a re-sent pipeline) still counts it once."""
    return f"{PREFIX}talk:{group}"


def wake() -> str:
    """A list the dispatcher blocks on: at most one nudge, pushed when a person frees up or someone waits."""
    return f"{PREFIX}wake"


def health() -> str:
    """A short-lived key /health writes when it may not ask Redis its role (a least-privilege user)."""
    return f"{PREFIX}health"
