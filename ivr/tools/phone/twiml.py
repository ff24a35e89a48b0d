"""TwiML as the phone reads it: a document and the URL it came from, and the attribute values it holds."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

HEARD = ("Say", "Play", "Pause")  # the verbs that only make the listener hear something


@dataclass
class Doc:
    root: ET.Element
    url: str  # the URL it was fetched from: relative URLs in it resolve against this, as Twilio resolves them

    def resolve(self, target: str | None) -> str:
        return urljoin(self.url, target.strip()) if target and target.strip() else self.url


def seconds(value: str | None, default: float) -> float:
    """An attribute in seconds (timeout, length, maxLength); Twilio's default when absent or not a number."""
    try:
        return float(value) if value not in (None, "") else default
    except ValueError:
        return default


def url_path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
