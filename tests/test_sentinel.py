"""High availability on Redis Sentinel, against a real primary, replica and three sentinels started here:
callers get the normal menu through a redis+sentinel:// URL, again soon after a failover, and through a
demoted primary; /health tells a load balancer when the Redis it writes to is no writable primary; Redis
Cluster is refused at start."""

from __future__ import annotations

import socket
import time

import pytest

from ivr.errors import ConfigError
from ivr.store import client as store
from ivr.store.embedded_redis import free_port
from tests.redis_sentinel import SERVICE, Node, SentinelSetup, wait_until
from tests.support import AUTH_TOKEN, PUBLIC_URL
from tests.twilio_sim import Twilio

PROMOTION_TO_MENU_SECONDS = 15
# A primary that lost its place (restarted after a failover, or demoted by one) is made a replica by the sentinels'
# "+convert-to-slave": a sentinel reads its INFO every 10 s and converts it only once it has reported "master", and
# been up, for 8 s: 10-28 s, later on a loaded machine.
CONVERSION_SECONDS = 45


@pytest.fixture
def sentinels(tmp_path):
    with SentinelSetup(tmp_path / "sentinel") as setup:
        yield setup


def menu_or_ring(app) -> str:
    """Start a call: "menu" for the normal first menu, "ring" for the degraded ring-everyone."""
    heard = Twilio(app.test_client(), AUTH_TOKEN, PUBLIC_URL).call().start().heard()
    if "Thanks for calling Riverlink" in heard:
        return "menu"
    assert "connecting you to a person" in heard, heard
    return "ring"


def test_a_sentinel_url_serves_the_normal_menu(make_app, sentinels):
    app = make_app(REDIS_URL=sentinels.url)
    assert menu_or_ring(app) == "menu"
    health = app.test_client().get("/health")
    assert health.status_code == 200 and health.get_json()["redis"] == "ok"
    assert app.extensions["ivr"].redis.connection_pool.master_address[1] == sentinels.primary.port


def test_callers_get_the_menu_again_soon_after_a_failover_and_through_a_demoted_primary(make_app, sentinels):
    app = make_app(REDIS_URL=sentinels.url)
    assert menu_or_ring(app) == "menu"

    sentinels.primary.kill()
    killed = time.monotonic()
    assert menu_or_ring(app) == "ring", "no primary: the degraded ring, never silence"
    promoted = sentinels.wait_promoted(sentinels.replica)
    wait_until(lambda: menu_or_ring(app) == "menu", PROMOTION_TO_MENU_SECONDS, "the normal menu after the promotion")
    served = time.monotonic()
    print(
        f"\nfailover: primary killed -> replica promoted {promoted - killed:.2f} s,"
        f" promoted -> normal menu {served - promoted:.2f} s"
    )
    assert served - promoted < PROMOTION_TO_MENU_SECONDS

    # The old primary comes back believing it is the primary; the sentinels make it a replica of the new one.
    old, new = sentinels.primary, sentinels.replica
    sentinels.restart(old)
    sentinels.wait_replicating(old, new, seconds=CONVERSION_SECONDS)
    assert menu_or_ring(app) == "menu"

    # A failover while the app holds connections to the primary: they now reach a demoted primary, which
    # refuses writes (READONLY, or a script error on Redis 6.2); the next attempt asks the sentinels again.
    pool = app.extensions["ivr"].redis.connection_pool
    assert pool.master_address[1] == new.port
    sentinels.wait_known_replica(old, new)
    with sentinels.sentinels[0].client() as s:
        wait_until(lambda: s.execute_command("SENTINEL", "FAILOVER", SERVICE), 20, "Sentinel accepts a failover")
    sentinels.wait_promoted(old)
    sentinels.wait_replicating(new, old, seconds=CONVERSION_SECONDS)
    assert menu_or_ring(app) == "menu", "a connection to the demoted primary goes to the new one"
    assert pool.master_address[1] == old.port

    # Sentinel's reconfiguration closes the clients of the primary it demotes, so the lines above may never see
    # READONLY. A connection that outlived the demotion (opened from a stale answer, a partition that healed)
    # does: a write on it, plain or inside a script, goes to the new primary instead of failing every call.
    client = store.connect(sentinels.url, timeout=1, retry_once=True)
    for write in (
        lambda: client.set("k", "plain"),
        lambda: client.eval("return redis.call('SET', KEYS[1], 'scripted')", 1, "k"),
    ):
        hold_stale_connection(client, new)
        assert write()
        assert client.connection_pool.master_address[1] == old.port
    hold_stale_connection(app.extensions["ivr"].redis, new)
    assert menu_or_ring(app) == "menu"
    assert pool.master_address[1] == old.port
    client.close()


def hold_stale_connection(client, node: Node) -> None:
    """Leave in CLIENT's pool an open connection to NODE, as if NODE were still the primary Sentinel last named."""
    pool = client.connection_pool
    connection = pool.get_connection()
    connection.disconnect()
    connection.connect_to(("127.0.0.1", node.port))
    pool.proxy.master_address = ("127.0.0.1", node.port)
    pool.release(connection)
    with node.client() as c:
        assert c.execute_command("ROLE")[0] == "slave"


def test_health_is_503_unless_redis_is_a_writable_primary(make_app, sentinels):
    replica = make_app(REDIS_URL=sentinels.replica.url).test_client().get("/health")
    assert replica.status_code == 503
    assert replica.get_json()["status"] == "degraded" and replica.get_json()["redis"] == "read-only replica"
    primary = make_app(REDIS_URL=sentinels.primary.url).test_client().get("/health")
    assert primary.status_code == 200 and primary.get_json()["redis"] == "ok"


def test_health_works_for_a_least_privilege_redis_user(make_app, sentinels):
    """A user without @dangerous may not run ROLE (nor INFO or CONFIG): /health finds out by writing."""
    for node in (sentinels.primary, sentinels.replica):
        with node.client() as admin:
            admin.acl_setuser(
                "ivrapp", enabled=True, passwords=["+app-pw"], keys=["ivr:*"], commands=["+@all", "-@dangerous"]
            )
    primary_url = sentinels.primary.url.replace("redis://", "redis://ivrapp:app-pw@")
    replica_url = sentinels.replica.url.replace("redis://", "redis://ivrapp:app-pw@")
    primary = make_app(REDIS_URL=primary_url).test_client().get("/health")
    assert primary.status_code == 200 and primary.get_json()["redis"] == "ok"
    replica = make_app(REDIS_URL=replica_url).test_client().get("/health")
    assert replica.status_code == 503 and replica.get_json()["redis"] == "read-only replica"


def test_the_app_starts_and_rings_everyone_when_no_sentinel_answers(make_app):
    app = make_app(REDIS_URL=f"redis+sentinel://127.0.0.1:{free_port()}/{SERVICE}")
    assert menu_or_ring(app) == "ring"
    health = app.test_client().get("/health")
    assert health.status_code == 503 and health.get_json()["redis"] == "unreachable"


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("redis+cluster://127.0.0.1:7000", "Redis Cluster is not supported"),
        ("memcached://127.0.0.1:11211", "unknown scheme memcached://"),
        ("127.0.0.1:6379", "unknown scheme (none)"),
        ("redis+sentinel://127.0.0.1:26379", "name the service"),
        ("redis+sentinel://127.0.0.1:26379/ivr/zero", "database 'zero' is not a number"),
        ("redis+sentinel://127.0.0.1:x/ivr", "port 'x' is not a number"),
    ],
)
def test_other_urls_are_refused_naming_the_problem(make_app, url, named):
    with pytest.raises(ConfigError, match="REDIS_URL") as refused:
        make_app(REDIS_URL=url)
    assert named in str(refused.value)


def test_a_sentinel_url_carries_the_password_and_db_to_the_data_nodes(make_app):
    url = "redis+sentinel://:s%40cret@10.0.0.1:26380,10.0.0.2/mymaster/3"
    client = store.connect(url, timeout=0.5, retry_once=True)
    pool = client.connection_pool
    assert pool.service_name == "mymaster"
    assert pool.connection_kwargs["password"] == "s@cret" and pool.connection_kwargs["db"] == 3
    manager = pool.sentinel_manager
    assert [
        (s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
        for s in manager.sentinels
    ] == [("10.0.0.1", 26380), ("10.0.0.2", 26379)]
    assert all(s.connection_pool.connection_kwargs.get("password") is None for s in manager.sentinels)
    with_auth = store.connect(url + "?sentinel_auth=1", timeout=0.5).connection_pool.sentinel_manager
    assert all(s.connection_pool.connection_kwargs["password"] == "s@cret" for s in with_auth.sentinels)


def test_a_redis_cluster_node_is_refused_at_start(make_app, tmp_path):
    node = Node(
        tmp_path / "cluster", "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", port=cluster_port()
    )
    node.start()
    try:
        with pytest.raises(ConfigError, match="Redis Cluster node") as refused:
            make_app(REDIS_URL=node.url)
        assert "different nodes" in str(refused.value)
    finally:
        node.stop()


def cluster_port() -> int:
    """A free port a Cluster node can take: its bus port, 10000 higher, must exist and be free too."""
    while True:
        port = free_port()
        if port + 10000 <= 65535:
            with socket.socket() as bus:
                if bus.connect_ex(("127.0.0.1", port + 10000)) != 0:
                    return port
