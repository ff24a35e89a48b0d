"""Why a run of the phone stops: a failure to report (exit 1), or simply the end of a call."""


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
