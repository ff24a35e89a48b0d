"""The `ivr` command as ops staff and agents use it."""

from __future__ import annotations

import shutil

from click.testing import CliRunner

from ivr.call import callers, presence
from ivr.store import keys, presence_records
from ivr.tools.cli import main
from tests.support import AUTH_TOKEN, ROOT


def run(args, env=None):
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


def test_check_passes_the_example_flows():
    result = run(["check", str(ROOT / "flows")])
    assert result.exit_code == 0 and "riverlink-support" in result.output


def test_check_fails_a_broken_flow_naming_file_line_and_node(tmp_path):
    shutil.copy(ROOT / "flows" / "agents.yaml", tmp_path)
    text = (ROOT / "flows" / "support.yaml").read_text().replace('key: "4"', 'key: "0"')
    (tmp_path / "support.yaml").write_text(text)
    result = run(["check", str(tmp_path)])
    assert result.exit_code == 1
    line = next(n for n, t in enumerate(text.splitlines(), 1) if 'key: "0"' in t)
    assert f"support.yaml:{line}: node 'welcome'" in result.output and "key 0" in result.output


def test_check_one_file():
    result = run(["check", str(ROOT / "flows" / "support.yaml")])
    assert result.exit_code == 0


def test_agents_presence_commands(r, redis_server):
    env = {"REDIS_URL": redis_server.url, "FLOWS_DIR": str(ROOT / "flows")}
    assert run(["agents", "away", "alex"], env).exit_code == 0
    assert presence_records.parse(r.hget(keys.presence(), "alex")).status == presence.AWAY
    listing = run(["agents"], env).output
    assert "alex" in listing and "away" in listing and "available" in listing
    assert run(["agents", "available", "alex"], env).exit_code == 0
    assert presence_records.parse(r.hget(keys.presence(), "alex")).status == presence.AVAILABLE
    unknown = CliRunner().invoke(main, ["agents", "away", "nobody"], env=env)
    assert unknown.exit_code != 0 and "no agent 'nobody'" in unknown.output


def test_calls_resolve_and_history_use_the_apps_caller_key(twilio, r, redis_server):
    call = twilio.call("+14155550177").start()
    call.press("3")
    call.agent_answers()
    call.hangup()
    env = {"REDIS_URL": redis_server.url, "TWILIO_AUTH_TOKEN": AUTH_TOKEN}
    history = run(["calls", "history", "+14155550177"], env)
    assert "moving" in history.output and "alex" in history.output
    resolved = run(["calls", "resolve", "+14155550177"], env)
    assert resolved.exit_code == 0 and "***0177" in resolved.output and "1 recent" in resolved.output
    assert "4155550177" not in resolved.output
    caller = callers.caller_id("+14155550177", callers.secret(None, AUTH_TOKEN))
    assert float(r.hget(keys.caller(caller), "resolved_at")) > 0
    assert twilio.call("+14155550177").start().gather() is not None, "next call starts at the menu"


def test_commands_needing_redis_say_so_clearly(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["calls", "resolve", "+14155550177"], env={"REDIS_URL": ""})
    assert result.exit_code != 0 and "REDIS_URL" in result.output
