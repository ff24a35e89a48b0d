"""The transcript: who said and heard what, one labelled line each."""

from __future__ import annotations

from typing import TextIO

LABELS = {
    "hears": "caller hears",
    "agent_hears": "agent hears",
    "you": "you",
    "agent": "agent",
    "phone": "phone",
    "ok": "ok",
    "failed": "FAILED",
}
STYLES = {
    "hears": "bold cyan",
    "agent_hears": "bold magenta",
    "you": "bold green",
    "agent": "bold yellow",
    "phone": "dim",
    "ok": "green",
    "failed": "bold red",
}
WIDTH = max(len(label) for label in LABELS.values()) + 2


def words(text: str) -> str:
    """One space between words: spoken text is shown and compared this way, however the TwiML spaced it."""
    return " ".join(text.split())


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

    def was_heard(self, text: str) -> bool:
        """Whether either side heard `text` since the last step (what `expect` checks), ignoring case."""
        return words(text).casefold() in words(self.heard_text()).casefold()

    def ask(self, prompt: str) -> str:
        """Read one typed line (interactive mode only)."""
        if self.console is not None:
            from rich.text import Text

            self.console.print(Text(prompt, style="green"), end="")
        else:
            self.out.write(prompt)
            self.out.flush()
        return input()
