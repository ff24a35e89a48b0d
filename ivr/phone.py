"""`ivr call`: a phone in the terminal, for rehearsing a call without dialling.

You play the caller (and, when a phone rings, the person who answers it). The phone posts signed webhooks
exactly as Twilio would, follows the TwiML the server returns verb by verb and prints what each side hears.
It drives a running server (`--url`) or a private one it starts for the length of the run: its own Redis in
a temporary folder plus the Procfile's `web:` command, so callers start fresh on every run.

Steps come from the keyboard, or from a script (one step per line) for CI; see STEP_HELP. HTTP goes through
`requests`; nothing here imports Flask or the webhooks package.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO
from urllib.parse import urljoin, urlsplit

import requests
from twilio.request_validator import RequestValidator

from ivr.catalog import AGENTS_FILE, flow_files
from ivr.directory import Agent, Directory, load_directory
from ivr.errors import FlowError
from ivr.flow import load_flow
from ivr.redis_server import EmbeddedRedis, free_port

DEFAULT_CALLER = "+14155550100"  # --from when none is given: a fixed test number
FALLBACK_LINE = "+15005550006"  # --to when the default flow lists no number (the default flow answers anyway)
WEBHOOK_TIMEOUT = 15  # seconds Twilio waits for a webhook before it gives up
SERVER_START_TIMEOUT = 30
QUEUE_SILENCE_SECONDS = 15  # `silence` (an empty line) in the queue lets this much time pass
SPEECH_CONFIDENCE = "0.92"

STEP_HELP = """\
Steps, one per line (a script, --step, or typed at the prompt):
  1   0   12#          press keys (# ends a number where the line asks for one)
  say <words>          speak, e.g. say representative
  silence              say nothing (an empty line at the prompt); in the queue: wait 15 s
  answer [who]         the ringing phone is picked up: the agent hears the whisper and presses 1;
                       `answer alex` also checks that alex (or a group or role: billing, supervisor) rings
  decline [who]        picked up, the whisper heard, then a key other than 1: the call is passed on
  no-answer  busy      the ringing phone is not picked up / is busy
  agent hangs up       while talking: the agent ends the conversation, the caller hears what comes next
  wait <seconds>       in the queue: time passes and the wait message plays again; while talking: talk on
  record <seconds>     leave a message of that length where the line records one
  hangup               the caller hangs up
  call again           after the call: call again from the same number (a returning caller)
  expect <text>        check that the caller (or the agent, in a whisper) heard <text> since the previous
                       step, ignoring case; a script stops with exit 1 when they did not
Lines starting with # and blank lines are ignored in scripts. At the prompt, `help` shows this list."""


class PhoneError(Exception):
    """The run cannot go on: a script step failed, or the server answered something Twilio could not use."""


class ServerError(PhoneError):
    """The server refused a webhook, failed, timed out or answered something that is not TwiML."""


class ScriptFailed(PhoneError):
    """A script step did not fit the call, or an `expect` was not heard."""


class CallOver(Exception):
    """The call has ended (the reason is printed); the status callback follows."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# --- the transcript -------------------------------------------------------------------------------------

LABELS = {"hears": "caller hears", "agent_hears": "agent hears", "you": "you", "agent": "agent", "phone": "phone",
          "ok": "ok", "failed": "FAILED"}
STYLES = {"hears": "bold cyan", "agent_hears": "bold magenta", "you": "bold green", "agent": "bold yellow",
          "phone": "dim", "ok": "green", "failed": "bold red"}
WIDTH = max(len(label) for label in LABELS.values()) + 2


class Transcript:
    """Who said and heard what: coloured with rich on a terminal, plain text otherwise (CI logs)."""

    def __init__(self, out: TextIO, colour: bool):
        self.out = out
        self.console = None
        if colour:
            from rich.console import Console

            self.console = Console(file=out, highlight=False, markup=False, emoji=False, force_terminal=True)
        self.heard: list[str] = []  # what either side heard since the last step, for `expect`

    def line(self, kind: str, text: str) -> None:
        if kind in ("hears", "agent_hears"):
            self.heard.append(text)
        if self.console is not None:
            from rich.table import Table
            from rich.text import Text

            row = Table.grid()  # the label in its own column: long lines wrap under the text, not the label
            row.add_column(width=WIDTH, no_wrap=True)
            row.add_column()
            row.add_row(Text(LABELS[kind], style=STYLES[kind]), Text(text))
            self.console.print(row)
        else:
            self.out.write(f"{LABELS[kind].ljust(WIDTH)}{text}\n")
            self.out.flush()

    def new_step(self) -> None:
        self.heard = []

    def heard_text(self) -> str:
        return " ".join(self.heard)

    def ask(self, prompt: str) -> str:
        """Read one typed line (interactive mode only)."""
        if self.console is not None:
            from rich.text import Text

            self.console.print(Text(prompt, style="green"), end="")
        else:
            self.out.write(prompt)
            self.out.flush()
        return input()


def _words(text: str) -> str:
    return " ".join(text.split())


# --- steps ----------------------------------------------------------------------------------------------

KEYS = re.compile(r"^[0-9*#]+$")


@dataclass(frozen=True)
class Step:
    kind: str  # keys, say, silence, answer, decline, no-answer, busy, agent-hangup, wait, record, hangup,
    #            call-again, expect, help
    arg: str = ""
    seconds: float = 0
    text: str = ""  # as written
    number: int = 0  # its place in the script (every step counts, expect too)
    where: str = ""  # "file:line" for script files


def parse_step(text: str) -> Step:
    """Read one step; raise ValueError with a message for ops staff when it is not one."""
    raw = _words(text)
    word, _, rest = raw.partition(" ")
    word, rest = word.lower(), rest.strip()
    if word == "press" and rest:
        word, rest = rest.replace(" ", ""), ""
    if KEYS.match(word) and not rest:
        return Step("keys", word, text=raw)
    if KEYS.match(word):
        raise ValueError("keys go together on one line, without spaces (like 12#)")
    if word == "say":
        if not rest:
            raise ValueError("say what? for example: say representative")
        return Step("say", rest, text=raw)
    if word == "expect":
        if not rest:
            raise ValueError("expect what? for example: expect billing question")
        return Step("expect", rest, text=raw)
    phrase = raw.lower()
    simple = {"silence": "silence", "no-answer": "no-answer", "no answer": "no-answer", "busy": "busy",
              "hangup": "hangup", "hang up": "hangup", "agent hangs up": "agent-hangup",
              "agent-hangup": "agent-hangup", "call again": "call-again", "help": "help", "?": "help"}
    if phrase in simple:
        return Step(simple[phrase], text=raw)
    if word in ("answer", "decline"):
        return Step(word, rest.lower(), text=raw)
    if word in ("wait", "record"):
        try:
            seconds = float(rest)
        except ValueError:
            raise ValueError(f"{word} how many seconds? for example: {word} {65 if word == 'wait' else 12}") from None
        if not 0 <= seconds <= 86400 or (word == "wait" and seconds == 0):
            raise ValueError(f"{word} takes a number of seconds between {int(word == 'wait')} and 86400")
        return Step(word, rest, seconds=seconds, text=raw)
    raise ValueError("not a step I know (type help for the list; keys are 0-9, * and #)")


@dataclass
class Moment:
    """What the call is waiting for: the steps that fit, a hint, and a check that needs the document."""

    name: str
    allowed: frozenset[str]
    hint: str
    check: Callable[[Step], str | None] = lambda step: None
    empty: str | None = "silence"  # what an empty line means at the prompt (None: nothing; QUIT: stop)


QUIT = "\0quit"


def _misfit(step: Step, moment: Moment) -> str | None:
    if step.kind not in moment.allowed:
        return f"that does not fit here: {moment.hint}"
    return moment.check(step)


class ScriptSteps:
    """Steps from a script: every misfit ends the run with exit 1 and a message naming the step."""

    interactive = False

    def __init__(self, lines: list[tuple[str, str]], transcript: Transcript):
        self.lines = lines  # (where, text)
        self.transcript = transcript
        self.position = 0
        self.count = 0
        self.pending: Step | None = None

    @classmethod
    def from_text(cls, text: str, name: str, transcript: Transcript) -> ScriptSteps:
        return cls([(f"{name}:{n}" if name else "", line) for n, line in enumerate(text.splitlines(), 1)],
                   transcript)

    def fail(self, step: Step, message: str) -> ScriptFailed:
        place = f"{step.where}: " if step.where else ""
        return ScriptFailed(f"{place}step {step.number} '{step.text}': {message}")

    def push_back(self, step: Step) -> None:
        self.pending = step

    def next(self, moment: Moment) -> Step | None:
        if self.pending is not None:
            step, self.pending = self.pending, None
            problem = _misfit(step, moment)
            if problem:
                raise self.fail(step, problem)
            return step
        while self.position < len(self.lines):
            where, text = self.lines[self.position]
            self.position += 1
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            self.count += 1
            blank = Step("", text=_words(text), number=self.count, where=where)
            try:
                parsed = parse_step(text)
            except ValueError as exc:
                raise self.fail(blank, str(exc)) from None
            step = Step(parsed.kind, parsed.arg, parsed.seconds, parsed.text, self.count, where)
            if step.kind == "expect":
                self._expect(step)
                continue
            if step.kind == "help":
                raise self.fail(step, "help is for the prompt, not for scripts")
            problem = _misfit(step, moment)
            if problem:
                raise self.fail(step, problem)
            self.transcript.line("you", f"({step.number}) {step.text}")
            self.transcript.new_step()
            return step
        return None

    def _expect(self, step: Step) -> None:
        heard = self.transcript.heard_text()
        if _words(step.arg).casefold() in _words(heard).casefold():
            self.transcript.line("ok", f"({step.number}) heard \"{step.arg}\"")
            return
        raise self.fail(step, f"not heard since the previous step; heard: {heard or 'nothing'}")


class TypedSteps:
    """Steps typed at the prompt: a misfit is explained and the prompt asks again."""

    interactive = True

    def __init__(self, transcript: Transcript):
        self.transcript = transcript
        self.pending: Step | None = None

    def push_back(self, step: Step) -> None:
        self.pending = step

    def next(self, moment: Moment) -> Step | None:
        if self.pending is not None:
            step, self.pending = self.pending, None
            if not _misfit(step, moment):
                return step
        while True:
            try:
                text = self.transcript.ask(f"{moment.hint} > ")
            except EOFError:
                return None
            except KeyboardInterrupt:
                self.transcript.out.write("\n")
                return None
            if not text.strip():
                if moment.empty is None:
                    continue
                if moment.empty == QUIT:
                    return None
                text = moment.empty
            try:
                step = parse_step(text)
            except ValueError as exc:
                self.transcript.line("phone", f"'{_words(text)}': {exc}")
                continue
            if step.kind == "help":
                self.transcript.out.write(STEP_HELP + "\n")
                continue
            if step.kind == "expect":
                heard = self.transcript.heard_text()
                if _words(step.arg).casefold() in _words(heard).casefold():
                    self.transcript.line("ok", f"heard \"{step.arg}\"")
                else:
                    self.transcript.line("failed", f"\"{step.arg}\" was not heard since the previous step")
                continue
            problem = _misfit(step, moment)
            if problem:
                self.transcript.line("phone", f"'{step.text}': {problem}")
                continue
            self.transcript.new_step()
            return step


# --- what the phone knows about the line: people's names, the default number, recorded prompts ----------

@dataclass
class Line:
    directory: Directory | None = None
    default_number: str | None = None
    audio: dict[str, str] = field(default_factory=dict)  # served URL path -> the file as written in a flow


def read_line(folder: Path) -> Line:
    """Names, the default line's first number and the recordings' names; raise FlowError on a broken flow."""
    directory = load_directory(folder / AGENTS_FILE)
    flows = [load_flow(path, directory) for path in flow_files(folder)]
    default = next((f for f in flows if f.default), flows[0] if len(flows) == 1 else None)
    audio: dict[str, str] = {}
    try:
        from ivr import audio as audio_files

        for flow in flows:
            for written, _ in audio_files.prompts(flow):
                source = folder / written
                if source.is_file():
                    audio[audio_files.URL_PREFIX + audio_files.public_name(source.read_bytes())] = written
    except Exception:  # names for recordings are a nicety: the phone prints their URL without them
        audio = {}
    return Line(directory, default.numbers[0] if default and default.numbers else None, audio)


@dataclass(frozen=True)
class Ringing:
    """One phone a <Dial> rings."""

    kind: str  # Number or Client
    target: str
    url: str | None  # the whisper, fetched on the agent's leg when they pick up
    agent: Agent | None

    @property
    def id(self) -> str:
        return self.agent.id if self.agent else self.target

    @property
    def name(self) -> str:
        return self.agent.name if self.agent else self.target

    @property
    def label(self) -> str:
        where = self.target if self.kind == "Number" else f"client {self.target}"
        return f"{self.agent.name} ({where})" if self.agent else where

    @property
    def address(self) -> str:
        return self.target if self.kind == "Number" else f"client:{self.target}"

    def matches(self, who: str) -> bool:
        who = who.casefold()
        if who in (self.target.casefold(), self.address.casefold()):
            return True
        agent = self.agent
        return bool(agent) and (who in (agent.id, agent.name.casefold(), agent.role, f"{agent.role}s")
                                or who in agent.groups)


# --- one call -------------------------------------------------------------------------------------------

Transport = Callable[[str, dict, dict], tuple[int, str]]


def http_transport(trust_env: bool = True) -> tuple[Transport, Callable[[], None]]:
    """POST a form with `requests` (Twilio's 15 s limit); returns (post, close)."""
    session = requests.Session()
    session.trust_env = trust_env

    def post(url: str, params: dict, headers: dict) -> tuple[int, str]:
        response = session.post(url, data=params, headers=headers, timeout=WEBHOOK_TIMEOUT, allow_redirects=False)
        return response.status_code, response.text

    return post, session.close


def new_sid(prefix: str = "CA") -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class Doc:
    root: ET.Element
    url: str  # the URL it was fetched from: relative URLs in it resolve against this, as Twilio resolves them

    def resolve(self, target: str | None) -> str:
        return urljoin(self.url, target.strip()) if target and target.strip() else self.url


@dataclass
class Hold:
    """Where a queued caller stands after a wait document (or an answer to a key pressed while waiting)."""

    gather: tuple[ET.Element, str] | None = None  # the wait document's Gather and the URL its keys go to
    leave: bool = False


class Phone:
    """Places calls against one server and follows them to the end, one step at a time."""

    def __init__(self, base_url: str, token: str, caller: str, line: str, steps, transcript: Transcript,
                 known: Line | None = None, transport: Transport | None = None):
        self.base = base_url.rstrip("/")
        self.validator = RequestValidator(token)
        self.caller = caller
        self.line = line
        self.steps = steps
        self.out = transcript
        self.known = known or Line()
        self.transport = transport or http_transport()[0]
        self.account = new_sid("AC")
        self.sid = ""
        self.started = 0.0
        self.extra = 0.0  # seconds that passed in the story (waits, rings, talk) but not on the clock

    # --- the run ---
    def run(self) -> None:
        """Call, follow the call to its end, and call again while the steps ask for it."""
        while True:
            self.call()
            step = self.steps.next(Moment("ended", frozenset({"call-again"}),
                                          "the call has ended: `call again`, or Enter to quit"
                                          if self.steps.interactive else
                                          "the call has ended; only `call again` or `expect` may follow",
                                          empty=QUIT))
            if step is None:
                return

    def call(self) -> None:
        self.sid, self.started, self.extra = new_sid(), time.monotonic(), 0.0
        shown = self.caller or "(no caller ID)"
        self.out.line("phone", f"calling {self.line} from {shown}")
        try:
            try:
                doc = self._post(self.base + "/voice", CallStatus="ringing")
                reason = self._follow(doc)
            except CallOver as over:
                reason = over.reason
        except BaseException:
            self._status(quiet=True)  # as Twilio would: the call ended, whatever happened on our side
            raise
        seconds = self._status()
        self.out.line("phone", f"{reason}; the call lasted {seconds} s (status callback sent)")

    def _status(self, quiet: bool = False) -> int:
        seconds = max(1, round(time.monotonic() - self.started + self.extra))
        try:
            self._post(self.base + "/voice/status", CallStatus="completed", CallDuration=str(seconds))
        except PhoneError:
            if not quiet:
                raise
        return seconds

    # --- HTTP ---
    def _params(self, **extra) -> dict:
        params = {"CallSid": self.sid, "AccountSid": self.account, "To": self.line, "Called": self.line,
                  "CallStatus": "in-progress", "Direction": "inbound", "ApiVersion": "2010-04-01"}
        if self.caller:
            params.update(From=self.caller, Caller=self.caller)
        params.update({k: v for k, v in extra.items() if v is not None})
        return params

    def _post(self, url: str, raw: dict | None = None, **extra) -> Doc:
        """POST a caller-leg webhook (or `raw` params as given) and return the TwiML it answers."""
        params = raw if raw is not None else self._params(**extra)
        signature = self.validator.compute_signature(url, params)
        what = f"POST {_path(url)}"
        try:
            status, body = self.transport(url, params, {"X-Twilio-Signature": signature})
        except requests.Timeout:
            raise ServerError(f"{what}: no answer within {WEBHOOK_TIMEOUT} s; Twilio would give up and play "
                              "its error message to the caller") from None
        except (requests.RequestException, OSError) as exc:
            raise ServerError(f"{what}: cannot reach the server at {self.base} ({type(exc).__name__})") from None
        if status == 403:
            raise ServerError(f"{what}: refused (403), the signature did not match. Is the token the server's "
                              f"TWILIO_AUTH_TOKEN, and does the server see the address {self.base}? (Behind a "
                              "proxy the server needs PUBLIC_URL.)")
        if status != 200:
            raise ServerError(f"{what}: the server answered {status} instead of 200 with TwiML; Twilio would "
                              f"play its error message to the caller. Body: {_excerpt(body)}")
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            raise ServerError(f"{what}: the answer is not valid XML ({exc}): {_excerpt(body)}") from None
        if root.tag != "Response":
            raise ServerError(f"{what}: the answer is not TwiML (<{root.tag}> where <Response> should be): "
                              f"{_excerpt(body)}")
        return Doc(root, url)

    # --- the caller's leg, verb by verb ---
    def _follow(self, doc: Doc) -> str:
        """Run documents until the call ends; return why it ended."""
        while True:
            outcome = self._run(doc)
            if isinstance(outcome, str):
                return outcome
            doc = outcome

    def _run(self, doc: Doc) -> Doc | str:
        for verb in list(doc.root):
            tag = verb.tag
            if tag in ("Say", "Play", "Pause"):
                self._hear(verb, "hears")
                continue
            handler = {"Gather": self._gather, "Redirect": self._redirect, "Dial": self._dial,
                       "Enqueue": self._enqueue, "Record": self._record}.get(tag)
            if handler is not None:
                following = handler(verb, doc)
                if following is not None:
                    return following
            elif tag in ("Hangup", "Reject"):
                return "the line hung up"
            elif tag == "Leave":
                self.out.line("phone", "<Leave/> outside a queue: Twilio ignores it")
            else:
                self.out.line("phone", f"<{tag}> is not something this phone can play: skipped")
        return "the line had nothing more to say, so Twilio hung up"

    def _hear(self, verb: ET.Element, who: str) -> None:
        if verb.tag == "Say":
            text = _words("".join(verb.itertext()))
            if text:
                self.out.line(who, text)
        elif verb.tag == "Play":
            if verb.get("digits"):
                self.out.line(who, f"[keys {verb.get('digits')} played]")
            else:
                url = (verb.text or "").strip()
                self.out.line(who, f"[recording {self.known.audio.get(_path(url), url)}]")
        elif verb.tag == "Pause":
            seconds = _seconds(verb.get("length"), 1)
            self.extra += seconds
            self.out.line(who, f"[pause {seconds:g} s]")

    def _ask(self, moment: Moment) -> Step:
        step = self.steps.next(moment)
        if step is None:
            if self.steps.interactive:
                self.out.line("phone", "you hang up")
            else:
                self.out.line("phone", "end of the script: you hang up")
            return Step("hangup", text="hangup")
        return step

    def _gather(self, gather: ET.Element, doc: Doc) -> Doc | None:
        for child in gather:
            self._hear(child, "hears")
        inputs = set((gather.get("input") or "dtmf").split())
        limit = int(gather.get("numDigits") or 0)
        finish = gather.get("finishOnKey", "#")

        def check(step: Step) -> str | None:
            if step.kind == "keys":
                if "dtmf" not in inputs:
                    return "this prompt listens for speech only: use say <words>"
                keys = step.arg
                if finish and finish in keys[:-1]:
                    return f"keys after {finish} are not heard: {finish} ends the entry"
                keys = keys.removesuffix(finish) if finish else keys
                if limit and len(keys) > limit:
                    return (f"this prompt takes {limit} key{'s' if limit > 1 else ''}; put the next keys on the "
                            "next line")
            if step.kind == "say" and "speech" not in inputs:
                return "this prompt takes keys only: spoken words are not heard here"
            return None

        listens = "keys, say <words>" if {"dtmf", "speech"} <= inputs else \
            "say <words>" if "speech" in inputs else "keys"
        step = self._ask(Moment("menu", frozenset({"keys", "say", "silence", "hangup"}),
                                f"{listens}, silence or hangup", check))
        action = doc.resolve(gather.get("action"))
        if step.kind == "hangup":
            raise CallOver("you hung up")
        if step.kind == "silence":
            self.extra += _seconds(gather.get("timeout"), 5)
            if gather.get("actionOnEmptyResult") == "true":
                return self._post(action)
            return None  # Twilio moves on to the next verb
        if step.kind == "keys":
            keys = step.arg.removesuffix(finish) if finish else step.arg
            if not keys and gather.get("actionOnEmptyResult") != "true":
                return None
            return self._post(action, Digits=keys)
        return self._post(action, SpeechResult=step.arg, Confidence=SPEECH_CONFIDENCE)

    def _redirect(self, redirect: ET.Element, doc: Doc) -> Doc:
        return self._post(doc.resolve(redirect.text))

    # --- ringing people ---
    def _phones(self, dial: ET.Element, doc: Doc) -> list[Ringing]:
        directory = self.known.directory
        rings = []
        for noun in dial:
            if noun.tag == "Number":
                target = (noun.text or "").strip()
                agent = next((a for a in directory.agents.values() if a.number == target), None) if directory \
                    else None
            elif noun.tag == "Client":
                identity = noun.find("Identity")
                target = ((identity.text if identity is not None else noun.text) or "").strip()
                agent = next((a for a in directory.agents.values() if a.client == target), None) if directory \
                    else None
            else:
                self.out.line("phone", f"<Dial><{noun.tag}> is not something this phone can ring: skipped")
                continue
            rings.append(Ringing(noun.tag, target, doc.resolve(noun.get("url")) if noun.get("url") else None, agent))
        if not rings and (dial.text or "").strip():
            number = dial.text.strip()
            agent = next((a for a in directory.agents.values() if a.number == number), None) if directory else None
            rings.append(Ringing("Number", number, None, agent))
        return rings

    def _dial(self, dial: ET.Element, doc: Doc) -> Doc | None:
        rings = self._phones(dial, doc)
        if not rings:
            self.out.line("phone", "<Dial> with nobody to ring: Twilio moves on")
            return None
        ring_seconds = _seconds(dial.get("timeout"), 30)
        names = ", ".join(r.label for r in rings)
        if len(rings) == 1:
            self.out.line("phone", f"ringing {names} for up to {ring_seconds:g} s")
        else:
            self.out.line("phone", f"ringing {len(rings)} phones at once for up to {ring_seconds:g} s: {names}")

        def chosen(step: Step) -> Ringing | None:
            if step.arg:
                return next((r for r in rings if r.matches(step.arg)), None)
            return rings[0] if len(rings) == 1 else None

        def check(step: Step) -> str | None:
            if step.kind not in ("answer", "decline"):
                return None
            ring = chosen(step)
            if ring is None and step.arg:
                if len(rings) == 1:
                    return f"{rings[0].id} is ringing, not {step.arg}"
                return f"{step.arg} is not ringing (ringing: {', '.join(r.id for r in rings)})"
            if ring is None:
                return (f"several phones ring at once ({', '.join(r.id for r in rings)}): say who picks up, "
                        f"for example `{step.kind} {rings[0].id}`")
            if step.kind == "decline" and not ring.url:
                return f"{ring.name} hears no whisper on this call, so there is nothing to decline: " \
                       "use answer, no-answer or busy"
            return None

        who = "answer [who]" if len(rings) > 1 else "answer"
        step = self._ask(Moment("ringing", frozenset({"answer", "decline", "no-answer", "busy", "hangup"}),
                                f"{who}, decline, no-answer, busy or hangup", check, empty=None))
        action = doc.resolve(dial.get("action")) if dial.get("action") else None
        if step.kind == "hangup":
            raise CallOver(f"you hung up while {'the phones' if len(rings) > 1 else rings[0].name} rang")
        if step.kind in ("no-answer", "busy"):
            if step.kind == "no-answer":
                self.extra += ring_seconds
            who = rings[0].label if len(rings) == 1 else f"{len(rings)} phones ({names})"
            self.out.line("agent", f"{who}: {'no answer' if step.kind == 'no-answer' else 'busy'}")
            return self._dial_ended(action, step.kind)
        ring = chosen(step)
        leg = new_sid()
        self.out.line("agent", f"{ring.name} picks up")
        bridged = self._agent_leg(ring, leg, "1" if step.kind == "answer" else "2") if ring.url else True
        if not bridged:
            self.out.line("phone", f"{ring.name} passed: the caller was not connected")
            return self._dial_ended(action, "completed", leg=leg)
        return self._talk(ring, leg, action)

    def _agent_leg(self, ring: Ringing, leg: str, key: str) -> bool:
        """Play the whisper on the agent's own leg; True when the caller is bridged."""
        params = {"CallSid": leg, "ParentCallSid": self.sid, "AccountSid": self.account,
                  "From": self.caller or "anonymous", "To": ring.address, "Called": ring.address,
                  "CallStatus": "in-progress", "Direction": "outbound-dial", "ApiVersion": "2010-04-01"}
        doc = self._post(ring.url, raw=params)
        pressed = False
        while True:
            following = None
            for verb in list(doc.root):
                if verb.tag in ("Say", "Play", "Pause"):
                    self._hear(verb, "agent_hears")
                elif verb.tag == "Gather":
                    for child in verb:
                        self._hear(child, "agent_hears")
                    if not pressed:
                        pressed = True
                        self.out.line("agent", f"{ring.name} presses {key}")
                        following = self._post(doc.resolve(verb.get("action")), raw=dict(params, Digits=key))
                        break
                    if verb.get("actionOnEmptyResult") == "true":
                        following = self._post(doc.resolve(verb.get("action")), raw=params)
                        break
                elif verb.tag == "Redirect":
                    following = self._post(doc.resolve(verb.text), raw=params)
                    break
                elif verb.tag in ("Hangup", "Reject"):
                    self.out.line("agent", f"{ring.name}'s phone hangs up")
                    return False
                else:
                    self.out.line("phone", f"<{verb.tag}> in a whisper: Twilio allows only Say, Play, Gather, "
                                           "Pause, Redirect and Hangup there; skipped")
            if following is None:
                if not pressed:
                    self.out.line("phone", f"the whisper asked {ring.name} for no key: the call is connected")
                return True
            doc = following

    def _talk(self, ring: Ringing, leg: str, action: str | None) -> Doc | None:
        self.out.line("phone", f"{ring.name} and the caller are talking")
        started, talked = time.monotonic(), 0.0
        while True:
            step = self._ask(Moment("talking", frozenset(ALL_KINDS),
                                    "hangup (you), agent hangs up, or wait <seconds> to talk on",
                                    empty="agent hangs up"))
            if step.kind == "wait":
                talked += step.seconds
                continue
            break
        seconds = max(1, round(time.monotonic() - started + talked))
        self.extra += talked
        if step.kind not in ("hangup", "agent-hangup"):
            self.out.line("phone", f"{ring.name} hangs up first; '{step.text}' applies to what comes next")
            self.steps.push_back(step)
        elif step.kind == "agent-hangup":
            self.out.line("agent", f"{ring.name} hangs up after {seconds} s")
        following = self._dial_ended(action, "completed", leg=leg, bridged=True, seconds=seconds)
        if step.kind == "hangup":
            raise CallOver(f"you hung up after talking with {ring.name} for {seconds} s")
        return following

    def _dial_ended(self, action: str | None, status: str, leg: str | None = None, bridged: bool = False,
                    seconds: int = 0) -> Doc | None:
        if action is None:
            return None  # no action: Twilio carries on with the next verb
        extra = {"DialCallStatus": status, "DialBridged": "true" if bridged else "false",
                 "DialCallDuration": str(seconds)}
        if leg:
            extra["DialCallSid"] = leg
        return self._post(action, **extra)

    # --- the queue ---
    def _enqueue(self, enqueue: ET.Element, doc: Doc) -> Doc | None:
        name = (enqueue.text or "").strip()
        self.out.line("phone", f"you are in the queue '{name}'")
        wait_url = doc.resolve(enqueue.get("waitUrl")) if enqueue.get("waitUrl") else None
        action = doc.resolve(enqueue.get("action")) if enqueue.get("action") else None
        queue = {"QueueSid": new_sid("QU"), "QueueTime": 0}

        def fetch() -> Hold:
            if wait_url is None:
                self.out.line("hears", "[hold music]")
                return Hold()
            return self._hold(self._post(wait_url, QueueSid=queue["QueueSid"], QueueTime=str(int(queue["QueueTime"])),
                                         QueuePosition="1", CurrentQueueSize="1", AvgQueueTime="0"))

        hold = fetch()
        while not hold.leave:
            def check(step: Step, hold=hold) -> str | None:
                if step.kind == "keys" and hold.gather is None:
                    return "the wait message takes no keys right now: wait <seconds> or hangup"
                if step.kind == "keys":
                    limit = int(hold.gather[0].get("numDigits") or 0)
                    if limit and len(step.arg) > limit:
                        return f"the wait message takes {limit} key{'s' if limit > 1 else ''} at a time"
                return None

            step = self._ask(Moment("queue", frozenset({"wait", "keys", "silence", "hangup"}),
                                    "wait <seconds>, keys, or hangup", check))
            if step.kind == "hangup":
                if action:
                    self._post(action, QueueResult="hangup", QueueSid=queue["QueueSid"],
                               QueueTime=str(int(queue["QueueTime"])))
                raise CallOver(f"you hung up after {int(queue['QueueTime'])} s in the queue")
            if step.kind in ("wait", "silence"):
                seconds = step.seconds if step.kind == "wait" else QUEUE_SILENCE_SECONDS
                queue["QueueTime"] += seconds
                self.extra += seconds
                self.out.line("phone", f"{int(queue['QueueTime'])} s in the queue")
                hold = fetch()
                continue
            _, target = hold.gather
            hold = self._hold(self._post(target, Digits=step.arg))
            if not hold.leave and hold.gather is None:
                hold = fetch()  # the answer has played out: Twilio goes back to the wait document
        self.out.line("phone", f"you leave the queue after {int(queue['QueueTime'])} s")
        if action is None:
            return None
        return self._post(action, QueueResult="leave", QueueSid=queue["QueueSid"],
                          QueueTime=str(int(queue["QueueTime"])))

    def _hold(self, doc: Doc) -> Hold:
        """Play a wait document (or the answer to keys pressed in one): Say, Play, Pause, Gather, Leave."""
        hold = Hold()
        while True:
            following = None
            for verb in list(doc.root):
                if verb.tag in ("Say", "Play", "Pause"):
                    self._hear(verb, "hears")
                elif verb.tag == "Gather":
                    for child in verb:
                        self._hear(child, "hears")
                    hold.gather = (verb, doc.resolve(verb.get("action")))
                elif verb.tag == "Leave":
                    hold.leave = True
                    return hold
                elif verb.tag == "Redirect":
                    following = self._post(doc.resolve(verb.text))
                    break
                elif verb.tag == "Hangup":
                    raise CallOver("the line hung up while you were in the queue")
                else:
                    self.out.line("phone", f"<{verb.tag}> in a wait document: Twilio does not allow it; skipped")
            if following is None:
                return hold
            doc = following

    # --- messages ---
    def _record(self, record: ET.Element, doc: Doc) -> Doc | None:
        limit = _seconds(record.get("maxLength"), 3600)
        finish = record.get("finishOnKey", "1234567890*#")
        beep = "[beep] " if record.get("playBeep", "true") != "false" else ""
        self.out.line("hears", f"{beep}[recording, up to {limit:g} s; {finish} ends it]")
        step = self._ask(Moment("recording", frozenset({"record", "silence", "hangup"}),
                                "record <seconds>, silence or hangup"))
        if step.kind == "hangup":
            raise CallOver("you hung up without leaving a message")
        seconds = min(int(step.seconds), int(limit)) if step.kind == "record" else 0
        if step.kind == "record" and step.seconds > limit:
            self.out.line("phone", f"the recording stops at {limit:g} s")
        self.extra += seconds
        recording = new_sid("RE")
        recording_url = f"https://api.twilio.com/2010-04-01/Accounts/{self.account}/Recordings/{recording}"
        following = self._post(doc.resolve(record.get("action")), RecordingUrl=recording_url,
                               RecordingDuration=str(seconds), RecordingSid=recording,
                               Digits=finish[-1:] if seconds and finish else None)
        callback = record.get("recordingStatusCallback")
        if callback and seconds:
            # Twilio's recording status callback carries the recording, not the caller's From/To.
            self._post(doc.resolve(callback), raw={
                "AccountSid": self.account, "CallSid": self.sid, "RecordingSid": recording,
                "RecordingUrl": recording_url, "RecordingStatus": "completed", "RecordingDuration": str(seconds),
                "RecordingChannels": "1", "RecordingSource": "RecordVerb"})
            self.out.line("phone", f"message of {seconds} s stored (recording status callback sent)")
        return following


ALL_KINDS = ("keys", "say", "silence", "answer", "decline", "no-answer", "busy", "agent-hangup", "wait", "record",
             "hangup", "call-again")


def _seconds(value: str | None, default: float) -> float:
    try:
        return float(value) if value not in (None, "") else default
    except ValueError:
        return default


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _excerpt(body: str, limit: int = 300) -> str:
    body = _words(body or "")
    return repr(body[:limit] + ("..." if len(body) > limit else "")) if body else "(empty)"


# --- the private server ---------------------------------------------------------------------------------

class PrivateServer:
    """Its own Redis in a temporary folder plus the Procfile's web command on a free port, for one run."""

    def __init__(self, web_command: str, flows: Path, audio_cache: Path | None = None):
        self.web_command = web_command
        self.flows = flows
        self.audio_cache = audio_cache
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.folder: Path | None = None
        self.redis: EmbeddedRedis | None = None
        self.process: subprocess.Popen | None = None
        self.log: deque[str] = deque(maxlen=40)  # the server's own output, kept in memory for errors only
        self._reader: threading.Thread | None = None

    def start(self) -> PrivateServer:
        self.folder = Path(tempfile.mkdtemp(prefix="ivr-call-"))
        self.redis = EmbeddedRedis(self.folder / "redis", persist=False).start()
        env = {k: v for k, v in os.environ.items()
               if k not in ("REDIS_URL", "PUBLIC_URL", "TWILIO_AUTH_TOKEN", "IVR_INSECURE_SKIP_TWILIO_SIGNATURE",
                            "TWILIO_ACCOUNT_SID", "AGENT_API_TOKEN")}
        env.update(PORT=str(self.port), FLOWS_DIR=str(self.flows), WEB_CONCURRENCY="1", REDIS_URL=self.redis.url,
                   TWILIO_AUTH_TOKEN=self.token, IVR_HOME=str(self.folder),
                   AUDIO_CACHE=str(self.audio_cache or self.folder / "audio-cache"))
        # gunicorn lives beside this Python, whether or not the virtual env is activated
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        self.process = subprocess.Popen(["bash", "-c", f"exec {self.web_command}"], env=env, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)  # Ctrl-C reaches the phone, which stops it
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        self._wait_healthy()
        return self

    def _read_log(self) -> None:
        for line in self.process.stdout:
            self.log.append(line.rstrip())

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        with requests.Session() as session:
            session.trust_env = False
            while True:
                try:
                    if session.get(self.url + "/health", timeout=1).status_code == 200:
                        return
                except requests.RequestException:
                    pass
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    tail = "\n".join(self.log) or "(no output)"
                    raise ServerError(f"the private server did not start; its last words:\n{tail}")
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            if self._reader is not None:
                self._reader.join(timeout=5)
            self.process.stdout.close()
            self.process = None
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self) -> PrivateServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --- the command ----------------------------------------------------------------------------------------

def find_token(given: str | None, dev_token_file: Path) -> str | None:
    """--token, else TWILIO_AUTH_TOKEN, else the development token `ivr serve` wrote."""
    if given:
        return given
    if os.environ.get("TWILIO_AUTH_TOKEN"):
        return os.environ["TWILIO_AUTH_TOKEN"]
    if dev_token_file.exists():
        return dev_token_file.read_text().strip() or None
    return None


def run(*, url: str | None, token: str | None, flows: Path, caller: str | None, line: str | None,
        script: str | None, steps: tuple[str, ...], web_command: Callable[[], str], dev_token_file: Path,
        audio_cache: Path | None, out: TextIO | None = None, stdin: TextIO | None = None) -> int:
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
            transcript.line("failed", f"no auth token to sign with: pass --token, set TWILIO_AUTH_TOKEN, or run "
                                      f"`ivr serve` in this folder first (it writes {dev_token_file})")
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
            transcript.line("phone", f"starting a private server at {server.url} with its own Redis, flows from "
                                     f"{flows}: callers start fresh on every run")
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
