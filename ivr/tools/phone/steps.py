"""The step language: what the person at the phone does next, and which steps fit what the call waits for."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ivr.tools.phone.transcript import words

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

KEYS = re.compile(r"^[0-9*#]+$")
ALL_KINDS = (
    "keys",
    "say",
    "silence",
    "answer",
    "decline",
    "no-answer",
    "busy",
    "agent-hangup",
    "wait",
    "record",
    "hangup",
    "call-again",
)  # every step that acts on the call (expect and help only look)


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
    raw = words(text)
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
    simple = {
        "silence": "silence",
        "no-answer": "no-answer",
        "no answer": "no-answer",
        "busy": "busy",
        "hangup": "hangup",
        "hang up": "hangup",
        "agent hangs up": "agent-hangup",
        "agent-hangup": "agent-hangup",
        "call again": "call-again",
        "help": "help",
        "?": "help",
    }
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


QUIT = "\0quit"


@dataclass
class Moment:
    """What the call is waiting for: the steps that fit, a hint, and a check that needs the document."""

    name: str
    allowed: frozenset[str]
    hint: str
    check: Callable[[Step], str | None] = lambda step: None
    empty: str | None = "silence"  # what an empty line means at the prompt (None: nothing; QUIT: stop)

    def misfit(self, step: Step) -> str | None:
        """Why `step` does not fit here, or None when it does."""
        if step.kind not in self.allowed:
            return f"that does not fit here: {self.hint}"
        return self.check(step)
