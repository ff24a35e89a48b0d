"""Connecting to Redis: one factory for every process, and the errors the edges catch, so that nothing outside
ivr.store imports redis.
"""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

Client = redis.Redis
StoreError = redis.exceptions.RedisError  # anything Redis can raise
Unavailable = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)  # down, unreachable or too slow


def connect(url: str, timeout: float, connect_timeout: float | None = None, retry_once: bool = False) -> Client:
    """A client that gives up after `timeout` seconds: a caller must never wait on a slow Redis.

    retry_once: retry a command once on a fresh connection, at once (a reused connection the server closed).
    """
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=timeout,
        socket_connect_timeout=connect_timeout if connect_timeout is not None else timeout,
        **({"retry": Retry(NoBackoff(), 1), "health_check_interval": 30} if retry_once else {}),
    )


def answers(r: Client) -> bool:
    """Whether Redis answers a ping now."""
    try:
        return bool(r.ping())
    except StoreError:
        return False
