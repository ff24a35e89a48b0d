"""What people may see and change, the same for the console and the JSON API: status, wrap-ups, calls.
Roles are checked here, on the server; every change is recorded with who and when (ivr.store.audit)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from flask import current_app

from ivr.call import presence
from ivr.call.callstate import NOTE_MAX, OUTCOMES, WrapUp
from ivr.call.queueing import QueueEntry
from ivr.store import audit, callback_desk, line_view, messages, presence_records, wrap_ups
from ivr.store.callbacks import Callback, CallbackStore
from webhooks.people import Forbidden, Person

log = logging.getLogger("ivr.people")


@dataclass(frozen=True)
class Result:
    said: str = ""  # what happened, in words for the person
    error: str = ""  # why nothing happened
    status: int = 200  # for the API: 404 not found, 409 held by a call, 422 bad input

    @property
    def ok(self) -> bool:
        return not self.error


class NotFound(Exception):
    """No such call, person or request: 404."""


def set_status(person: Person, agent_id: str, status: str) -> Result:
    """Set a person available or away: oneself, or anyone as a supervisor."""
    services = current_app.extensions["ivr"]
    agent = services.catalog.directory.get(agent_id)
    if agent is None:
        raise NotFound(f"no person '{agent_id}' in agents.yaml")
    if agent.id != person.id and not person.is_supervisor:
        raise Forbidden("only a supervisor may change someone else's status")
    if status not in (presence.AVAILABLE, presence.AWAY):
        return Result(error="status must be available or away", status=422)
    now = services.clock()
    holding = presence_records.set_status(services.redis, agent.id, status, now)
    who = "You are" if agent.id == person.id else f"{agent.name} is"
    if holding.startswith("after:"):  # the call goes on; the choice applies when it ends
        audit.record(services.redis, audit.Change(now, person.id, "status", agent.id, f"{status} after the call"))
        return Result(said=f"{who} {holding.removeprefix('after:')} on a call: {status} when it ends.")
    if holding:
        return Result(error=f"{who} {holding} on a call now: available again when it ends.", status=409)
    audit.record(services.redis, audit.Change(now, person.id, "status", agent.id, status))
    log.info("%s set %s %s", person.id, agent.id, status)
    return Result(said=f"{who} now {status}.")


def visible_call(person: Person, call: str) -> line_view.CallView:
    """A call and its caller's story, for the person who was rung for it or took it, or a supervisor."""
    services = current_app.extensions["ivr"]
    now = services.clock()
    taker = wrap_ups.taken(services.redis, call)
    row = line_view.one_person(services.redis, person.agent, now)
    mine = (taker is not None and taker.agent == person.id) or row.call == call
    if not (mine or person.is_supervisor):
        raise Forbidden("only the person who took this call, or a supervisor, may see it")
    view = call_for_screen(call, now, taker)
    if view is None:
        raise NotFound("this call is no longer known (calls are kept for their caller's repeat window)")
    return view


def knows_caller(person: Person, caller: str, memory) -> bool:
    """Whether an agent took one of this caller's calls, or is being rung for or talking with them now."""
    if any(c.agent == person.id for c in memory.contacts):
        return True
    services = current_app.extensions["ivr"]
    row = line_view.one_person(services.redis, person.agent, services.clock())
    view = call_for_screen(row.call, services.clock()) if row.call else None
    return view is not None and view.state.caller == caller


def call_for_screen(call: str, now: float, taker: wrap_ups.Taken | None = None) -> line_view.CallView | None:
    """A call and its caller's story over their repeat window (the taker's record names it, when read)."""
    services = current_app.extensions["ivr"]
    taker = taker or wrap_ups.taken(services.redis, call)
    window = taker.window if taker is not None and taker.window else _longest_window()
    return line_view.call_view(services.redis, services.calls.sealer, call, window, now)


def wrap_up(person: Person, call: str, outcome: str, note: str) -> Result:
    """Keep an outcome and a note with the caller's history; the person who took the call is offered calls
    again at once. Only that person, or a supervisor, may wrap a call up."""
    services = current_app.extensions["ivr"]
    if outcome not in OUTCOMES:
        return Result(error=f"outcome must be one of {', '.join(OUTCOMES)}", status=422)
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        return Result(error=f"a note has at most {NOTE_MAX} characters ({len(note)} given)", status=422)
    taker = wrap_ups.taken(services.redis, call)
    if taker is None:
        raise NotFound("no call with that id was taken by a person (or it is older than its caller's window)")
    if taker.agent != person.id and not person.is_supervisor:
        raise Forbidden("only the person who took this call, or a supervisor, may wrap it up")
    freed = wrap_ups.wrap_up(services.redis, taker, WrapUp(outcome, note, person.id, services.clock()))
    log.info("%s wrapped up call ...%s: %s", person.id, call[-6:], outcome)
    said = "Wrap-up saved." + (" You are available for calls again." if freed and taker.agent == person.id else "")
    if not taker.caller:
        said += " The caller withheld their number, so it is not kept with any history."
    return Result(said=said)


def _longest_window() -> int:
    return max(f.settings.repeat.window_seconds for f in current_app.extensions["ivr"].catalog.flows.values())


def messages_for(person: Person, with_done: bool = False) -> list[messages.Message]:
    """The voicemails this person may see: theirs and their teams' (a supervisor, all), newest first."""
    services = current_app.extensions["ivr"]
    found = [m for m in messages.inbox(services.redis) if m.for_person(person.agent)]
    return [m for m in found if with_done or m.status == messages.NEW]


def act_on_message(person: Person, message_id: str, action: str, agent_id: str | None = None) -> Result:
    """Mark a message done, take it (own), or, as a supervisor, give it to someone (own with an agent)."""
    services = current_app.extensions["ivr"]
    message = messages.one(services.redis, message_id)
    if message is None:
        raise NotFound("no such message (messages are kept 14 days)")
    if not message.for_person(person.agent):
        raise Forbidden("this message is for another team")
    if action not in ("done", "own", "reopen"):
        return Result(error="action must be done, own or reopen", status=422)
    owner = None
    if action == "own":
        owner = agent_id or person.id
        if services.catalog.directory.get(owner) is None:
            raise NotFound(f"no person '{owner}' in agents.yaml")
        if owner != person.id and not person.is_supervisor:
            raise Forbidden("only a supervisor may give a message to someone else")
    messages.mark(services.redis, message_id, action, person.id, services.clock(), owner)
    said = {"done": "Message marked done.", "reopen": "Message open again."}.get(action)
    return Result(said=said or f"The message is now {'yours' if owner == person.id else owner + chr(39) + 's'}.")


CALLBACK_ACTIONS = ("cancel", "done", "assign")


def callbacks_for(person: Person) -> list[tuple[Callback, str]]:
    """Open callback requests this person may see (their teams' and their own; a supervisor, all), in line
    order, with where each stands: waiting, being placed, needs a supervisor."""
    services = current_app.extensions["ivr"]
    found = CallbackStore(services.redis, services.calls.sealer).listing()
    return sorted(
        ((c, where) for c, where in found if person.is_supervisor or _is_theirs(person, c)),
        key=lambda item: float(item[0].request.get("since", 0)),
    )


def act_on_callback(person: Person, request_id: str, action: str, agent_id: str | None = None) -> Result:
    """Cancel a callback request, mark it done, or give it to a person (back in line at its place, them first).
    A supervisor may do any of it; an agent, for their teams' requests, and assign only to themselves."""
    services = current_app.extensions["ivr"]
    if action not in CALLBACK_ACTIONS:
        return Result(error=f"action must be one of {', '.join(CALLBACK_ACTIONS)}", status=422)
    callback = CallbackStore(services.redis).callback(request_id)
    if callback is None:
        raise NotFound("no such callback request (requests are kept 7 days)")
    if not (person.is_supervisor or _is_theirs(person, callback)):
        raise Forbidden("this callback request is for another team")
    now = services.clock()
    entry = None
    if action == "assign":
        agent = services.catalog.directory.get(agent_id or person.id)
        if agent is None:
            raise NotFound(f"no person '{agent_id}' in agents.yaml")
        if agent.id != person.id and not person.is_supervisor:
            raise Forbidden("only a supervisor may give a callback request to someone else")
        entry = callback_entry(callback, agent.id, now)
    result = callback_desk.manage(services.redis, request_id, action, person.id, now, entry)
    if result == callback_desk.BUSY:
        return Result(error="this request is being placed right now: the call settles it", status=409)
    if result == callback_desk.SETTLED:
        return Result(error="this request is already settled (done, cancelled or merged)", status=409)
    if result == callback_desk.GONE:
        raise NotFound("no such callback request (requests are kept 7 days)")
    if action == "assign":
        return Result(said=f"The callback goes to {person_name(entry.prefer)} first, at its place in line.")
    return Result(said="Callback request cancelled." if action == "cancel" else "Callback request marked done.")


def callback_entry(callback: Callback, agent_id: str, now: float) -> QueueEntry:
    """The request back in line at its own place, for one person first (then its teams, after an hour)."""
    request = callback.request
    old = callback.entry or QueueEntry(
        callback.queue_id, float(request.get("since", now)), tuple(request.get("groups", ())), request.get("flow", "")
    )
    return replace(old, prefer=agent_id, prefer_until=now + ASSIGNED_FIRST_SECONDS, not_before=0.0)


ASSIGNED_FIRST_SECONDS = 3600


def _is_theirs(person: Person, callback: Callback) -> bool:
    groups = set(callback.request.get("groups", ())) | set(callback.entry.groups if callback.entry else ())
    prefer = callback.entry.prefer if callback.entry else None
    return prefer == person.id or bool(groups & set(person.agent.groups))


def person_name(agent_id: str | None) -> str:
    agent = current_app.extensions["ivr"].catalog.directory.get(agent_id)
    return agent.name if agent else (agent_id or "someone")
