"""Flow files that take effect on a running server within seconds, and only when they are valid.

A holder watches the flows folder (file names, sizes and modification times). When something changes it
loads the whole catalog again: a valid edit goes live at once; an invalid one never does, its problems
are logged with file, line and node, and the last good catalog keeps serving. Every flow version seen is
kept, so a call in progress finishes on the version it started on. Each process (each gunicorn worker,
the dispatcher) holds its own; the files on disk are what they share.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from ivr.errors import FlowError, Problem
from ivr.flows.catalog import Catalog, load_catalog
from ivr.flows.model import Flow

log = logging.getLogger("ivr.flows")
VERSIONS_KEPT = 20  # old versions of each flow kept for calls still on them


class LiveCatalog:
    def __init__(self, folder: Path | str, audio_cache: Path | None = None):
        self.folder = Path(folder)
        self.audio_cache = audio_cache
        self._lock = threading.Lock()
        self._signature = self._files()
        self._catalog = load_catalog(self.folder, audio_cache=audio_cache)  # a bad folder stops the start
        self._versions: dict[tuple[str, str], Flow] = {}
        self._remember(self._catalog)
        self._stop = threading.Event()
        self.refused: tuple[Problem, ...] = ()  # the problems of the latest edit that did not go live
        self.listeners: list = []  # called with each new catalog that goes live (after a valid edit)

    def current(self) -> Catalog:
        return self._catalog

    def flow(self, name: str | None, version: str | None) -> Flow | None:
        """The flow a call started on, if this process still has it; else the current one of that name."""
        if name and version and (name, version) in self._versions:
            return self._versions[(name, version)]
        return self._catalog.flow(name)

    def check(self) -> bool:
        """Reload if the files changed; True when a new valid catalog went live."""
        signature = self._files()
        if signature == self._signature:
            return False
        with self._lock:
            if signature == self._signature:
                return False
            self._signature = signature  # a broken edit is reported once, and retried on the next change
            try:
                catalog = load_catalog(self.folder, audio_cache=self.audio_cache)
            except FlowError as exc:
                for problem in exc.problems:
                    log.error("flow edit NOT live (still serving the last good version): %s", problem)
                self.refused = tuple(exc.problems)
                return False
            self._remember(catalog)
            self._catalog = catalog
            self.refused = ()
        log.info("flows reloaded: %s", ", ".join(f"{f.name} v{f.version}" for f in catalog.flows.values()))
        for listener in self.listeners:
            try:
                listener(catalog)
            except Exception:  # a listener's failure must not undo a reload that went live
                log.exception("after the reload")
        return True

    def watch(self, every_seconds: float) -> None:
        """Check for edits in a background thread, so no caller waits for a reload."""

        def loop() -> None:
            while not self._stop.wait(every_seconds):
                try:
                    self.check()
                except Exception:  # a reload must never take the server down
                    log.exception("checking the flow files failed")

        threading.Thread(target=loop, name="flow-reloader", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _remember(self, catalog: Catalog) -> None:
        for flow in catalog.flows.values():
            self._versions[(flow.name, flow.version)] = flow
        for name in {name for name, _ in self._versions}:
            mine = [key for key in self._versions if key[0] == name]
            for key in mine[:-VERSIONS_KEPT]:
                del self._versions[key]

    def _files(self) -> tuple:
        """What identifies the folder's state: every file's name, size and modification time."""
        entries = []
        for path in sorted(self.folder.rglob("*")):
            try:
                if path.is_file():
                    stat = path.stat()
                    entries.append((str(path), stat.st_size, stat.st_mtime_ns))
            except OSError:  # an editor's temporary file came and went: the next look sees the result
                continue
        return tuple(entries)
