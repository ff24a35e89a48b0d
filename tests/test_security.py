"""Every Twilio-facing route checks X-Twilio-Signature against the URL Twilio used."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging

import pytest

from ivr.render import PATHS
from tests.support import AUTH_TOKEN
from webhooks.security import twilio_signed

# The published vectors from twilio-python's own test suite (tests/unit/test_request_validator.py).
VECTOR_TOKEN = "12345"
VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}
VECTOR_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
VECTOR_SIGNATURE_PORT_443 = "kvajT1Ptam85bY51eRf/AJRuM3w="


@pytest.fixture
def vector_app(make_app):
    app = make_app(TWILIO_AUTH_TOKEN=VECTOR_TOKEN, PUBLIC_URL="https://mycompany.com")
    app.add_url_rule("/myapp.php", "vector", twilio_signed(lambda: "accepted"), methods=["POST"])
    return app


@pytest.mark.parametrize("signature", [VECTOR_SIGNATURE, VECTOR_SIGNATURE_PORT_443])
def test_published_vectors_are_accepted(vector_app, signature):
    response = vector_app.test_client().post(
        "/myapp.php?foo=1&bar=2", data=VECTOR_PARAMS, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 200 and response.get_data(as_text=True) == "accepted"


@pytest.mark.parametrize(
    "change",
    [
        {"Digits": "1235"},  # a parameter altered
        {"Extra": "1"},  # a parameter added
    ],
)
def test_altered_requests_are_refused(vector_app, change):
    response = vector_app.test_client().post(
        "/myapp.php?foo=1&bar=2", data={**VECTOR_PARAMS, **change}, headers={"X-Twilio-Signature": VECTOR_SIGNATURE}
    )
    assert response.status_code == 403


def test_a_different_url_is_refused(vector_app):
    response = vector_app.test_client().post(
        "/myapp.php?foo=1&bar=3", data=VECTOR_PARAMS, headers={"X-Twilio-Signature": VECTOR_SIGNATURE}
    )
    assert response.status_code == 403


@pytest.mark.parametrize("path", sorted(PATHS.values()))
def test_every_twilio_route_refuses_forged_and_unsigned_requests(twilio, path, caplog):
    params = {"CallSid": "CA" + "1" * 32, "From": "+14155550100", "To": twilio.line}
    twilio.post(path, params, signature="forged=", expect=403)
    response = twilio.client.post(path, data=params)
    assert response.status_code == 403
    assert "4155550100" not in caplog.text


def test_signed_for_another_token_is_refused(client):
    from twilio.request_validator import RequestValidator

    params = {"CallSid": "CA" + "1" * 32, "From": "+14155550100"}
    signature = RequestValidator("someone-elses-token").compute_signature("https://ivr.example.com/voice", params)
    assert client.post("/voice", data=params, headers={"X-Twilio-Signature": signature}).status_code == 403


def test_behind_a_proxy_the_forwarded_url_is_checked(make_app):
    """Without PUBLIC_URL, X-Forwarded-Proto/Host rebuild the URL Twilio signed."""
    from twilio.request_validator import RequestValidator

    app = make_app(PUBLIC_URL="")
    params = {"CallSid": "CA" + "2" * 32, "From": "+14155550100", "To": "+15005550006"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature("https://public.example.org/voice", params)
    client = app.test_client()
    headers = {"X-Twilio-Signature": signature, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "public.example.org"}
    assert client.post("/voice", data=params, headers=headers).status_code == 200
    assert client.post("/voice", data=params, headers={"X-Twilio-Signature": signature}).status_code == 403


def test_skipping_the_check_must_be_explicit_and_loud(make_app, caplog):
    caplog.set_level(logging.WARNING)
    app = make_app(SKIP_SIGNATURE=True, TWILIO_AUTH_TOKEN="")
    assert "NOT checked" in caplog.text
    response = app.test_client().post("/voice", data={"CallSid": "CA" + "3" * 32, "From": "+14155550100"})
    assert response.status_code == 200


def test_no_token_and_no_switch_refuses_to_start(make_app):
    from ivr.errors import ConfigError

    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN"):
        make_app(TWILIO_AUTH_TOKEN="")


def test_a_broken_flow_never_goes_live(make_app, tmp_path):
    import shutil

    from ivr.errors import FlowError
    from tests.support import ROOT

    shutil.copy(ROOT / "flows" / "agents.yaml", tmp_path)
    broken = (ROOT / "flows" / "support.yaml").read_text().replace("next: billing_team", "next: billing_tema")
    (tmp_path / "support.yaml").write_text(broken)
    with pytest.raises(FlowError, match="billing_tema"):
        make_app(FLOWS_DIR=str(tmp_path))


def sha256_signature(key: str, url: str, params: dict) -> str:
    """Twilio's HMAC-SHA256 webhook signature, computed here from its definition (the URL, then each
    parameter's name and value in name order), independently of twilio-python."""
    payload = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(key.encode(), payload.encode(), hashlib.sha256).digest()).decode()


SIGNING_KEY = "webhook-signing-secret-9a7c"
SHA256_SETTINGS = {"X-Twilio-Webhooks-Signature-Settings": "key=webhooks_sharedkey_123,algorithm=HMAC_SHA256"}


@pytest.fixture
def sha256_app(make_app):
    app = make_app(TWILIO_AUTH_TOKEN=VECTOR_TOKEN, PUBLIC_URL="https://mycompany.com", WEBHOOK_SIGNING_KEY=SIGNING_KEY)
    app.add_url_rule("/myapp.php", "vector", twilio_signed(lambda: "accepted"), methods=["POST"])
    return app


def test_hmac_sha256_webhooks_signed_with_the_signing_key_are_accepted(sha256_app):
    signature = sha256_signature(SIGNING_KEY, VECTOR_URL, VECTOR_PARAMS)
    post = sha256_app.test_client().post
    headers = {"X-Twilio-Signature": signature, **SHA256_SETTINGS}
    assert post("/myapp.php?foo=1&bar=2", data=VECTOR_PARAMS, headers=headers).status_code == 200
    assert post("/myapp.php?foo=1&bar=2", data={**VECTOR_PARAMS, "Digits": "9"}, headers=headers).status_code == 403
    without_settings = {"X-Twilio-Signature": signature}
    assert post("/myapp.php?foo=1&bar=2", data=VECTOR_PARAMS, headers=without_settings).status_code == 403
    classic = {"X-Twilio-Signature": VECTOR_SIGNATURE}  # the classic vector still passes beside it
    assert post("/myapp.php?foo=1&bar=2", data=VECTOR_PARAMS, headers=classic).status_code == 200


def test_while_a_signing_key_is_rotated_both_secrets_are_accepted(make_app):
    app = make_app(
        TWILIO_AUTH_TOKEN=VECTOR_TOKEN,
        PUBLIC_URL="https://mycompany.com",
        WEBHOOK_SIGNING_KEY=f"new-9f2e, {SIGNING_KEY}",
    )
    app.add_url_rule("/myapp.php", "vector", twilio_signed(lambda: "accepted"), methods=["POST"])
    for secret, expected in (("new-9f2e", 200), (SIGNING_KEY, 200), ("retired-0000", 403)):
        headers = {"X-Twilio-Signature": sha256_signature(secret, VECTOR_URL, VECTOR_PARAMS), **SHA256_SETTINGS}
        response = app.test_client().post("/myapp.php?foo=1&bar=2", data=VECTOR_PARAMS, headers=headers)
        assert response.status_code == expected, secret


def test_hmac_sha256_webhooks_are_refused_without_a_signing_key_or_with_the_wrong_one(vector_app, sha256_app):
    signed_with_token = sha256_signature(VECTOR_TOKEN, VECTOR_URL, VECTOR_PARAMS)
    headers = {"X-Twilio-Signature": signed_with_token, **SHA256_SETTINGS}
    for app in (vector_app, sha256_app):
        response = app.test_client().post("/myapp.php?foo=1&bar=2", data=VECTOR_PARAMS, headers=headers)
        assert response.status_code == 403
    sha1_with_sha256_header = {"X-Twilio-Signature": VECTOR_SIGNATURE, **SHA256_SETTINGS}
    response = sha256_app.test_client().post(
        "/myapp.php?foo=1&bar=2", data=VECTOR_PARAMS, headers=sha1_with_sha256_header
    )
    assert response.status_code == 403
