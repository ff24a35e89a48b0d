"""`ivr call`, the phone in the terminal: scripts over the example flows, against the app in-process (every
TwiML document checked by the XSD), against a server started like `ivr serve` (--url), and against the
private server the command starts itself."""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.call import presence
from ivr.store import presence_records
from ivr.store.embedded_redis import free_port
from ivr.tools import phone
from ivr.tools.cli import main
from tests.support import AUTH_TOKEN, PUBLIC_URL, ROOT, put_presence, wait_for_health
from tests.twilio_sim import assert_valid_twiml
from tests.twiml_proxy import TwimlProxy

SCRIPTS = sorted((ROOT / "tests" / "phone_scripts").glob("*.txt"))
SERVER_TOKEN = "phone-test-token"
ANSI = "\x1b["
_numbers = iter(range(2000, 3000))


def fresh_number() -> str:
    """A caller nobody has heard from (the shared server remembers callers across tests)."""
    return f"+1415555{next(_numbers):04d}"


# --- in-process: the Flask app through its test client -----------------------------------------------------


def flask_transport(client, seen: list[str] | None = None):
    """Post as the phone would, to the app's test client; every 200 answer must be valid TwiML."""

    def post(url: str, params: dict, headers: dict) -> tuple[int, str]:
        assert url.startswith(PUBLIC_URL), url
        # base_url: the host the request arrives at, as a server without PUBLIC_URL sees it
        response = client.post(url.removeprefix(PUBLIC_URL), data=params, headers=headers, base_url=PUBLIC_URL)
        body = response.get_data(as_text=True)
        if response.status_code == 200:
            assert_valid_twiml(body)
        if seen is not None:
            seen.append(url.removeprefix(PUBLIC_URL))
        return response.status_code, body

    return post


def call(client, *steps: str, caller: str | None = None, transport=None, token: str = AUTH_TOKEN):
    """Run a script in-process; return (the failure or None, the transcript)."""
    out = io.StringIO()
    transcript = phone.Transcript(out, colour=False)
    script = phone.ScriptSteps([("", s) for s in steps], transcript)
    known = phone.read_line(ROOT / "flows")
    device = phone.Phone(
        PUBLIC_URL,
        token,
        caller or fresh_number(),
        "+15005550006",
        script,
        transcript,
        known,
        transport or flask_transport(client),
    )
    try:
        device.run()
    except phone.PhoneError as exc:
        return str(exc), out.getvalue()
    return None, out.getvalue()


def test_billing_question_reaches_a_billing_person_who_hears_why(client):
    seen: list[str] = []
    failure, out = call(
        client,
        "1",
        "1",
        "expect connecting you to our billing team",
        "answer billing",
        "expect billing, then billing question",
        "wait 90",
        "hangup",
        transport=flask_transport(client, seen),
    )
    assert failure is None, out
    assert "ringing Alex (+15005550101)" in out or "ringing Jordan (client jordan-desk)" in out
    assert "agent hears   riverlink support call from 1 4 1 5" in out
    assert "presses 1" in out and "you hung up after talking with" in out
    assert seen[0] == "/voice" and seen[-1] == "/voice/status", "the status callback ends every call"
    assert any(p.startswith("/voice/whisper?") for p in seen) and any(p.startswith("/voice/dialled?") for p in seen)


def test_steps_are_signed_and_sent_as_twilio_sends_them(client):
    posted: list[tuple[str, dict, dict]] = []
    inner = flask_transport(client)

    def spy(url, params, headers):
        posted.append((url, params, headers))
        return inner(url, params, headers)

    failure, out = call(client, "say representative", "answer", "hangup", caller="+14155550142", transport=spy)
    assert failure is None, out
    arrive, speech = posted[0][1], posted[1][1]
    assert arrive["CallSid"].startswith("CA") and len(arrive["CallSid"]) == 34
    assert arrive["AccountSid"].startswith("AC") and arrive["Direction"] == "inbound"
    assert arrive["ApiVersion"] == "2010-04-01" and arrive["From"] == "+14155550142"
    assert arrive["CallStatus"] == "ringing" and speech["CallStatus"] == "in-progress"
    assert speech["SpeechResult"] == "representative" and float(speech["Confidence"]) > 0.5
    whisper = next(p for u, p, _ in posted if "/voice/whisper?" in u)
    assert whisper["ParentCallSid"] == arrive["CallSid"] and whisper["CallSid"] != arrive["CallSid"]
    dialled = next(p for u, p, _ in posted if "/voice/dialled?" in u)
    assert dialled["DialCallStatus"] == "completed" and dialled["DialBridged"] == "true"
    assert int(dialled["DialCallDuration"]) >= 1 and dialled["DialCallSid"] == whisper["CallSid"]
    status = posted[-1][1]
    assert status["CallStatus"] == "completed" and int(status["CallDuration"]) >= 1
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(AUTH_TOKEN)
    assert all(validator.validate(u, p, h["X-Twilio-Signature"]) for u, p, h in posted)
    assert AUTH_TOKEN not in out


def test_answer_names_who_should_ring_and_fails_clearly_when_someone_else_does(client, r):
    presence_records.set_status(r, "alex", presence.AWAY, time.time())  # billing: only jordan is left to ring
    failure, out = call(client, "1", "1", "answer alex")
    assert failure == "step 3 'answer alex': jordan is ringing, not alex"
    assert "ringing Jordan (client jordan-desk)" in out


def test_decline_no_answer_and_busy_pass_the_call_on(client):
    failure, out = call(
        client,
        "say operator",
        "decline",
        "expect passing the call on",
        "no-answer",
        "busy",
        "answer supervisor",
        "agent hangs up",
        "expect goodbye",
    )
    assert failure is None, out
    assert out.count("Still connecting you") == 3
    assert "no answer" in out and "busy" in out and "hangs up after" in out


def test_a_returning_caller_reaches_their_agent_then_a_supervisor_with_call_again(client):
    script = (ROOT / "tests" / "phone_scripts" / "returning_caller.txt").read_text().splitlines()
    failure, out = call(client, *script)
    assert failure is None, out
    assert out.count("calling +15005550006 from") == 2


@pytest.fixture
def moving_busy(r):
    for agent in ("alex", "mei"):
        put_presence(r, agent, presence.Presence(presence.BUSY, 0, time.time() + 3600, "CAx"))


def test_the_queue_wait_keys_leave_and_a_message(client, moving_busy):
    failure, out = call(
        client,
        "3",
        "expect putting you in line",
        "expect you are next in line",
        "expect [recording audio/hold.mp3]",
        "wait 20",
        "0",
        "expect you keep your place",
        "wait 45",
        "expect call you back without losing your place",
        "2",
        "expect leave your name",
        "record 12",
        "expect your message is saved",
    )
    assert failure is None, out
    assert "you are in the queue 'riverlink-support'" in out and "65 s in the queue" in out
    assert "you leave the queue after 65 s" in out and "message of 12 s stored" in out


def test_hanging_up_in_the_queue_posts_the_queue_action(client, moving_busy):
    seen: list[str] = []
    failure, out = call(client, "3", "wait 10", "hangup", transport=flask_transport(client, seen))
    assert failure is None, out
    assert seen[-2:] == ["/voice/queue/left", "/voice/status"]
    assert "you hung up after 10 s in the queue" in out


def test_degraded_mode_rings_everyone_and_asks_who_picks_up(make_app):
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0", FALLBACK_NUMBER="+15005550999")
    client = app.test_client()
    failure, out = call(client, "answer")
    assert "ringing 3 phones at once" in out and "Rosa (+15005550201)" in out and "+15005550999" in out
    assert failure == (
        "step 1 'answer': several phones ring at once (rosa, dev, +15005550999): say who picks "
        "up, for example `answer rosa`"
    )
    failure, out = call(client, "no-answer", "expect still trying", "answer +15005550999", "hangup")
    assert failure is None, out
    assert "+15005550999 and the caller are talking" in out


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (["hello"], "step 1 'hello': not a step I know"),
        (["1 2"], "step 1 '1 2': keys go together on one line"),
        (["answer"], "step 1 'answer': that does not fit here: keys, say <words>, silence or hangup"),
        (["12"], "step 1 '12': this prompt takes 1 key; put the next keys on the next line"),
        (["1", "1", "say billing"], "step 3 'say billing': that does not fit here: answer, decline, no-answer"),
        (["0", "answer", "hangup", "1"], "step 4 '1': that does not fit here: the call has ended"),
        (["wait soon"], "step 1 'wait soon': wait how many seconds?"),
        (["expect"], "step 1 'expect': expect what?"),
    ],
)
def test_bad_steps_fail_with_the_step_and_the_reason(client, steps, message):
    failure, _ = call(client, *steps)
    assert failure is not None and failure.startswith(message), failure


def test_an_expectation_not_heard_fails_and_says_what_was_heard(client):
    failure, _ = call(client, "1", "expect moving house")
    assert failure.startswith("step 2 'expect moving house': not heard since the previous step; heard: Billing.")


def test_the_end_of_a_script_hangs_up(client):
    seen: list[str] = []
    failure, out = call(client, "1", transport=flask_transport(client, seen))
    assert failure is None and "end of the script: you hang up" in out and seen[-1] == "/voice/status"


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (500, "oops", "POST /voice: the server answered 500 instead of 200 with TwiML"),
        (200, "<Response><Say>unclosed</Response>", "POST /voice: the answer is not valid XML"),
        (200, "<html>hello</html>", "POST /voice: the answer is not TwiML (<html>"),
        (403, "", "POST /voice: refused (403), the signature did not match"),
    ],
)
def test_a_broken_answer_from_the_server_ends_the_run_clearly(client, status, body, message):
    posted: list[str] = []

    def broken(url, params, headers):
        posted.append(url)
        return (status, body) if len(posted) == 1 else (200, "<Response/>")

    failure, _ = call(client, "1", transport=broken)
    assert failure is not None and failure.startswith(message), failure
    assert posted[-1].endswith("/voice/status"), "the call still ends with its status callback"


def test_typed_steps_explain_a_mistake_and_ask_again(client, monkeypatch):
    typed = iter(["answer", "help", "1", "expect charge", "", "", "hangup", ""])
    monkeypatch.setattr("builtins.input", lambda: next(typed))
    out = io.StringIO()
    transcript = phone.Transcript(out, colour=False)
    device = phone.Phone(
        PUBLIC_URL,
        AUTH_TOKEN,
        fresh_number(),
        "+15005550006",
        phone.TypedSteps(transcript),
        transcript,
        phone.read_line(ROOT / "flows"),
        flask_transport(client),
    )
    device.run()
    text = out.getvalue()
    assert "'answer': that does not fit here" in text and "Steps, one per line" in text
    assert 'ok            heard "charge"' in text
    assert "didn't hear anything" in text, "an empty line is silence"


def test_colour_on_a_terminal_plain_text_otherwise():
    coloured, plain = io.StringIO(), io.StringIO()
    phone.Transcript(coloured, colour=True).line("hears", "Hello")
    phone.Transcript(plain, colour=False).line("hears", "Hello")
    assert ANSI in coloured.getvalue() and "Hello" in coloured.getvalue()
    assert plain.getvalue() == "caller hears  Hello\n"


def test_the_token_comes_from_the_option_the_environment_or_the_dev_token_file(tmp_path, monkeypatch):
    dev = tmp_path / "dev-auth-token"
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    assert phone.find_token(None, dev) is None
    dev.write_text("from-file\n")
    assert phone.find_token(None, dev) == "from-file"
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "from-env")
    assert phone.find_token(None, dev) == "from-env"
    assert phone.find_token("given", dev) == "given"


def test_keys_on_hold_are_accepted_by_a_server_without_public_url(make_app, moving_busy):
    app = make_app(PUBLIC_URL="")
    failure, _ = call(app.test_client(), "3", "0", "expect you keep your place")
    assert failure is None, failure


# --- the command, against a server started like `ivr serve` (--url) and against its own private server --------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`ivr serve` as ops staff run it, shared by the tests below (callers are told apart by number), behind a
    proxy that checks every TwiML answer against the XSD; the phone calls the proxy, as Twilio would."""
    home = tmp_path_factory.mktemp("serve-home")
    # the rehearsals below follow each other within seconds on one line: no wrap-up time between calls
    flows = tmp_path_factory.mktemp("flows")
    shutil.copytree(ROOT / "flows", flows, dirs_exist_ok=True)
    support = flows / "support.yaml"
    support.write_text(support.read_text().replace("wrap_up_seconds: 60", "wrap_up_seconds: 0"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with TwimlProxy(free_port(), base) as proxy:
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "TWILIO_AUTH_TOKEN")}
        env.update(
            IVR_HOME=str(home),
            TWILIO_AUTH_TOKEN=SERVER_TOKEN,
            PUBLIC_URL=proxy.url,
            WEB_CONCURRENCY="1",
            AUDIO_CACHE=str(home / "audio-cache"),
            FLOWS_DIR=str(flows),
        )
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "ivr"), "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert wait_for_health(base, process)["redis"] == "ok"
            yield proxy.url
        finally:
            process.send_signal(signal.SIGINT)
            process.communicate(timeout=20)
        assert proxy.invalid == [], "answers of `ivr serve` that Twilio's XSD refuses"
        assert proxy.checked > 0


def ivr_call(*args: str, input: str | None = None, env: dict | None = None):
    result = CliRunner().invoke(main, ["call", *args], input=input, env=env, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_the_example_scripts_pass_over_the_example_flows(server, script):
    """The CI run: every script in tests/phone_scripts/ through `ivr call --script`."""
    code, out = ivr_call("--url", server, "--token", SERVER_TOKEN, "--from", fresh_number(), "--script", str(script))
    assert code == 0, out
    assert "script complete" in out and ANSI not in out and SERVER_TOKEN not in out


def test_a_caller_is_remembered_between_runs_against_one_server(server):
    number = fresh_number()
    first = ivr_call(
        "--url",
        server,
        "--from",
        number,
        "--step",
        "3",
        "--step",
        "answer",
        "--step",
        "hangup",
        env={"TWILIO_AUTH_TOKEN": SERVER_TOKEN},
    )
    assert first[0] == 0, first[1]
    agent = "Alex" if "Alex picks up" in first[1] else "Mei"
    second = ivr_call(
        "--url",
        server,
        "--from",
        number,
        "--step",
        "expect welcome back",
        "--step",
        "no-answer",
        "--step",
        "expect supervisor",
        "--step",
        "answer supervisor",
        "--step",
        "expect call number 2",
        "--step",
        "hangup",
        env={"TWILIO_AUTH_TOKEN": SERVER_TOKEN},
    )
    assert second[0] == 0, second[1]
    assert f"ringing {agent}" in second[1]


def test_a_failed_expectation_exits_1_with_the_reason(server):
    code, out = ivr_call(
        "--url",
        server,
        "--token",
        SERVER_TOKEN,
        "--script",
        "-",
        input="# a comment\n\n1\nexpect cancel your service\n",
    )
    assert code == 1
    assert "FAILED        stdin:4: step 2 'expect cancel your service': not heard since the previous step" in out
    assert out.rstrip().splitlines()[-1].startswith("FAILED"), "the reason is the last line"


def test_a_bad_step_in_a_script_file_names_its_line(server, tmp_path):
    script = tmp_path / "typo.txt"
    script.write_text("# billing\n1\nanwser\n")
    code, out = ivr_call("--url", server, "--token", SERVER_TOKEN, "--script", str(script))
    assert code == 1 and f"{script}:3: step 2 'anwser': not a step I know" in out


def test_a_wrong_token_is_reported_not_printed(server):
    code, out = ivr_call("--url", server, "--token", "not-the-token", "--step", "1")
    assert code == 1 and "refused (403)" in out and "not-the-token" not in out


def test_piped_steps_on_a_private_server_plain_text_and_everything_stopped():
    """No --url: the command starts its own Redis and web server, and stops both when the call ends."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "TWILIO_AUTH_TOKEN", "PUBLIC_URL")}
    steps = "say representative\nexpect connecting you to a person\nanswer\nexpect asked for a person\nhangup\n"
    done = subprocess.run(
        [str(Path(sys.executable).parent / "ivr"), "call"],
        cwd=ROOT,
        env=env,
        input=steps,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert ANSI not in done.stdout and "script complete (5 steps)" in done.stdout
    assert "private server at http://127.0.0.1:" in done.stdout and "its own Redis" in done.stdout
    port = int(done.stdout.split("private server at http://127.0.0.1:")[1].split()[0])
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "the private server stops with the call"


def test_help_says_the_private_server_has_its_own_redis():
    out = CliRunner().invoke(main, ["call", "--help"]).output
    assert "private server" in out and "own Redis" in out and "--url" in out and "--script" in out
