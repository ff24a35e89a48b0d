"""Where the steps come from: a script (CI, --step, piped lines) or the keyboard."""

from __future__ import annotations

from ivr.tools.phone.errors import ScriptFailed
from ivr.tools.phone.steps import QUIT, STEP_HELP, Moment, Step, parse_step
from ivr.tools.phone.transcript import Transcript, words


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
        return cls([(f"{name}:{n}" if name else "", line) for n, line in enumerate(text.splitlines(), 1)], transcript)

    def fail(self, step: Step, message: str) -> ScriptFailed:
        place = f"{step.where}: " if step.where else ""
        return ScriptFailed(f"{place}step {step.number} '{step.text}': {message}")

    def push_back(self, step: Step) -> None:
        self.pending = step

    def next(self, moment: Moment) -> Step | None:
        if self.pending is not None:
            step, self.pending = self.pending, None
            problem = moment.misfit(step)
            if problem:
                raise self.fail(step, problem)
            return step
        while self.position < len(self.lines):
            where, text = self.lines[self.position]
            self.position += 1
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            self.count += 1
            blank = Step("", text=words(text), number=self.count, where=where)
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
            problem = moment.misfit(step)
            if problem:
                raise self.fail(step, problem)
            self.transcript.line("you", f"({step.number}) {step.text}")
            self.transcript.new_step()
            return step
        return None

    def _expect(self, step: Step) -> None:
        if self.transcript.was_heard(step.arg):
            self.transcript.line("ok", f'({step.number}) heard "{step.arg}"')
            return
        heard = self.transcript.heard_text()
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
            if not moment.misfit(step):
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
                self.transcript.line("phone", f"'{words(text)}': {exc}")
                continue
            if step.kind == "help":
                self.transcript.out.write(STEP_HELP + "\n")
                continue
            if step.kind == "expect":
                if self.transcript.was_heard(step.arg):
                    self.transcript.line("ok", f'heard "{step.arg}"')
                else:
                    self.transcript.line("failed", f'"{step.arg}" was not heard since the previous step')
                continue
            problem = moment.misfit(step)
            if problem:
                self.transcript.line("phone", f"'{step.text}': {problem}")
                continue
            self.transcript.new_step()
            return step
