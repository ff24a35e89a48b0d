"""GET /metrics in Prometheus's text format (prometheus_client), behind a bearer token (METRICS_TOKEN; off
without one). Line-wide figures are computed at scrape time from Redis: who waits and what people are doing
now, and the last 7 days' metrics from calls' records (ivr.report, the same numbers as `ivr report`),
computed at most once a minute per process. Counters kept by the web processes themselves are collected
across gunicorn's workers in multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set by the Procfile)."""

from __future__ import annotations

import hmac
import os
import threading
import time

from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily

from ivr.call import presence
from ivr.report import metrics as report
from ivr.store import call_records, incidents, line_view

prometheus = Blueprint("prometheus", __name__)
PERIOD = 7 * 86400  # the metrics' period, as `ivr report` by default
REFRESH_SECONDS = 60

CALLS = Counter("ivr_calls", "Calls answered by this line's web processes", ["line"])
FALLBACK_RINGS = Counter(
    "ivr_fallback_rings", "Callers sent to the degraded ring (every supervisor and the fallback number)"
)


@prometheus.get("/metrics")
def scrape():
    """The line's metrics for Prometheus (Authorization: Bearer METRICS_TOKEN)."""
    token = current_app.config.get("METRICS_TOKEN") or ""
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not token:
        return jsonify(error="metrics are off until METRICS_TOKEN is set", status=404), 404
    if not hmac.compare_digest(given.encode(), token.encode()):
        return jsonify(error="send Authorization: Bearer <METRICS_TOKEN>", status=401), 401
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(CALLS)
        registry.register(FALLBACK_RINGS)
    cache = current_app.extensions.setdefault("ivr-metrics", {"lock": threading.Lock()})
    refresh = current_app.config.get("METRICS_REFRESH_SECONDS", REFRESH_SECONDS)
    registry.register(_LineCollector(current_app.extensions["ivr"], cache, refresh))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


class _LineCollector:
    """Figures read from Redis at scrape time."""

    def __init__(self, services, cache: dict, refresh_seconds: float):
        self.services = services
        self.cache = cache  # the app's: the period's report, computed at most once per refresh_seconds
        self.refresh_seconds = refresh_seconds

    def collect(self):
        services = self.services
        now = services.clock()
        waiting, total = line_view.queue(services.redis, services.calls.sealer, limit=1)
        yield GaugeMetricFamily("ivr_waiting_callers", "Callers and callback requests in line now", value=total)
        yield GaugeMetricFamily(
            "ivr_longest_wait_seconds",
            "How long the head of the line has waited",
            value=now - waiting[0].since if waiting else 0,
        )
        people = GaugeMetricFamily("ivr_people", "People by what they are doing now", labels=["status"])
        rows = line_view.board(services.redis, services.catalog.directory, now)
        for status in presence.STATUSES:
            people.add_metric([status], sum(1 for r in rows if r.status == status))
        yield people
        open_incidents = GaugeMetricFamily(
            "ivr_incidents", "Incidents the line noticed, not yet closed", labels=["line", "option", "status"]
        )
        for i in incidents.listing(services.redis):
            if i.status != incidents.CLOSED:
                open_incidents.add_metric([i.line, i.option, i.status], i.reports)
        yield open_incidents
        yield from _period_metrics(self._last_week(now))

    def _last_week(self, now: float) -> dict:
        with self.cache["lock"]:
            cached = self.cache.get("report")
            if cached and cached[0] > time.monotonic() - self.refresh_seconds:
                return cached[1]
            records = call_records.read(self.services.redis, now - PERIOD - report.LONGEST_WINDOW)
            found = report.report(records, now - PERIOD, now)
            self.cache["report"] = (time.monotonic(), found)
            return found


def _period_metrics(found: dict):
    g = {
        "contacts": GaugeMetricFamily("ivr_contacts", "Inbound calls in the last 7 days", labels=["line"]),
        "repeat": GaugeMetricFamily("ivr_repeat_call_rate", "Repeat contacts / contacts, last 7 days", labels=["line"]),
        "fcr": GaugeMetricFamily(
            "ivr_first_contact_resolution", "First contacts resolved, last 7 days", labels=["line", "kind"]
        ),
        "open": GaugeMetricFamily("ivr_open_problems", "Callers with an open problem", labels=["line"]),
        "resolved": GaugeMetricFamily(
            "ivr_problems_resolved", "Problems resolved per person, last 7 days", labels=["line", "agent"]
        ),
        "zero": GaugeMetricFamily(
            "ivr_zero_outs", "Callers who pressed 0 at each menu, last 7 days", labels=["line", "node"]
        ),
        "human": GaugeMetricFamily(
            "ivr_time_to_human_seconds", "Arrival to talking with a person, last 7 days", labels=["line", "quantile"]
        ),
    }
    for line, m in found["lines"].items():
        g["contacts"].add_metric([line], m["contacts"])
        if m["repeat_call_rate"] is not None:
            g["repeat"].add_metric([line], m["repeat_call_rate"])
        for kind in ("provisional", "final"):
            if m["first_contact_resolution"][kind] is not None:
                g["fcr"].add_metric([line, kind], m["first_contact_resolution"][kind])
        g["open"].add_metric([line], m["open_problems"])
        for agent, counts in m["agents"].items():
            g["resolved"].add_metric([line, agent], counts["problems_resolved"])
        for node, count in m["zero_outs_by_node"].items():
            g["zero"].add_metric([line, node], count)
        for quantile, key in (("0.5", "p50"), ("0.9", "p90"), ("1", "max")):
            if m["time_to_human_seconds"][key] is not None:
                g["human"].add_metric([line, quantile], m["time_to_human_seconds"][key])
    yield from g.values()
