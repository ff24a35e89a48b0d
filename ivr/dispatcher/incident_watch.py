"""The worker's watch for incidents: every WATCH_SECONDS, any menu option many callers chose in the current
window, far above its usual rate, becomes a suspected incident for the supervisors (ivr.store.incidents)."""

from __future__ import annotations

import logging
import threading
import time

from ivr.flows.model import Menu
from ivr.report.surge import SurgeRule
from ivr.store import client as store
from ivr.store import incidents

log = logging.getLogger("ivr.incidents")
WATCH_SECONDS = 15  # a surge is noticed within this of its tenth report


def option_labels(catalog) -> dict[tuple[str, str], str]:
    """(line, "menu:key") -> the option's words, for every line's menus."""
    return {
        (flow.name, f"{node.id}:{option.key or option.label}"): option.label
        for flow in catalog.flows.values()
        for node in flow.nodes.values()
        if isinstance(node, Menu)
        for option in node.options
    }


class IncidentWatch:
    def __init__(self, r, catalogs, rule: SurgeRule | None = None, clock=time.time):
        self.r = r
        self.catalogs = catalogs
        self.rule = rule or SurgeRule()
        self.clock = clock

    def run_once(self) -> list[incidents.Incident]:
        raised = incidents.detect(self.r, self.clock(), self.rule, option_labels(self.catalogs.current()))
        for incident in raised:
            log.warning(
                "suspected incident %s: %d callers chose %r on %s within %d minutes",
                incident.id,
                incident.reports,
                incident.label,
                incident.line,
                self.rule.window_seconds // 60,
            )
        return raised

    def run(self, stop: threading.Event, every: float = WATCH_SECONDS) -> None:
        while not stop.wait(every):
            try:
                self.run_once()
            except store.StoreError as exc:
                log.error("Redis unavailable (%s); watching again shortly", type(exc).__name__)
            except Exception:  # the watch must outlive any one bad pass
                log.exception("incident watch failed; watching again shortly")
