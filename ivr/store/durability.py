"""Whether the Redis we are given keeps what it is told across a restart: callback requests, caller memory,
presence and the queue are promises to callers, and a Redis that saves nothing loses them all on a restart."""

from __future__ import annotations

import redis


def warning(r) -> str | None:
    """What to tell ops at start if this Redis has no persistence; None if it has, or if we cannot tell (Redis
    down, or CONFIG refused as on many managed services, which keep their own)."""
    try:
        config = {**r.config_get("appendonly"), **r.config_get("save")}
    except redis.exceptions.RedisError:
        return None
    if config.get("appendonly") == "yes" or config.get("save", "").strip():
        return None
    return (
        "this Redis keeps nothing across a restart (appendonly no, no save points): a restart would lose "
        "every waiting callback request, caller memory and presence. Turn on AOF "
        "(appendonly yes, appendfsync everysec)"
    )
