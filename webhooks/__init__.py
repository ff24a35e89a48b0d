"""The Flask app that answers Twilio's voice webhooks: create_app() wires config, Redis and blueprints."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from twilio.request_validator import RequestValidator
from werkzeug.middleware.proxy_fix import ProxyFix

from ivr.call import callers
from ivr.errors import ConfigError, FlowError
from ivr.flows.catalog import Catalog
from ivr.flows.live_catalog import LiveCatalog
from ivr.settings import SKIP_SIGNATURE_ENV, config_from_env, with_absolute_folders
from ivr.store import client as store
from ivr.store import durability
from ivr.store.callbacks import CallbackStore
from ivr.store.calls import CallStore
from ivr.store.presence_index import PresenceIndex
from ivr.store.sealed import Sealer
from webhooks.announcements import Announcements

log = logging.getLogger("ivr.app")


@dataclass
class Services:
    """What the views need, built once per app; no state about calls lives here."""

    catalogs: LiveCatalog
    redis: store.Client
    calls: CallStore
    validator: RequestValidator
    signing_key_validators: tuple[RequestValidator, ...]  # HMAC-SHA256 webhooks: one per signing key secret
    check_signatures: bool
    caller_secret: bytes
    fallback_number: str | None
    agent_api_token: str | None
    clock: Callable[[], float]
    callbacks: CallbackStore
    presence: PresenceIndex
    announcements: Announcements

    @property
    def catalog(self) -> Catalog:
        """The flows now live (edits take effect within RELOAD_SECONDS, valid ones only)."""
        return self.catalogs.current()


def create_app(config: dict | None = None) -> Flask:
    """Build the app; refuse to start on a bad flow file or missing configuration."""
    app = Flask(__name__)
    app.config.from_mapping(config_from_env())
    app.config.update(config or {})
    cfg = app.config
    with_absolute_folders(cfg)
    logging.basicConfig(level=cfg["LOG_LEVEL"], format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not cfg["REDIS_URL"]:
        raise ConfigError("REDIS_URL is not set (the `ivr serve` command starts a local Redis for you)")
    if not cfg["TWILIO_AUTH_TOKEN"] and not cfg["SKIP_SIGNATURE"]:
        raise ConfigError("TWILIO_AUTH_TOKEN is not set: it is needed to check that requests come from Twilio")
    if cfg["SKIP_SIGNATURE"]:
        log.warning("!" * 78)
        log.warning(
            "!!! %s=1: Twilio signatures are NOT checked. Anyone can drive calls. Development only. !!!",
            SKIP_SIGNATURE_ENV,
        )
        log.warning("!" * 78)
    try:
        catalogs = LiveCatalog(cfg["FLOWS_DIR"], audio_cache=Path(cfg["AUDIO_CACHE"]))
        catalog = catalogs.current()
    except FlowError as exc:
        for problem in exc.problems:
            log.error("flow problem: %s", problem)
        raise
    sealer = Sealer(cfg["DATA_KEYS"])  # before Redis: a missing key stops the start, with how to make one
    client = store.connect(cfg["REDIS_URL"], timeout=cfg["REDIS_TIMEOUT"], retry_once=True)
    store.refuse_cluster(client)  # only if Redis answers now: callers get the degraded ring while it is down
    if problem := durability.warning(client):
        log.warning("Redis: %s", problem)
    token = cfg["TWILIO_AUTH_TOKEN"]
    app.extensions["ivr"] = Services(
        catalogs=catalogs,
        redis=client,
        calls=CallStore(client, sealer, cfg["RECORDS_RETENTION_DAYS"]),
        validator=RequestValidator(token),
        signing_key_validators=tuple(
            RequestValidator(secret.strip()) for secret in cfg["WEBHOOK_SIGNING_KEY"].split(",") if secret.strip()
        ),
        check_signatures=not cfg["SKIP_SIGNATURE"],
        caller_secret=callers.secret(cfg["CALLER_HASH_KEY"], token),
        fallback_number=cfg["FALLBACK_NUMBER"] or None,
        agent_api_token=cfg["AGENT_API_TOKEN"] or None,
        clock=cfg.get("CLOCK") or time.time,
        callbacks=CallbackStore(client, sealer),
        presence=PresenceIndex(client),
        announcements=Announcements(client),
    )
    services = app.extensions["ivr"]

    def index_people(current: Catalog) -> None:
        """The presence indexes follow the directory this process serves (the dispatcher checks them too)."""
        try:
            if services.presence.sync(current.directory, services.clock()):
                log.info("presence indexes built for %d people", len(current.directory.agents))
        except store.StoreError as exc:
            log.warning("presence indexes not built (Redis %s); the dispatcher builds them", type(exc).__name__)

    index_people(catalog)
    catalogs.listeners.append(index_people)
    try:  # requests kept by an older version hold their number in plain text: sealed now, once
        if moved := app.extensions["ivr"].callbacks.seal_plain_numbers():
            log.warning("sealed the numbers of %d callback requests stored before numbers were sealed", moved)
    except store.StoreError:
        pass  # Redis down at start: callers still get the degraded ring; the next start seals them
    if not cfg.get("PUBLIC_URL"):
        # Behind a proxy, Twilio signed the public URL: rebuild it from X-Forwarded-Proto/Host/Port.
        # X-Forwarded-For too: people's sign-in attempts are counted per address, not per proxy
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1)

    for problem in catalog.audio_problems:
        log.warning("audio: %s", problem)

    from webhooks.agent_api import agent_api
    from webhooks.api import api
    from webhooks.audio import audio
    from webhooks.callback_calls import callbacks
    from webhooks.console import console
    from webhooks.console_incidents import incident_pages
    from webhooks.console_setup import init_console
    from webhooks.console_week import week_pages
    from webhooks.prometheus import prometheus
    from webhooks.voice import voice

    app.register_blueprint(voice)
    app.register_blueprint(agent_api)
    app.register_blueprint(callbacks)
    app.register_blueprint(audio)
    init_console(app)
    app.register_blueprint(console)
    app.register_blueprint(api)
    app.register_blueprint(prometheus)
    app.register_blueprint(incident_pages)
    app.register_blueprint(week_pages)

    @app.get("/health")
    def health():
        """Report whether Redis is a writable primary (else 503) and whether a flow edit was refused."""
        # 503 tells a load balancer to prefer another web server: callers here only get the degraded ring.
        # A refused flow edit alone keeps 200: callers are served, on the last good version.
        redis_state = store.writable(client)  # one round trip: ROLE
        lines = {f.name: f.version for f in catalogs.current().flows.values()}
        report = {"status": "ok", "redis": redis_state, "lines": lines}
        if catalogs.refused:  # callers are still served, on the last good version: ops must know
            report["status"] = "flow edit refused"
            report["refused_edit"] = [
                {"file": p.file, "line": p.line, "node": p.node, "message": p.message} for p in catalogs.refused
            ]
        if redis_state != "ok":
            report["status"] = "degraded"
            return report, 503
        return report

    services.announcements.refresh()
    if cfg["RELOAD_SECONDS"] > 0:
        catalogs.watch(cfg["RELOAD_SECONDS"])
        services.announcements.watch(cfg["RELOAD_SECONDS"])
    log.info(
        "answering %d line(s): %s; %d people in the directory",
        len(catalog.flows),
        ", ".join(f"{f.name} v{f.version}" for f in catalog.flows.values()),
        len(catalog.directory.agents),
    )
    return app
