"""What a caller or an agent hears when our own machinery fails (Redis down, a bug, a lost webhook): a person,
or the promise of one, built from nothing that could have failed (pure).
"""

from __future__ import annotations

from ivr.call.actions import Action, Hangup, Pause, Redirect, Say
from ivr.call.events import TALKED

# A wait document that needs nothing from Redis: the caller keeps holding, and keeps their place.
STILL_WAITING = (Say("Thank you for holding. Someone will be with you as soon as possible."), Pause(10))
# A whisper that cannot read the call's details still gives the agent the call (an empty reply bridges).
BARE_WHISPER = (Say("Incoming call. Its details are not available right now. Connecting."),)


def after_fallback_ring(dial_status: str, store_back: bool = False) -> tuple[Action, ...]:
    """After the degraded ring: done if someone talked, else hold on and ring again. Never a hang-up.

    With the store back (Redis answers again), the caller leaves the degraded loop for the normal way to a
    person: a free one rung, or a place in line, instead of the supervisors rung again and again.
    """
    if dial_status in TALKED:
        return (Say("Thank you for calling. Goodbye."), Hangup())
    if store_back:
        return (Say("Please stay on the line. I'm connecting you to the next person free."), Redirect("retry"))
    return (
        Say("Please stay on the line. I'm still trying to reach someone for you."),
        Pause(5),
        Redirect("fallback"),
    )
