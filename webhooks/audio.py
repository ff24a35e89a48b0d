"""GET /audio/<name>: the recorded prompts and hold music, converted for the phone, for Twilio's <Play>.

No Twilio signature check here, on purpose: Twilio fetches <Play> URLs with a plain GET, and these are
public prompts that every caller hears anyway. Only the files the flow catalog produced are served
(names are content hashes such as 3f2a...9c.wav, looked up in the catalog, never joined to a path the
request chose), so nothing else on disk can be reached. A name's content never changes, so responses
may be cached for a day and are marked immutable; the ETag is the name's hash.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from flask import Blueprint, abort, current_app, send_file

from ivr.flows import audio as audio_files

log = logging.getLogger("ivr.flows.audio")

audio = Blueprint("audio", __name__)

MAX_AGE_SECONDS = 86400
_NAME = re.compile(r"^[0-9a-f]{32}\.wav$")


@audio.get(audio_files.URL_PREFIX + "<name>")
def prompt(name: str):
    """Serve one converted prompt from the audio cache; 404 for any name the catalog did not produce."""
    catalog = current_app.extensions["ivr"].catalog
    sources = [written for written, url in catalog.audio.items() if url == audio_files.URL_PREFIX + name]
    if not _NAME.match(name) or not sources:
        abort(404)
    cache = Path(current_app.config["AUDIO_CACHE"])
    path = cache / name
    if not path.is_file():  # the cache was cleared under a running server: convert the source again
        try:
            path = audio_files.prepare(Path(current_app.config["FLOWS_DIR"]) / sources[0], cache).path
        except audio_files.AudioError as exc:
            log.error("recorded prompt %s is gone from the cache and cannot be made again: %s", name, exc)
            abort(404)
        if path is None or path.name != name:  # the source was edited since the catalog was loaded
            log.error("recorded prompt %s: its source %s changed since start; restart to pick it up", name, sources[0])
            abort(404)
    response = send_file(
        path, mimetype="audio/wav", conditional=True, etag=name.removesuffix(".wav"), max_age=MAX_AGE_SECONDS
    )
    response.cache_control.public = True
    response.cache_control.immutable = True
    return response
