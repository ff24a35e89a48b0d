"""Background passes (the worker reconciling and watching for incidents, a web process refreshing incident
messages): one pass every so often until stopped, outliving any one bad pass."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ivr.store import client as store


def every(
    stop: threading.Event, seconds: float, one_pass: Callable[[], object], log: logging.Logger, what: str
) -> None:
    """Run `one_pass` every `seconds` until `stop` is set; Redis down or a bug costs one pass, not the thread."""
    while not stop.wait(seconds):
        try:
            one_pass()
        except store.StoreError as exc:
            log.error("Redis unavailable (%s); %s again shortly", type(exc).__name__, what)
        except Exception:  # the pass must outlive any one bad run
            log.exception("%s failed; %s again shortly", what, what)
