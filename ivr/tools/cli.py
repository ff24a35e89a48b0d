"""The `ivr` command: check flows, draw them, serve the line locally, rehearse a call; the commands on the live
line (agents, calls, callbacks) are in ivr.tools.line_commands."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ivr.errors import FlowError
from ivr.flows import audio, timing, timing_report
from ivr.flows.catalog import AGENTS_FILE, load_catalog
from ivr.flows.directory import load_directory
from ivr.flows.load import load_flow
from ivr.flows.model import Flow
from ivr.store.embedded_redis import EmbeddedRedis
from ivr.store.sealed import new_key
from ivr.tools import line_commands, report_commands, serve
from ivr.tools.graph import BY_SUFFIX, FORMATS, PictureError, find_flow, render
from ivr.tools.local import (
    DEV_DATA_KEY_FILE,
    DEV_TOKEN_FILE,
    LOCAL,
    REDIS_URL_FILE,
    dev_data_key,
    dev_secret_key,
    dev_token,
    flows_dir,
)

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)


@click.group()
def main() -> None:
    """A phone line where a person is always one key away."""


for command in (
    line_commands.agents,
    line_commands.calls,
    line_commands.callbacks_command,
    report_commands.export_command,
    report_commands.report_command,
    report_commands.incident_group,
):
    main.add_command(command)


@main.command()
@click.argument("path", required=False, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--agents",
    "agents_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The agents file to check a flow file against (default: the one beside it, else the flows folder's).",
)
def check(path: Path | None, agents_file: Path | None) -> None:
    """Validate the flows in PATH (a folder, or one flow file, a draft kept anywhere) and exit non-zero on any
    problem."""
    path = path or Path(flows_dir())
    try:
        if path.is_dir():
            catalog = load_catalog(path)
            flows = list(catalog.flows.values())
            directory = catalog.directory
            sounds = audio.AudioReport(catalog.audio, catalog.audio_seconds, catalog.audio_problems)
        else:
            beside = path.parent / AGENTS_FILE
            agents_file = agents_file or (beside if beside.exists() else Path(flows_dir()) / AGENTS_FILE)
            console.print(f"checking {path} against {agents_file}", markup=False, soft_wrap=True)
            directory = load_directory(agents_file)
            flows = [load_flow(path, directory)]
            sounds = audio.check_flows(path.parent, flows)
            late = timing_report.check_budgets(flows, sounds.seconds)
            if late:
                raise FlowError(late)
    except FlowError as exc:
        for problem in exc.problems:
            err.print(f"[red]error[/red] {problem}", markup=True, soft_wrap=True)
        err.print(f"[red]{len(exc.problems)} problem(s): nothing was loaded.[/red]")
        sys.exit(1)
    for flow in flows:
        numbers = ", ".join(flow.numbers) or "(no numbers)"
        default = " (the default line)" if flow.default or len(flows) == 1 else ""
        console.print(
            f"[green]ok[/green] {flow.file}: '{flow.name}' answers {numbers}{default}; "
            f"{len(flow.nodes)} nodes, starts at '{flow.start}'"
        )
        heard = dict.fromkeys(
            f"{written} ({'hold music, ' if node is None else ''}{sounds.seconds[written]:.1f} s)"
            for written, node in audio.prompts(flow)
            if written in sounds.seconds
        )
        if heard:
            console.print(f"[green]ok[/green] {flow.file}: recorded audio {escape(', '.join(heard))}", soft_wrap=True)
        _time_to_human(flow, sounds.seconds)
    for problem in sounds.problems:  # a warning, not a failure: callers hear the spoken text instead
        err.print(f"[yellow]warning[/yellow] {escape(str(problem))}", soft_wrap=True)
    console.print(
        f"[green]ok[/green] {len(directory.agents)} people, {len(directory.supervisors())} of them supervisors"
    )


def _time_to_human(flow: Flow, audio_seconds: dict[str, float]) -> None:
    """Print each node's time to a person (a table on a terminal, plain columns otherwise); warn of late ones."""
    figures = timing.time_to_human(flow, audio_seconds)
    title = (
        f"{flow.name}: seconds of prompts heard in full before each node, before 0 is offered, before a "
        f"person rings (budget {figures.budget} s)"
    )
    rows = timing_report.rows(figures)
    if console.is_terminal:
        table = Table(*timing_report.HEADERS, title=escape(title))
        for row in rows:
            table.add_row(*map(escape, row), style="yellow" if row[-1].endswith(f"({figures.budget} s)") else None)
        console.print(table)
    else:
        widths = [max(len(row[i]) for row in (timing_report.HEADERS, *rows)) for i in range(len(timing_report.HEADERS))]
        console.print(title, markup=False, soft_wrap=True)
        for row in (timing_report.HEADERS, *rows):  # figures right-aligned, names and notes left
            cells = [
                c.rjust(w) if 1 < i < len(row) - 1 else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ]
            console.print("  ".join(cells).rstrip(), markup=False, soft_wrap=True)
    console.print(timing_report.summary(figures), markup=False, soft_wrap=True)
    # warnings: only the first offer of a person within the budget is a must
    for problem in timing_report.first_offer_warnings(figures) + timing_report.late_nodes(figures):
        err.print(f"[yellow]warning[/yellow] {escape(str(problem))}", soft_wrap=True)


@main.command()
@click.argument("flow_ref", metavar="FLOW")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the picture to this file instead of printing it.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="mermaid (text GitHub draws in a ```mermaid block), svg (a picture laid out here, with no mermaid "
    "tools needed) or png. Default: from the -o file's ending (.mmd, .md, .svg, .png); mermaid when printing.",
)
def graph(flow_ref: str, output: Path | None, fmt: str | None) -> None:
    """Draw FLOW (a flow file, or a line name in FLOWS_DIR): menus and their options, routes, the zero-out.

    Each node shows when a caller reaches it and how soon a person can ring from there, in seconds of
    prompts heard in full (as `ivr check` reports them).
    """
    try:
        flow, folder = find_flow(flow_ref, Path(flows_dir()))
    except FlowError as exc:
        for problem in exc.problems:
            err.print(f"error {problem}", markup=False, soft_wrap=True)
        sys.exit(1)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    if fmt is None and output is not None:
        fmt = BY_SUFFIX.get(output.suffix.lower())
        if fmt is None:
            raise click.ClickException(
                f"cannot tell which picture to write from '{output.name}': end it in .svg, .png or .mmd "
                "(Mermaid), or say --format"
            )
    fmt = fmt or "mermaid"
    if fmt == "png" and output is None:
        raise click.ClickException("a PNG is not text: write it to a file with -o flow.png")
    try:
        picture = render(flow, timing.time_to_human(flow, audio.check_flows(folder, [flow]).seconds), fmt)
    except PictureError as exc:
        raise click.ClickException(str(exc)) from None
    if output is None:
        click.echo(picture, nl=False)
    else:
        if isinstance(picture, bytes):
            output.write_bytes(picture)
        else:
            output.write_text(picture, encoding="utf-8")
        err.print(f"wrote {output} ({fmt})", markup=False)


@main.command(name="data-key")
def data_key_command() -> None:
    """Print a new key for DATA_KEYS, which seals the phone numbers kept in Redis.

    To rotate: set DATA_KEYS to the new key, a comma, then the old one; remove the old one a week later.
    """
    click.echo(new_key())


@main.command(name="serve")
@click.option("--port", default=lambda: int(os.environ.get("PORT", "5000")), show_default="5000 or $PORT")
def serve_command(port: int) -> None:
    """Run the line locally with the Procfile's web command; start a local Redis if REDIS_URL is unset."""
    env = dict(os.environ, PORT=str(port), FLOWS_DIR=flows_dir())
    # gunicorn lives beside this Python, whether or not the virtual env is activated
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    try:
        load_catalog(env["FLOWS_DIR"])
    except FlowError as exc:
        for problem in exc.problems:
            err.print(f"error {problem}")
        err.print("refusing to start: fix the flow files first (`ivr check` shows the same list)")
        sys.exit(1)
    web, worker = _procfile_command("web"), _procfile_command("worker")  # before anything starts
    # the worker talks to Twilio's REST API: only with real credentials, never the development token
    with_worker = bool(env.get("TWILIO_ACCOUNT_SID") and env.get("PUBLIC_URL") and env.get("TWILIO_AUTH_TOKEN"))
    if not env.get("DATA_KEYS"):
        env["DATA_KEYS"] = dev_data_key()
        err.print(
            f"[yellow]DATA_KEYS is not set: phone numbers are sealed with a local development key from "
            f"{DEV_DATA_KEY_FILE}. Set DATA_KEYS (`ivr data-key` makes one) for a real line.[/yellow]"
        )
    if not env.get("SECRET_KEY"):
        env["SECRET_KEY"] = dev_secret_key()  # the console's sessions: signed in stays signed in across restarts
    if not env.get("TWILIO_AUTH_TOKEN") and not env.get("IVR_INSECURE_SKIP_TWILIO_SIGNATURE"):
        env["TWILIO_AUTH_TOKEN"] = dev_token()
        err.print(
            "[yellow]TWILIO_AUTH_TOKEN is not set: using a local development token from "
            f"{DEV_TOKEN_FILE}. Requests from real Twilio will be refused (403) until you set it.[/yellow]"
        )
    embedded, children = None, serve.Children()
    for sig in (signal.SIGTERM, signal.SIGHUP):  # a closed terminal or a stop request: as Ctrl-C, at any moment
        signal.signal(sig, serve.interrupt)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C at any point: the finally below stops everything
        try:
            if not env.get("REDIS_URL"):
                embedded = EmbeddedRedis(LOCAL / "redis")  # named first: a stop while it starts still stops it
                embedded.start()
                env["REDIS_URL"] = embedded.url
                REDIS_URL_FILE.write_text(embedded.url)
                console.print(
                    f"started a local Redis at {embedded.url} (data in {LOCAL / 'redis'}); it stops with this"
                )
            console.print(f"serving on http://0.0.0.0:{port}  (POST /voice, /voice/status)  Ctrl-C to stop")
            console.print(f"the console: http://localhost:{port}/console/  (`ivr agents password ID` to sign in)")
            server = children.start(web, env)
            if with_worker:
                children.start(worker, env)
                console.print("worker started: queued callers and callbacks are handed to people as they free up")
            else:
                err.print(
                    "[yellow]no worker: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and PUBLIC_URL to hand "
                    "queued callers and callbacks to people through Twilio's REST API.[/yellow]"
                )
            server.wait()
        finally:
            serve.ignore_stop_signals()  # nothing may cut the clean-up short
            children.stop()
            if embedded is not None:  # last: the web process may still be answering until it stops
                embedded.stop()
                REDIS_URL_FILE.unlink(missing_ok=True)
    code = children.processes[0].returncode if children.processes else 1
    sys.exit(code if code and code > 0 else 0)


def _procfile_command(kind: str) -> str:
    try:
        command = serve.procfile_command(kind)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    if command is None:
        raise click.ClickException(f"no '{kind}:' line in the Procfile")
    return command


@main.command(name="call")
@click.option(
    "--url",
    help="Drive a running server (`ivr serve`), e.g. http://localhost:5000. "
    "Without it: a private server with its own Redis, for this run only.",
)
@click.option("--token", help="The server's auth token [default: $TWILIO_AUTH_TOKEN, else .ivr/dev-auth-token].")
@click.option(
    "--flows",
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: flows_dir(),
    show_default="flows or $FLOWS_DIR",
    help="The flow files (the private server's, and people's names).",
)
@click.option("--from", "caller", metavar="NUMBER", help="The caller's number (or anonymous) [default: +14155550100].")
@click.option("--to", "line", metavar="NUMBER", help="The number dialled [default: the default flow's first number].")
@click.option("--script", metavar="FILE", help="Run the steps in FILE (- reads them from stdin), then hang up.")
@click.option("--step", "steps", multiple=True, metavar="STEP", help="A step to run; repeat for more.")
def call_command(url, token, flows, caller, line, script, steps) -> None:
    """Rehearse a call in the terminal: you are the caller (and whoever picks up when a phone rings).

    Without --url, the call goes to a private server started for this run (its own Redis in a temporary
    folder, the Procfile's web command, the flows in --flows), so every run's callers start fresh; with
    --url it goes to that server, which remembers callers. Interactive at a terminal; with --script,
    --step or piped steps it runs without questions, prints the transcript and exits 1 on the first
    step that does not fit or `expect` not heard. Steps: keys (1, 0, 12#), say <words>, silence,
    answer [who], decline [who], no-answer, busy, agent hangs up, wait <seconds>, record <seconds>,
    hangup, call again, expect <text> (README: "Rehearse a call").
    """
    from ivr.tools import phone

    sys.exit(
        phone.run(
            url=url,
            token=token,
            flows=flows,
            caller=caller,
            line=line,
            script=script,
            steps=steps,
            web_command=lambda: _procfile_command("web"),
            dev_token_file=DEV_TOKEN_FILE,
            audio_cache=Path(os.environ.get("AUDIO_CACHE") or LOCAL / "audio-cache"),
        )
    )


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
