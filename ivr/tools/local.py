"""What `ivr serve` keeps in the working folder (IVR_HOME, default .ivr/): the local Redis's data and address,
and the development auth token, so the other `ivr` commands find the line it serves."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

LOCAL = Path(os.environ.get("IVR_HOME", ".ivr"))
REDIS_URL_FILE = LOCAL / "redis.url"
DEV_TOKEN_FILE = LOCAL / "dev-auth-token"


def dev_token() -> str:
    """The local development token, made once (never printed; requests from real Twilio fail with it)."""
    LOCAL.mkdir(parents=True, exist_ok=True)
    if not DEV_TOKEN_FILE.exists():
        DEV_TOKEN_FILE.write_text(secrets.token_hex(16))
        DEV_TOKEN_FILE.chmod(0o600)
    return DEV_TOKEN_FILE.read_text().strip()


def flows_dir() -> str:
    """The flows folder the commands work on: FLOWS_DIR, else flows/ here."""
    return os.environ.get("FLOWS_DIR", "flows")
