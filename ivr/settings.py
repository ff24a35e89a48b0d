"""The settings every process reads from its environment: the web app and the dispatcher alike (Flask-free)."""

from __future__ import annotations

import os
from pathlib import Path

SKIP_SIGNATURE_ENV = "IVR_INSECURE_SKIP_TWILIO_SIGNATURE"


def config_from_env() -> dict:
    env = os.environ
    return {
        "TWILIO_AUTH_TOKEN": env.get("TWILIO_AUTH_TOKEN", ""),
        # the secret of a webhook signing key, for webhooks signed with HMAC-SHA256 instead of the auth token
        "WEBHOOK_SIGNING_KEY": env.get("TWILIO_WEBHOOK_SIGNING_KEY", ""),
        "REDIS_URL": env.get("REDIS_URL", ""),
        "PUBLIC_URL": env.get("PUBLIC_URL", ""),
        "FLOWS_DIR": env.get("FLOWS_DIR", "flows"),
        "AUDIO_CACHE": env.get("AUDIO_CACHE", os.path.join(env.get("IVR_HOME", ".ivr"), "audio-cache")),
        "FALLBACK_NUMBER": env.get("FALLBACK_NUMBER", ""),
        "CALLER_HASH_KEY": env.get("CALLER_HASH_KEY", ""),
        "DATA_KEYS": env.get("DATA_KEYS", ""),  # Fernet keys sealing the phone numbers kept (ivr.store.sealed)
        "AGENT_API_TOKEN": env.get("AGENT_API_TOKEN", ""),
        "SECRET_KEY": env.get("SECRET_KEY", ""),  # signs the console's sessions; without it the console is off
        "METRICS_TOKEN": env.get("METRICS_TOKEN", ""),  # GET /metrics answers only with this bearer token
        "REDIS_TIMEOUT": float(env.get("REDIS_TIMEOUT", "0.25")),
        "SKIP_SIGNATURE": env.get(SKIP_SIGNATURE_ENV, "") == "1",
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO").upper(),
        "RELOAD_SECONDS": float(env.get("RELOAD_SECONDS", "2")),
        "RECORDS_RETENTION_DAYS": int(env.get("RECORDS_RETENTION_DAYS", "35")),  # calls' records, for metrics
    }


# Every variable a process of the project reads (here, in the worker, in gunicorn's command line): what a
# harness that starts the project's processes clears from the environment it inherits, so that its own
# settings are the only ones in play.
ENV_NAMES = (
    "REDIS_URL",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_API_BASE",
    "TWILIO_CALLER_ID",
    "TWILIO_WEBHOOK_SIGNING_KEY",
    "PUBLIC_URL",
    "FLOWS_DIR",
    "AUDIO_CACHE",
    "IVR_HOME",
    "FALLBACK_NUMBER",
    "CALLER_HASH_KEY",
    "DATA_KEYS",
    "AGENT_API_TOKEN",
    "SECRET_KEY",
    "METRICS_TOKEN",
    "PROMETHEUS_MULTIPROC_DIR",
    "REDIS_TIMEOUT",
    SKIP_SIGNATURE_ENV,
    "LOG_LEVEL",
    "RELOAD_SECONDS",
    "RECORDS_RETENTION_DAYS",
    "GUNICORN_CMD_ARGS",
    "PORT",
    "WEB_CONCURRENCY",
    "WEB_THREADS",
)

FOLDERS = ("FLOWS_DIR", "AUDIO_CACHE")


def with_absolute_folders(config) -> None:
    """Relative folders mean the working folder, whoever reads them later (Flask resolves a relative file
    against the app's package, which served 500s for hold music on a default install)."""
    for key in FOLDERS:
        config[key] = str(Path(config[key]).resolve())
