"""What callers hear about confirmed incidents, kept in each web process and refreshed every few seconds by
a thread: a webhook reads it from memory, so it still makes only its two Redis round trips."""

from __future__ import annotations

import logging
import threading

from ivr.dispatcher import passes
from ivr.store import client as store
from ivr.store import incidents

log = logging.getLogger("ivr.incidents")


class Announcements:
    def __init__(self, r):
        self.r = r
        self._current: dict[tuple[str, str], dict] = {}

    def current(self) -> dict[tuple[str, str], dict]:
        return self._current

    def refresh(self) -> None:
        try:
            self._current = incidents.announcements(self.r)
        except store.StoreError as exc:  # keep what was heard last: Redis is back within seconds
            log.warning("incident messages not refreshed (Redis %s)", type(exc).__name__)

    def watch(self, seconds: float) -> None:
        args = (threading.Event(), seconds, self.refresh, log, "refreshing incident messages")
        threading.Thread(target=passes.every, args=args, name="announcements", daemon=True).start()
