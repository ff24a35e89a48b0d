"""gunicorn's settings for the web process (the Procfile passes `--config python:webhooks.gunicorn_settings`).

keepalive: Twilio, like any client with a connection pool, reuses an idle keep-alive connection. gunicorn
closes one after `keepalive` seconds (2 by default); a request the client sends on it at that moment meets
a closed socket and the webhook fails with a connection reset (2 to 5 calls per soak ended so). Idle
connections are held longer than clients keep them, so the client is the one that closes them. With the
gthread worker an idle connection waits in the poller, not in a thread.

access log: the path without the query string (%(U)s, not the request line %(r)s): query strings carry
request ids and attempt tokens, and must never carry anything about a caller into a log.
"""

keepalive = 75  # seconds; longer than the idle time of common HTTP clients and load balancers (60 s)
accesslog = "-"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'

# Prometheus: the web processes' own counters are summed across workers through files in one folder
# (prometheus_client's multiprocess mode). This start command sets it, fresh for this master, unless given.
import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ivr-prometheus-")
    _made_here = os.environ["PROMETHEUS_MULTIPROC_DIR"]
else:
    _made_here = None


def child_exit(server, worker):
    """A worker that exits leaves its live gauges behind unless marked dead."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _made_here:
        shutil.rmtree(_made_here, ignore_errors=True)
