"""The worker's watch for incidents: every WATCH_SECONDS, any menu option many callers chose in the current
window, far above its usual rate, becomes a suspected incident for the supervisors (ivr.store.incidents)."""

from __future__ import annotations

import logging
import threading
import time

from ivr.dispatcher import passes
from ivr.flows.model import Menu
from ivr.report.surge import SurgeRule
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


def rule_of(flow) -> SurgeRule:
    """A line's surge rule, from its flow's `reporting:` settings."""
    policy = flow.settings.reporting
    return SurgeRule(
        minimum=policy.incident_min_reports,
        window_seconds=policy.incident_window_minutes * 60,
        factor=float(policy.incident_factor),
    )


class IncidentWatch:
    def __init__(self, r, catalogs, rule: SurgeRule | None = None, clock=time.time, twilio=None, sealer=None):
        self.r = r
        self.catalogs = catalogs
        self.rule = rule or SurgeRule()
        self.clock = clock
        self.twilio = twilio  # the REST client texts go out through
        self.sealer = sealer  # opens the numbers of callers who asked for a text (DATA_KEYS)

    def send_texts(self) -> list[str]:
        """Text everyone who asked, once each, about every incident closed since the last pass; a text
        Twilio refuses now is tried again on the next pass."""
        sent = []
        if self.twilio is None or self.sealer is None:
            return sent
        for incident_id in incidents.texting(self.r):
            incident = incidents.one(self.r, incident_id)
            if incident is None:
                continue
            catalog = self.catalogs.current()
            flow = catalog.flows.get(incident.line) or catalog.for_number(None)
            body = (
                f"{flow.name}: the fault you called us about ({incident.label}) is fixed. Thank you for your patience."
            )
            for call in incidents.texts_due(self.r, incident_id):
                sealed = incidents.take_text(self.r, incident_id, call)
                number = self.sealer.open(sealed) if sealed else None
                if not number or not flow.numbers:
                    continue
                sender = flow.numbers[0]
                try:
                    self.twilio.messages.create(to=number, from_=sender, body=body)
                    sent.append(call)
                except Exception as exc:  # Twilio refused or did not answer: the text waits for the next pass
                    log.warning("text for incident %s not sent (%s); trying again", incident_id, type(exc).__name__)
                    incidents.give_back_text(self.r, incident_id, call, sealed)
        return sent

    def run_once(self) -> list[incidents.Incident]:
        self.send_texts()
        catalog = self.catalogs.current()
        rules = {flow.name: rule_of(flow) for flow in catalog.flows.values()}
        raised = incidents.detect(self.r, self.clock(), self.rule, option_labels(catalog), rules)
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
        passes.every(stop, every, self.run_once, log, "watching for incidents")
