"""Every Redis key the project uses, built here and nowhere else, under one prefix."""

PREFIX = "ivr:"


def call(call_sid: str) -> str:
    """The state of one call in progress (a hash)."""
    return f"{PREFIX}call:{call_sid}"


def caller(caller_id: str) -> str:
    """One caller's recent contacts and resolution mark (a hash), keyed by an HMAC, never a raw number."""
    return f"{PREFIX}caller:{caller_id}"


def presence() -> str:
    """Every agent's availability (a hash: agent id -> JSON record), read by key, never whole, on a webhook."""
    return f"{PREFIX}presence"


# The presence indexes below are derived from the records and the directory (ivr.store.presence_index), kept
# in step by the Lua that writes a record, so a webhook reads the few people it needs whatever the directory.


def people() -> str:
    """The directory as the indexes know it (a hash: agent id -> comma-separated index groups)."""
    return f"{PREFIX}people"


def people_version() -> str:
    """A fingerprint of the directory the indexes were built for (a string)."""
    return f"{PREFIX}people:version"


def free(group: str) -> str:
    """The people of a group free now (a sorted set: agent id -> idle since), longest idle first; the group
    "*" (ivr.call.presence.EVERYONE) is everyone."""
    return f"{PREFIX}free:{group}"


def on_duty(group: str) -> str:
    """The people of a group not away (a set), supervisors who list the group included."""
    return f"{PREFIX}duty:{group}"


def staffed(group: str) -> str:
    """The people of a group not away who are not supervisors (a set)."""
    return f"{PREFIX}staff:{group}"


def held() -> str:
    """People ringing or busy, by when their hold expires (a sorted set: agent id -> until)."""
    return f"{PREFIX}held"


def queue() -> str:
    """Everyone waiting for a person, callers and callback requests alike (a sorted set: id -> since)."""
    return f"{PREFIX}queue"


def line(group: str) -> str:
    """Everyone waiting whom a group may take (a sorted set: queue id -> since): a caller's place is a ZRANK,
    and the head of the line a ZRANGE, whatever the length of the queue."""
    return f"{PREFIX}line:{group}"


def lines() -> str:
    """The groups that have (or had) a line (a set), so a line whose group left the directory is still served."""
    return f"{PREFIX}lines"


def own_line(agent: str) -> str:
    """Returning callers waiting for their own person first (a sorted set: queue id -> since)."""
    return f"{PREFIX}own:{agent}"


def queue_entries() -> str:
    """Who may take each waiting id (a hash: id -> QueueEntry JSON)."""
    return f"{PREFIX}queue:entries"


def callback(request_id: str) -> str:
    """One callback request: the number to call and its progress (a hash). callback("*") matches them all."""
    return f"{PREFIX}callback:{request_id}"


def callbacks_claimed() -> str:
    """Callback requests a worker is placing (a sorted set: id -> claim expiry), for re-delivery."""
    return f"{PREFIX}callbacks:claimed"


def callbacks_for_supervisors() -> str:
    """Callback requests that could not be completed (a sorted set: id -> time given up)."""
    return f"{PREFIX}callbacks:supervisors"


def talk_times(group: str) -> str:
    """Recent talk times of a group's calls, for wait estimates (a sorted set: "CallSid:seconds" -> when),
    so recording one twice (a re-sent pipeline) still counts it once."""
    return f"{PREFIX}talk:{group}"


def wake() -> str:
    """A list the dispatcher blocks on: at most one nudge, pushed when a person frees up or someone waits."""
    return f"{PREFIX}wake"


def health() -> str:
    """A short-lived key /health writes when it may not ask Redis its role (a least-privilege user)."""
    return f"{PREFIX}health"


# People who sign in to the console and the API (ivr.store.accounts): secrets only as hashes or digests.


def account(agent: str) -> str:
    """A person's sign-in: their password's argon2 hash and a session epoch that signs them out everywhere."""
    return f"{PREFIX}account:{agent}"


def token(digest: str) -> str:
    """A bearer token, by the SHA-256 of the token (a string: the agent id it acts for)."""
    return f"{PREFIX}token:{digest}"


def tokens_of(agent: str) -> str:
    """The digests of a person's bearer tokens (a set), so they can be revoked together."""
    return f"{PREFIX}tokens:{agent}"


def sign_in_link(digest: str) -> str:
    """A one-time sign-in link, by the SHA-256 of its secret (a string: agent id), expiring on its own."""
    return f"{PREFIX}link:{digest}"


def sign_in_failures(who: str) -> str:
    """Failed sign-ins for a person or an address in the current window (a counter with a TTL)."""
    return f"{PREFIX}signin-failures:{who}"


def audit() -> str:
    """Every change people make (a stream: who, what, on what, when), trimmed to a bounded length."""
    return f"{PREFIX}audit"


def taken(call_sid: str) -> str:
    """Who took a call and whose call it was (a hash: agent, caller, window), for its wrap-up afterwards."""
    return f"{PREFIX}taken:{call_sid}"


def messages() -> str:
    """The voicemail inbox (a sorted set: message id -> when it was left), trimmed by age."""
    return f"{PREFIX}messages"


def message(message_id: str) -> str:
    """One voicemail: who left it, for which team, its recording's address, and who dealt with it (a hash)."""
    return f"{PREFIX}message:{message_id}"


def open_problems() -> str:
    """Callers whose problem is open: called more than once in their window, or last wrapped up as not
    resolved (a sorted set: caller HMAC -> their latest call), trimmed by age."""
    return f"{PREFIX}open-problems"


def tally(day: str, flow: str, what: str) -> str:
    """The calls a line counts as `what` on one day in its own time zone (a set of CallSids, so a re-sent
    pipeline counts a call once), kept a week."""
    return f"{PREFIX}tally:{day}:{flow}:{what}"


def records() -> str:
    """Every ended call's summary record, and later wrap-ups of them (a stream, trimmed by age: its ids are
    times), for the line's metrics and `ivr export`."""
    return f"{PREFIX}records"


# Incidents (ivr.store.incidents): many callers making the same choice at once.


def choices(line: str, option: str) -> str:
    """Who chose one menu option of a line, and when (a sorted set: CallSid -> time), kept a week."""
    return f"{PREFIX}choices:{line}:{option}"


def choice_keys() -> str:
    """The (line, option) pairs chosen in the last week (a sorted set: "line|node:key" -> last chosen)."""
    return f"{PREFIX}choice-keys"


def incident(incident_id: str) -> str:
    """One incident: where callers report it, how many, its times and status, its message (a hash)."""
    return f"{PREFIX}incident:{incident_id}"


def incidents() -> str:
    """Every incident by when it was detected (a sorted set: id -> time)."""
    return f"{PREFIX}incidents"


def incident_open(line: str, option: str) -> str:
    """The open incident of a line's option, if any (a string: its id)."""
    return f"{PREFIX}incident-open:{line}:{option}"


def announcements() -> str:
    """Confirmed incidents' messages, by where callers hear them (a hash: "line|node:key" -> JSON)."""
    return f"{PREFIX}announcements"


def incident_texts(incident_id: str) -> str:
    """Callers who asked for a text when an incident is fixed (a hash: CallSid -> sealed number)."""
    return f"{PREFIX}incident-texts:{incident_id}"


def incidents_texting() -> str:
    """Closed incidents whose promised texts are not all sent yet (a set of ids)."""
    return f"{PREFIX}incidents-texting"
