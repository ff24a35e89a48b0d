"""What `ivr serve` keeps in the working folder (IVR_HOME, default .ivr/): the local Redis's data and address,
and the development auth token, so the other `ivr` commands find the line it serves."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from ivr.store.sealed import new_key

LOCAL = Path(os.environ.get("IVR_HOME", ".ivr"))
REDIS_URL_FILE = LOCAL / "redis.url"
DEV_TOKEN_FILE = LOCAL / "dev-auth-token"
DEV_DATA_KEY_FILE = LOCAL / "dev-data-key"
DEV_SECRET_KEY_FILE = LOCAL / "dev-secret-key"


def _made_once(path: Path, make) -> str:
    """A local secret, made on first use and readable by this user only; never printed."""
    LOCAL.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(make())
    return path.read_text().strip()


def dev_token() -> str:
    """The local development token (requests from real Twilio fail with it)."""
    return _made_once(DEV_TOKEN_FILE, lambda: secrets.token_hex(16))


def dev_data_key() -> str:
    """The local development key that seals phone numbers in the local Redis (ivr.store.sealed)."""
    return _made_once(DEV_DATA_KEY_FILE, new_key)


def dev_secret_key() -> str:
    """The local key that signs the console's sessions (SECRET_KEY) for a line served here."""
    return _made_once(DEV_SECRET_KEY_FILE, lambda: secrets.token_hex(32))


def data_keys() -> str:
    """DATA_KEYS, else the local development key if `ivr serve` made one here."""
    return os.environ.get("DATA_KEYS") or (DEV_DATA_KEY_FILE.read_text().strip() if DEV_DATA_KEY_FILE.exists() else "")


def flows_dir() -> str:
    """The flows folder the commands work on: FLOWS_DIR, else flows/ here."""
    return os.environ.get("FLOWS_DIR", "flows")
