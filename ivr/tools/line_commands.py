"""`ivr agents`, `ivr calls` and `ivr callbacks`: the commands that read and change the live line's Redis
(presence, callers' history, callback requests), with REDIS_URL or the Redis of an `ivr serve` in this folder."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ivr.call import callers, presence
from ivr.flows.catalog import AGENTS_FILE
from ivr.flows.directory import load_directory
from ivr.store import accounts, audit, caller_history, presence_records
from ivr.store import client as store
from ivr.store.callbacks import CallbackStore
from ivr.store.sealed import Sealer
from ivr.tools.local import DEV_TOKEN_FILE, REDIS_URL_FILE, data_keys, flows_dir

console = Console(highlight=False)


def _redis() -> store.Client:
    url = os.environ.get("REDIS_URL") or (REDIS_URL_FILE.read_text().strip() if REDIS_URL_FILE.exists() else "")
    if not url:
        raise click.ClickException("no Redis: set REDIS_URL, or start `ivr serve` in this folder first")
    client = store.connect(url, timeout=2)
    if not store.answers(client):
        raise click.ClickException(f"cannot reach Redis at {url}")
    return client


def _caller_secret() -> bytes:
    token = os.environ.get("TWILIO_AUTH_TOKEN") or (
        DEV_TOKEN_FILE.read_text().strip() if DEV_TOKEN_FILE.exists() else ""
    )
    return callers.secret(os.environ.get("CALLER_HASH_KEY"), token)


@click.group(invoke_without_command=True)
@click.pass_context
def agents(ctx: click.Context) -> None:
    """List the people who take calls and whether they can take one now."""
    if ctx.invoked_subcommand is not None:
        return
    directory = load_directory(Path(flows_dir()) / AGENTS_FILE)
    records = presence_records.read_all(_redis())
    now = time.time()
    table = Table("id", "name", "role", "groups", "status", "idle for")
    for agent in directory.agents.values():
        p = records.get(agent.id, presence.Presence())
        status = presence.effective(p, now)
        idle = f"{int((now - p.idle_since) // 60)} min" if status == presence.AVAILABLE and p.idle_since else "-"
        table.add_row(agent.id, agent.name, agent.role, ", ".join(agent.groups) or "-", status, idle)
    console.print(table)


def _person(agent_id: str):
    directory = load_directory(Path(flows_dir()) / AGENTS_FILE)
    agent = directory.get(agent_id)
    if agent is None:
        raise click.ClickException(f"no agent '{agent_id}' in agents.yaml (ids: {', '.join(directory.agents)})")
    return agent


def _set(agent_id: str, status: str) -> None:
    _person(agent_id)
    r = _redis()
    holding = presence_records.set_status(r, agent_id, status, time.time())
    if holding.startswith("after:"):
        audit.record(r, audit.Change(time.time(), "cli", "status", agent_id, f"{status} after the call"))
        console.print(f"{agent_id} is {holding.removeprefix('after:')} on a call: {status} when it ends")
        return
    if holding:
        raise click.ClickException(f"{agent_id} is {holding} on a call: they are free again when it ends")
    audit.record(r, audit.Change(time.time(), "cli", "status", agent_id, status))
    console.print(f"{agent_id} is now {status}")


@agents.command()
@click.argument("agent_id")
def available(agent_id: str) -> None:
    """Mark AGENT_ID available for calls (idle from now)."""
    _set(agent_id, presence.AVAILABLE)


@agents.command()
@click.argument("agent_id")
def away(agent_id: str) -> None:
    """Mark AGENT_ID away: no calls are offered to them."""
    _set(agent_id, presence.AWAY)


@agents.command()
@click.argument("agent_id")
@click.password_option(help="The new password (asked twice when not given).")
def password(agent_id: str, password: str) -> None:
    """Set the console password of AGENT_ID (kept hashed; signs them out everywhere)."""
    _person(agent_id)
    try:
        accounts.set_password(_redis(), agent_id, password)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    console.print(f"password set for {agent_id}; they sign in at {_console_url()}/sign-in")


@agents.command(name="login-link")
@click.argument("agent_id")
def login_link(agent_id: str) -> None:
    """Print a one-time sign-in link for AGENT_ID (works once, within 15 minutes)."""
    _person(agent_id)
    secret = accounts.new_sign_in_link(_redis(), agent_id)
    console.print(f"one-time sign-in link for {agent_id} (15 minutes):")
    click.echo(f"{_console_url()}/link/{secret}")


@agents.command()
@click.argument("agent_id")
def token(agent_id: str) -> None:
    """Print a new API bearer token acting for AGENT_ID, alone on the last line (kept hashed; revocable)."""
    _person(agent_id)
    new = accounts.new_token(_redis(), agent_id)
    console.print(f"API token for {agent_id} (shown once; `ivr agents revoke {agent_id}` revokes it):")
    click.echo(new)


@agents.command()
@click.argument("agent_id")
def revoke(agent_id: str) -> None:
    """Revoke every API token of AGENT_ID and sign them out of every console session."""
    _person(agent_id)
    r = _redis()
    count = accounts.revoke_tokens(r, agent_id)
    accounts.sign_out_everywhere(r, agent_id)
    console.print(f"{count} token(s) of {agent_id} revoked; their console sessions are signed out")


def _console_url() -> str:
    base = os.environ.get("PUBLIC_URL") or f"http://localhost:{os.environ.get('PORT', '5000')}"
    return base.rstrip("/") + "/console"


@click.group()
def calls() -> None:
    """See and close callers' recent contacts."""


def _caller(number: str) -> str:
    caller = callers.caller_id(number, _caller_secret())
    if caller is None:
        raise click.ClickException("give the caller's number in E.164 form, such as +15551234567")
    return caller


@calls.command()
@click.argument("number")
def resolve(number: str) -> None:
    """Mark the caller at NUMBER resolved: their next call goes through the menu again."""
    closed = caller_history.resolve(_redis(), _caller(number), time.time())
    if not closed:
        raise click.ClickException(f"{callers.masked(number)} was never seen (or not within the window): nothing to do")
    console.print(f"caller {callers.masked(number)} marked resolved ({closed} recent contact(s) closed)")


@calls.command()
@click.argument("number")
def history(number: str) -> None:
    """Show the recent contacts of the caller at NUMBER."""
    memory = caller_history.history(_redis(), _caller(number))
    table = Table("when (UTC)", "line", "path", "agent", "outcome", "message", "counts")
    for c in sorted(memory.contacts, key=lambda c: c.at):
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(c.at))
        counts = "no (resolved)" if c.at <= memory.resolved_at else "yes"
        table.add_row(when, c.flow, " > ".join(c.path) or "-", c.agent or "-", c.outcome, c.message or "-", counts)
    console.print(table)


@click.command(name="callbacks")
@click.option("--show-numbers", is_flag=True, help="Show the full numbers to call (for the person calling).")
def callbacks_command(show_numbers: bool) -> None:
    """List callback requests: waiting, being placed, and the ones that need a supervisor."""
    table = Table("asked at (UTC)", "line", "number", "about", "tries", "state")
    sealer = Sealer(data_keys()) if data_keys() else None  # without the key, numbers cannot be shown
    for callback, state in CallbackStore(_redis(), sealer).listing():
        request = callback.request
        number = request.get("number") if show_numbers else callers.masked(request.get("number"))
        if sealer is None:
            number = "sealed: set DATA_KEYS"
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(float(request.get("since", 0))))
        table.add_row(
            when,
            request.get("flow", ""),
            number or "-",
            " > ".join(request.get("path", ())) or "-",
            str(callback.attempts),
            state,
        )
    console.print(table)
