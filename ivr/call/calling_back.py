"""Calling customers back, as rules: what the agent hears first, whether they take it, and what each way the
call to the customer ends leads to (pure; the request's progress is kept by ivr.store.callbacks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ivr.call.actions import Action, CallbackWhisper, DialCustomer, Hangup, Say
from ivr.call.callers import spoken
from ivr.call.callstate import Contact
from ivr.call.events import TALKED
from ivr.flows.model import CallbackPolicy

ALREADY_HANDLED = (Say("This callback has already been taken care of. Thank you."), Hangup())
PASSED = (Say("Passing. The request stays in line for the next person."), Hangup())
# Said to the agent when a callback webhook fails: the request is safe (its claim expires, it goes back in line).
CANNOT_GO_AHEAD = (
    Say("Sorry, this callback cannot go ahead right now. It stays in line and will be offered again."),
    Hangup(),
)


# Said to the agent when the number to call cannot be read (sealed under a key this server does not hold).
NUMBER_UNREADABLE = (
    Say("This callback's number cannot be read on this server. It has gone to the supervisors' list. Thank you."),
    Hangup(),
)

CALLING_CUSTOMER = "calling the customer"  # a request's status once the agent pressed 1 and the customer is dialled


# A request whose call to the person ended unanswered (their phone busy or off) waits this long before it is
# offered again, so it is not placed to the same busy phone in a loop; that person is last among the idle.
PERSON_MISSED_PAUSE_SECONDS = 30


def can_call(request: dict) -> bool:
    """Whether the request still holds a number to dial (it may be sealed under a key no longer held)."""
    return bool(request.get("number"))


def after_agent_call_ended(status: str, now: float) -> tuple[str, float]:
    """How an attempt settles when the call to the agent has ended and no dial result settled it first, and
    when the request may be offered again.

    Before the customer was dialled, the request goes back in line at its place, after a pause. After,
    whether they talked is unknown (the dial result was lost): a supervisor decides, never a second call
    placed on a guess.
    """
    return ("supervisors" if status == CALLING_CUSTOMER else "requeue"), now + PERSON_MISSED_PAUSE_SECONDS


@dataclass(frozen=True)
class CustomerCallEnded:
    """How a try at the customer ends: the request's new status, what the agent hears, what is remembered."""

    settle: str  # 'done', 'requeue' (a later try, same place in line) or 'supervisors'
    actions: tuple[Action, ...]
    failed_try: bool = False
    not_before: float = 0.0  # a retry is not offered before this time
    contact: Contact | None = None  # a callback that reached the customer joins their history


def whisper(request: dict, line: str, now: float, attempts: int, policy: CallbackPolicy) -> str:
    """Told to the agent before the customer is dialled, so the customer never starts over."""
    waited = max(1, math.ceil((now - float(request.get("since", now))) / 60))
    path = [p for p in request.get("path", ()) if p]
    parts = [
        f"Callback for a {line.replace('-', ' ')} customer at {spoken(request.get('number'))}.",
        f"They asked about: {', then '.join(path)}." if path else "They made no menu choice.",
        f"They asked for this call {waited} minute{'s' if waited != 1 else ''} ago.",
    ]
    if request.get("note"):
        parts.append(f"Last time {str(request['note']).rstrip('.')}.")
    if request.get("message"):
        parts.append("They left a message with it: it is on your screen.")
    if attempts:
        parts.append(f"This is try {attempts + 1} of {policy.max_attempts} to reach them.")
    parts.append("Press 1 to call them now, or any other key to pass.")
    return " ".join(parts)


def agent_answered(
    request_id: str, attempt: str, request: dict, line: str, now: float, attempts: int, policy: CallbackPolicy
) -> tuple[Action, ...]:
    return (CallbackWhisper(request_id, attempt, whisper(request, line, now, attempts, policy)),)


def takes_it(digits: str) -> bool:
    """1 after the whisper dials the customer; any other key passes the request on."""
    return digits[:1] == "1"


def dial_customer(request_id: str, attempt: str, request: dict) -> tuple[Action, ...]:
    return (Say("Calling them now."), DialCustomer(request["number"], request_id, attempt))


def customer_call_ended(
    status: str, request_id: str, request: dict, agent: str | None, line: str, attempts: int, policy, now: float
) -> CustomerCallEnded:
    """Talked: done, and a contact like any call (their next call comes back to this agent). Otherwise a
    later try, the wait doubling each time, and after the last try the supervisors' list."""
    if status in TALKED:
        # The callback completes the contact of the call that asked for it (same id): one problem, one contact.
        contact = Contact(
            call=request_id,
            at=float(request.get("since", now)),
            flow=line,
            path=(*request.get("path", ()), "called back"),
            agent=agent,
            outcome=f"called back by {agent}",
        )
        return CustomerCallEnded("done", (Say("Thank you."), Hangup()), contact=contact)
    settle, minutes = after_no_answer(attempts, policy)
    if settle == "supervisors":
        text = "They did not answer again, so the request goes to the supervisors' list."
    else:
        text = f"They did not answer. We will try again in {minutes} minutes."
    return CustomerCallEnded(settle, (Say(text), Hangup()), failed_try=True, not_before=now + minutes * 60)


def after_no_answer(attempts_before: int, policy: CallbackPolicy) -> tuple[str, int]:
    """After the customer did not answer: ('requeue', minutes to wait) or ('supervisors', 0).

    The wait doubles after each try; after the last try the request goes to the supervisors' list.
    """
    tries = attempts_before + 1
    if tries >= policy.max_attempts:
        return "supervisors", 0
    return "requeue", policy.retry_minutes * 2 ** (tries - 1)
