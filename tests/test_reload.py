"""Safe hot reload: a valid edit goes live without a restart, a broken one never does, and a call in
progress finishes on the version of the flow it started on."""

from __future__ import annotations

import logging
import os
import shutil
import time

import pytest

from tests.support import AUTH_TOKEN, PUBLIC_URL, ROOT
from tests.twilio_sim import Twilio

OLD = "Billing. To pay your bill or ask about a charge"
NEW = "Billing and payments. To ask about a charge"


@pytest.fixture
def line(tmp_path, make_app):
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    folder = tmp_path / "flows"
    app = make_app(FLOWS_DIR=str(folder))
    return app, folder, Twilio(app.test_client(), AUTH_TOKEN, PUBLIC_URL)


def edit(folder, old: str, new: str) -> None:
    path = folder / "support.yaml"
    text = path.read_text()
    assert old in text, f"the edit must change something: {old!r} is not in the file"
    path.write_text(text.replace(old, new))
    stamp = time.time() + 1
    os.utime(path, (stamp, stamp))  # a new modification time even on coarse file systems


def test_a_valid_edit_goes_live_and_a_call_in_progress_keeps_its_version(line, caplog):
    app, folder, twilio = line
    catalogs = app.extensions["ivr"].catalogs
    old_version = catalogs.current().flows["riverlink-support"].version
    in_progress = twilio.call().start()
    edit(folder, OLD, NEW)
    caplog.set_level(logging.INFO)
    assert catalogs.check() is True
    new_version = catalogs.current().flows["riverlink-support"].version
    assert new_version != old_version and f"v{new_version}" in caplog.text
    in_progress.press("1")
    assert OLD in in_progress.heard(), "the call that started before the edit finishes on its version"
    fresh = twilio.call().start()
    fresh.press("1")
    assert NEW in fresh.heard()
    assert f"v{old_version}" in caplog.text and f"v{new_version}" in caplog.text, "logs show each call's version"


def test_a_broken_edit_never_goes_live(line, caplog):
    app, folder, twilio = line
    catalogs = app.extensions["ivr"].catalogs
    good = catalogs.current().flows["riverlink-support"].version
    in_progress = twilio.call().start()
    edit(folder, "next: billing_team", "next: billing_tema")
    caplog.set_level(logging.INFO)
    assert catalogs.check() is False
    assert "NOT live" in caplog.text and "billing_tema" in caplog.text and "support.yaml:" in caplog.text
    assert catalogs.current().flows["riverlink-support"].version == good
    in_progress.press("1")
    in_progress.press("1")
    assert in_progress.dial() is not None, "the call in progress still reaches billing"
    assert twilio.call().start().gather() is not None, "new calls are served by the last good version"
    assert catalogs.check() is False, "the same broken files are reported once, not every few seconds"
    health = app.test_client().get("/health").get_json()
    assert health["status"] == "flow edit refused", "ops see it without reading the log"
    assert health["lines"] == {"riverlink-support": good}, "still serving the last good version"
    (refused,) = health["refused_edit"]
    assert refused["file"].endswith("support.yaml") and refused["node"] == "billing"
    typo = next(n for n, t in enumerate((folder / "support.yaml").read_text().splitlines(), 1) if "billing_tema" in t)
    assert refused["line"] == typo and "'billing_tema'" in refused["message"] and "billing_team" in refused["message"]
    edit(folder, "next: billing_tema", "next: billing_team")
    assert catalogs.check() is True, "fixing the file puts it live"
    health = app.test_client().get("/health").get_json()
    assert health["status"] == "ok" and "refused_edit" not in health


def test_edits_reach_a_running_server_within_seconds(tmp_path, make_app):
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    folder = tmp_path / "flows"
    app = make_app(FLOWS_DIR=str(folder), RELOAD_SECONDS=0.2)
    twilio = Twilio(app.test_client(), AUTH_TOKEN, PUBLIC_URL)
    try:
        edit(folder, "Thanks for calling Riverlink Internet.", "Hello from Riverlink.")
        deadline = time.monotonic() + 5
        while "Hello from Riverlink" not in twilio.call().start().heard():
            assert time.monotonic() < deadline, "the edit did not go live within 5 s"
            time.sleep(0.1)
    finally:
        app.extensions["ivr"].catalogs.stop()
