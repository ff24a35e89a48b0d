"""`ivr call` itself: its options turned into a phone, a step source and a server, and an exit code."""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from ivr.errors import FlowError
from ivr.tools.phone.call import Phone
from ivr.tools.phone.errors import PhoneError
from ivr.tools.phone.line import Line, read_line
from ivr.tools.phone.private_server import PrivateServer
from ivr.tools.phone.step_sources import ScriptSteps, TypedSteps
from ivr.tools.phone.transcript import Transcript
from ivr.tools.phone.webhook_client import http_transport

DEFAULT_CALLER = "+14155550100"  # --from when none is given: a fixed test number
FALLBACK_LINE = "+15005550006"  # --to when the default flow lists no number (the default flow answers anyway)


def find_token(given: str | None, dev_token_file: Path) -> str | None:
    """--token, else TWILIO_AUTH_TOKEN, else the development token `ivr serve` wrote."""
    if given:
        return given
    if os.environ.get("TWILIO_AUTH_TOKEN"):
        return os.environ["TWILIO_AUTH_TOKEN"]
    if dev_token_file.exists():
        return dev_token_file.read_text().strip() or None
    return None


def run(
    *,
    url: str | None,
    token: str | None,
    flows: Path,
    caller: str | None,
    line: str | None,
    script: str | None,
    steps: tuple[str, ...],
    web_command: Callable[[], str],
    dev_token_file: Path,
    audio_cache: Path | None,
    out: TextIO | None = None,
    stdin: TextIO | None = None,
) -> int:
    """Run `ivr call`; return the exit code (0: the call(s) went as scripted, 1: a failure, explained)."""
    out = out or sys.stdout
    stdin = stdin or sys.stdin
    transcript = Transcript(out, colour=_is_terminal(out))
    if script is not None and steps:
        transcript.line("failed", "give --script or --step, not both")
        return 2
    if script == "-" or (script is None and not steps and not _is_terminal(stdin)):
        source = ScriptSteps.from_text(stdin.read(), "stdin" if script == "-" else "", transcript)
    elif script is not None:
        try:
            text = Path(script).read_text()
        except OSError as exc:
            transcript.line("failed", f"cannot read the script {script}: {exc.strerror}")
            return 1
        source = ScriptSteps.from_text(text, script, transcript)
    elif steps:
        source = ScriptSteps([("", s) for s in steps], transcript)
    else:
        source = TypedSteps(transcript)
    caller = DEFAULT_CALLER if caller is None else caller
    if url is None:
        try:
            known = read_line(flows)
        except FlowError as exc:
            for problem in exc.problems:
                transcript.line("failed", str(problem))
            transcript.line("failed", "the flows have problems, so no server was started (`ivr check` lists them)")
            return 1
    else:
        if not re.match(r"^https?://[^/]+", url):
            transcript.line("failed", f"--url should look like http://localhost:5000, not {url!r}")
            return 2
        token = find_token(token, dev_token_file)
        if not token:
            transcript.line(
                "failed",
                f"no auth token to sign with: pass --token, set TWILIO_AUTH_TOKEN, or run "
                f"`ivr serve` in this folder first (it writes {dev_token_file})",
            )
            return 1
        try:
            known = read_line(flows)
        except (FlowError, OSError):
            known = Line()  # names are a nicety when driving someone else's server
    to = line or known.default_number or FALLBACK_LINE
    if source.interactive:
        transcript.out.write("Type the caller's keys and words (help lists the steps; Ctrl-D hangs up).\n")
    server = None
    previous = _on_sigterm()
    try:
        if url is None:
            server = PrivateServer(web_command(), flows, audio_cache)
            transcript.line(
                "phone",
                f"starting a private server at {server.url} with its own Redis, flows from "
                f"{flows}: callers start fresh on every run",
            )
            server.start()
            url, token = server.url, server.token
        post, close = http_transport(trust_env=server is None)
        try:
            Phone(url, token, caller, to, source, transcript, known, post).run()
        finally:
            close()
    except PhoneError as exc:
        transcript.line("failed", str(exc))
        return 1
    except KeyboardInterrupt:
        transcript.line("phone", "interrupted: the call is over")
        return 130
    finally:
        if server is not None:
            server.stop()
        _restore_sigterm(previous)
    if not source.interactive:
        transcript.line("ok", f"script complete ({source.count} steps)")
    return 0


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _on_sigterm():
    """A terminated run still stops its private server: SIGTERM unwinds like Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(*_):
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)


def _restore_sigterm(previous) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)
