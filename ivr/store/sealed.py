"""Phone numbers at rest, sealed: what must be kept (the number to call back, the caller's number for the
whisper) is encrypted with Fernet (AES-128-CBC with an HMAC-SHA256 tag, from the `cryptography` package)
before it reaches Redis, so neither Redis nor its files nor a copy of them can be read for numbers.

The keys come from DATA_KEYS in the environment: one or more Fernet keys, comma-separated, newest first.
New values are sealed under the first; a value sealed under any of them opens. To rotate, put a new key
first and keep the old one after it until what it sealed has expired (a call's state after 6 hours, a
callback request after 7 days), then remove it. `ivr data-key` prints a new key; `ivr serve` makes a local
one for development in .ivr/.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from ivr.errors import ConfigError

MARK = "sealed:"  # sealed values say so, so a value written before sealing was on is still read


def new_key() -> str:
    return Fernet.generate_key().decode()


class Sealer:
    def __init__(self, data_keys: str):
        keys = [k.strip() for k in data_keys.split(",") if k.strip()]
        if not keys:
            raise ConfigError(
                "DATA_KEYS is not set: phone numbers kept in Redis are encrypted with it. "
                "Make one with `ivr data-key` and keep it secret, like the Twilio auth token."
            )
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        except ValueError:
            raise ConfigError(
                "DATA_KEYS holds something that is not a Fernet key (make one with `ivr data-key`)"
            ) from None

    def seal(self, value: str | None) -> str | None:
        if not value:
            return value
        return MARK + self._fernet.encrypt(value.encode()).decode()

    def open(self, value: str | None) -> str | None:
        """The plain value; None when it was sealed under a key no longer in DATA_KEYS (or was altered)."""
        if not value or not value.startswith(MARK):
            return value
        try:
            return self._fernet.decrypt(value[len(MARK) :].encode()).decode()
        except InvalidToken:
            return None
