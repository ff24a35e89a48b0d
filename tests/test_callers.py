"""Caller identity: one private key per real number, none for withheld numbers, and safe display."""

from __future__ import annotations

import pytest

from ivr.call.callers import caller_id, masked, normalise, secret, spoken

KEY = secret(None, "token")


@pytest.mark.parametrize("raw", ["+1 (415) 555-0100", "+14155550100", "0014155550100", " +1.415.555.0100 "])
def test_one_number_written_many_ways_is_one_caller(raw):
    assert caller_id(raw, KEY) == caller_id("+14155550100", KEY)


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "anonymous",
        "Anonymous",
        "+266696687",
        "restricted",
        "unknown",
        "client:alice",
        "sip:bob@example.com",
        "+1",
        "12345",
    ],
)
def test_withheld_or_malformed_numbers_have_no_key(raw):
    assert caller_id(raw, KEY) is None and masked(raw) == "anonymous"


def test_the_key_is_an_hmac_that_depends_on_the_secret():
    key = caller_id("+14155550100", KEY)
    assert "4155550100" not in key and len(key) == 32
    assert caller_id("+14155550100", secret(None, "other-token")) != key
    assert caller_id("+14155550100", secret("explicit", "token")) != key


def test_display_forms():
    assert masked("+14155550100") == "***0100"
    assert spoken("+14155550100") == "1 4 1 5 5 5 5 0 1 0 0"
    assert normalise("+14155550100") == "+14155550100"
