"""The only place TwiML is built: engine actions -> a <Response> document, with twilio's VoiceResponse.

URLs handed to Twilio are paths on this app; Twilio resolves them against the URL it just called, so
they work behind any public host name.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlencode

from twilio.twiml.voice_response import Dial as DialVerb
from twilio.twiml.voice_response import Gather, VoiceResponse

from ivr.call.actions import (
    Action,
    Ask,
    CallbackWhisper,
    Dial,
    DialCustomer,
    DialFirstFree,
    DialNumber,
    Enqueue,
    Hangup,
    HoldAsk,
    Leave,
    Pause,
    Play,
    Record,
    Redirect,
    RingEveryone,
    Say,
    WhisperAsk,
)
from ivr.flows.directory import Agent

# Endpoint name -> path. webhooks.voice registers its routes from this table.
PATHS = {
    "arrive": "/voice",
    "status": "/voice/status",
    "gather": "/voice/gather",
    "retry": "/voice/retry",
    "dialled": "/voice/dialled",
    "whisper": "/voice/whisper",
    "whisper_reply": "/voice/whisper/reply",
    "fallback": "/voice/fallback",
    "fallback_dialled": "/voice/fallback/dialled",
    "queue_wait": "/voice/queue/wait",
    "queue_left": "/voice/queue/left",
    "connect": "/voice/connect",
    "recorded": "/voice/voicemail/done",
    "recording_saved": "/voice/voicemail/saved",
    "callback_agent": "/voice/callback/agent",
    "callback_accept": "/voice/callback/accept",
    "callback_dialled": "/voice/callback/dialled",
    "callback_status": "/voice/callback/status",
}
HOLD_PAUSE_SECONDS = 15  # without hold music, how long the wait document is quiet before it speaks again
WHISPER_SECONDS = 8  # how long an agent has to press 1 after the whisper


def url(endpoint: str, **params) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return PATHS[endpoint] + (f"?{query}" if query else "")


def render(
    actions: tuple[Action, ...] | list[Action], call: str = "", voice: str = "Polly.Joanna", language: str = "en-US"
) -> str:
    """Build the TwiML document for a list of actions."""
    actions = tuple(actions)
    if any(isinstance(a, (Dial, WhisperAsk, CallbackWhisper, DialCustomer)) for a in actions):
        return _build(actions, call, voice, language)
    # Most documents (a menu, a hold message) are the same for every caller: build each once.
    return _build_shared(actions, voice, language)


@lru_cache(maxsize=1024)
def _build_shared(actions: tuple[Action, ...], voice: str, language: str) -> str:
    return _build(actions, "", voice, language)


def _build(actions: tuple[Action, ...], call: str, voice: str, language: str) -> str:
    response = VoiceResponse()

    def say(parent, text: str) -> None:
        parent.say(text, voice=voice, language=language)

    for action in actions:
        if isinstance(action, Say):
            say(response, action.text)
        elif isinstance(action, Pause):
            response.pause(length=action.seconds)
        elif isinstance(action, Ask):
            target = url("gather", node=action.node)
            speech = (
                {"speech_timeout": "auto", "hints": ", ".join(action.hints), "language": language}
                if "speech" in action.input
                else {}
            )
            gather = Gather(
                input=action.input,
                num_digits=action.num_digits,
                action=target,
                method="POST",
                action_on_empty_result=True,
                timeout=action.timeout,
                finish_on_key=action.finish_on_key,
                **speech,
            )
            if action.audio:
                if action.lead:
                    say(gather, action.lead)
                gather.play(action.audio)
            else:
                say(gather, action.prompt)
            response.append(gather)
            response.redirect(target, method="POST")  # if Gather ever falls through: counted as no input
        elif isinstance(action, Play):
            response.play(action.url)
        elif isinstance(action, Enqueue):
            response.enqueue(
                action.queue,
                wait_url=url("queue_wait"),
                wait_url_method="POST",
                action=url("queue_left"),
                method="POST",
            )
        elif isinstance(action, HoldAsk):
            # Keys work while holding; silence simply lets the hold audio play on.
            gather = Gather(input="dtmf", num_digits=1, action=url("gather", node="@hold"), method="POST", timeout=1)
            say(gather, action.prompt)
            if action.music:
                gather.play(action.music)
            else:
                gather.pause(length=HOLD_PAUSE_SECONDS)
            response.append(gather)
        elif isinstance(action, Leave):
            response.leave()
        elif isinstance(action, Record):
            response.record(
                action=url("recorded"),
                method="POST",
                max_length=action.max_seconds,
                finish_on_key="#",
                play_beep=True,
                trim="trim-silence",
                recording_status_callback=url("recording_saved"),
                recording_status_callback_method="POST",
            )
            # Twilio skips the action of an empty recording and goes on to the next verb: without this,
            # a caller who said nothing would be hung up on. They come back as "no message" instead.
            response.redirect(url("recorded"), method="POST")
        elif isinstance(action, Dial):
            dial = DialVerb(
                action=url("dialled", agent=action.agent.id),
                method="POST",
                timeout=action.ring_seconds,
                answer_on_bridge=True,
            )
            _person(dial, action.agent, whisper=url("whisper", call=call, agent=action.agent.id))
            response.append(dial)
        elif isinstance(action, DialNumber):
            dial = DialVerb(action=url("dialled", agent=action.marker), method="POST", timeout=action.ring_seconds)
            dial.number(action.number)
            response.append(dial)
        elif isinstance(action, RingEveryone):
            dial = DialVerb(action=url("fallback_dialled"), method="POST", timeout=action.ring_seconds)
            for agent in action.agents:
                _person(dial, agent, whisper=None)
            for number in action.numbers:
                dial.number(number)
            response.append(dial)
        elif isinstance(action, WhisperAsk):
            _whisper(
                response,
                say,
                url("whisper_reply", call=action.call, agent=action.agent),
                action.summary,
                "Passing the call on.",
            )
        elif isinstance(action, CallbackWhisper):
            _whisper(
                response,
                say,
                url("callback_accept", request=action.request, attempt=action.attempt),
                action.summary,
                "Passing. The request stays in line for the next person.",
            )
        elif isinstance(action, DialCustomer):
            dial = DialVerb(
                action=url("callback_dialled", request=action.request, attempt=action.attempt),
                method="POST",
                timeout=action.ring_seconds,
            )
            dial.number(action.number)
            response.append(dial)
        elif isinstance(action, Redirect):
            response.redirect(url(action.endpoint, **dict(action.params)), method="POST")
        elif isinstance(action, Hangup):
            response.hangup()
        elif isinstance(action, DialFirstFree):
            raise TypeError("settle() a DialFirstFree before rendering it")
        else:
            raise TypeError(f"cannot render {action!r}")
    return str(response)


def _whisper(response: VoiceResponse, say, action: str, summary: str, passing: str) -> None:
    """Tell the agent who and why; one key to accept, and silence passes (never a bridge by default)."""
    gather = Gather(input="dtmf", num_digits=1, timeout=WHISPER_SECONDS, method="POST", action=action)
    say(gather, summary)
    response.append(gather)
    say(response, passing)
    response.hangup()


def _person(dial: DialVerb, agent: Agent, whisper: str | None) -> None:
    extra = {"url": whisper, "method": "POST"} if whisper else {}
    if agent.number:
        dial.number(agent.number, **extra)
    else:
        dial.client(agent.client, **extra)


def last_resort(fallback_number: str | None) -> str:
    """The document for when even building the degraded ring failed: built here with nothing of the rest of
    this module (a bug there must not take this net too), in Twilio's default voice. It rings the fallback
    number, then asks for the fallback ring again; without a number it waits a moment first."""
    response = VoiceResponse()
    response.say("I'm connecting you to a person now.")
    if fallback_number:
        response.dial(fallback_number)
    else:
        response.pause(length=5)
    response.redirect(PATHS["fallback"], method="POST")
    return str(response)
