"""Connecting to Redis: one factory for every process, and the errors the edges catch, so that nothing outside
ivr.store imports redis.

REDIS_URL may be redis://, rediss:// or unix:// (one server), or
redis+sentinel://[:password@]host:port[,host:port...]/service_name[/db] (the primary that Sentinel names, found
again after a failover). The password is the data nodes'. Sentinels usually run without one (their `requirepass`
is separate from the data nodes'), and sending AUTH to a Sentinel that has no password fails, so the sentinels
get the same password only when the URL asks for it with `?sentinel_auth=1`.

Redis Cluster is refused: the Lua scripts update keys that Cluster would spread over several nodes.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelManagedConnection

from ivr.errors import ConfigError
from ivr.store import keys

Client = redis.Redis
StoreError = redis.exceptions.RedisError  # anything Redis can raise
Unavailable = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)  # down, unreachable or too slow

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379
PLAIN_SCHEMES = ("redis", "rediss", "unix")
URL_FORMS = "redis://, rediss://, unix:// or redis+sentinel://[:password@]host:port[,host:port...]/service_name[/db]"

log = logging.getLogger("ivr.store")


def connect(url: str, timeout: float, connect_timeout: float | None = None, retry_once: bool = False) -> Client:
    """A client that gives up after `timeout` seconds: a caller must never wait on a slow Redis.

    retry_once: retry a command once on a fresh connection, at once (a reused connection the server closed, or,
    through Sentinel, a primary demoted to replica: the retry goes to the new primary).
    Raises ConfigError for a URL of any other form. Makes no connection: Redis may be down at start.
    """
    options = {
        "decode_responses": True,
        "socket_timeout": timeout,
        "socket_connect_timeout": connect_timeout if connect_timeout is not None else timeout,
        **({"retry": Retry(NoBackoff(), 1), "health_check_interval": 30} if retry_once else {}),
    }
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme == SENTINEL_SCHEME:
        return _sentinel_master(url, options)
    if scheme not in PLAIN_SCHEMES:
        why = (
            "Redis Cluster is not supported (the atomic scripts update keys Cluster would put on different nodes)"
            if "cluster" in scheme
            else f"unknown scheme {scheme + '://' if scheme else '(none)'}"
        )
        raise ConfigError(f"REDIS_URL: {why}; use {URL_FORMS}")
    try:
        return redis.Redis.from_url(url, **options)
    except ValueError as exc:
        raise ConfigError(f"REDIS_URL: {exc}") from None


class _PrimaryConnection(SentinelManagedConnection):
    """A connection to the primary that Sentinel names, which follows a failover at once.

    redis-py drops the connection on READONLY (its primary was demoted) and raises ConnectionError, so that the
    command is retried (retry_once) on a new connection. Two gaps closed here: redis-py 8 reconnects a dropped
    connection to the same address without asking Sentinel (the retry would reach the demoted primary again),
    and Redis 6.2 reports a write refused inside a Lua script as a script error, not READONLY.
    """

    _addressed = False  # True while connect_to() connects to the address Sentinel just gave

    def connect_to(self, address):
        self._addressed = True
        try:
            super().connect_to(address)
        finally:
            self._addressed = False

    def connect_check_health(self, *args, **kwargs):
        if self._sock is None and not self._addressed:
            return self.connect()  # ask Sentinel where the primary is now
        return super().connect_check_health(*args, **kwargs)

    def read_response(self, *args, **kwargs):
        try:
            return super().read_response(*args, **kwargs)
        except redis.exceptions.ResponseError as exc:
            if self.connection_pool.is_master and "-READONLY" in str(exc):
                self.disconnect()
                raise redis.exceptions.ConnectionError("the previous primary is now a replica") from exc
            raise


def _sentinel_master(url: str, options: dict) -> Client:
    """The client of the primary that the sentinels in `url` name for its service."""
    sentinels, service, db, password, username, sentinel_auth = parse_sentinel_url(url)
    auth = {"password": password, **({"username": username} if username else {})} if password else {}
    sentinel_kwargs = {k: v for k, v in options.items() if k.startswith("socket_")}
    if sentinel_auth:
        sentinel_kwargs.update(auth)
    manager = Sentinel(sentinels, sentinel_kwargs=sentinel_kwargs)
    return manager.master_for(service, db=db, connection_class=_PrimaryConnection, **auth, **options)


def parse_sentinel_url(url: str) -> tuple[list[tuple[str, int]], str, int, str | None, str | None, bool]:
    """(sentinels, service name, db, password, username, send the password to the sentinels too)."""
    parts = urlsplit(url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":") if ":" in userinfo else ("", "", userinfo)
    sentinels = []
    for host in filter(None, hosts.split(",")):
        name, port = (host.rsplit(":", 1) + [""])[:2] if not host.endswith("]") else (host, "")
        if not port.isdigit() and port:
            raise ConfigError(f"REDIS_URL: sentinel port {port!r} is not a number; use {URL_FORMS}")
        sentinels.append((name.strip("[]"), int(port) if port else SENTINEL_PORT))
    if not sentinels:
        raise ConfigError(f"REDIS_URL: no sentinel host:port; use {URL_FORMS}")
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise ConfigError(f"REDIS_URL: name the service after the sentinels (/service_name[/db]); use {URL_FORMS}")
    if len(path) == 2 and not path[1].isdigit():
        raise ConfigError(f"REDIS_URL: database {path[1]!r} is not a number; use {URL_FORMS}")
    query = parse_qs(parts.query)
    unknown = set(query) - {"sentinel_auth"}
    if unknown:
        raise ConfigError(f"REDIS_URL: unknown option(s) {', '.join(sorted(unknown))} (only sentinel_auth=1)")
    sentinel_auth = query.get("sentinel_auth", ["0"])[-1].lower() in ("1", "yes", "true")
    return (
        sentinels,
        unquote(path[0]),
        int(path[1]) if len(path) == 2 else 0,
        unquote(password) or None,
        unquote(username) or None,
        sentinel_auth,
    )


def refuse_cluster(r: Client) -> None:
    """Raise ConfigError if `r` is a Redis Cluster node. Quiet when Redis does not answer now: a process must
    start, and callers be served the degraded ring, while Redis is down."""
    try:
        info = r.info("cluster")
    except StoreError as exc:
        log.warning("could not check that Redis is not a cluster node (%s); going on", type(exc).__name__)
        return
    if str(info.get("cluster_enabled", 0)) == "1":
        raise ConfigError(
            "REDIS_URL points at a Redis Cluster node: Cluster is not supported, because the atomic scripts update"
            " keys that Cluster would put on different nodes. Use one primary with replicas and Sentinel"
            " (redis+sentinel://...)"
        )


def writable(r: Client) -> str:
    """In one round trip: "ok" if `r` writes to a primary, else why not ("unreachable", "read-only replica", ...)."""
    try:
        role = r.execute_command("ROLE")
    except Unavailable:
        return "unreachable"
    except redis.exceptions.NoPermissionError:  # a least-privilege user without @dangerous: try a write
        return _write_probe(r)
    except StoreError as exc:
        return f"error ({type(exc).__name__})"
    kind = str(role[0]) if role else "unknown"
    return {"master": "ok", "slave": "read-only replica", "sentinel": "a sentinel, not a data node"}.get(kind, kind)


def _write_probe(r: Client) -> str:
    try:
        r.set(keys.health(), "1", px=1000)
        return "ok"
    except redis.exceptions.ReadOnlyError:
        return "read-only replica"
    except Unavailable:
        return "unreachable"
    except StoreError as exc:
        return f"error ({type(exc).__name__})"


def answers(r: Client) -> bool:
    """Whether Redis answers a ping now."""
    try:
        return bool(r.ping())
    except StoreError:
        return False
