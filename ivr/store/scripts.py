"""Lua scripts: the few updates that must read and write presence atomically across workers.

They are loaded once (register) and run by SHA inside the save pipeline, so a webhook still makes at
most two round trips. After a Redis restart forgets them, ivr.store.calls loads them again and retries.
"""

from __future__ import annotations

import hashlib

import redis

from ivr.store import index_scripts, lua

# CLAIM: reserve the first of the candidates who is free right now, for one call.
# KEYS[1] presence hash, KEYS[2] the call's hash
# ARGV[1] now, ARGV[2] reserved-until, ARGV[3] CallSid, ARGV[4] a candidate who may be claimed while wrapping
# up (a returning caller's own person; "" for none), ARGV[5..] candidate agent ids in order
# Returns the claimed agent id, or false. Sent again (a re-sent pipeline), it returns the person it claimed.
CLAIM = (
    lua.FREE_NOW
    + lua.RINGING_FOR
    + """
local now = tonumber(ARGV[1])
local already = redis.call('HGET', KEYS[2], 'ringing')
for i = 5, #ARGV do
  if already == ARGV[i] and ringing_for(KEYS[1], already, ARGV[3]) then return already end
end
local function claimable(agent)
  local rec = free_now(KEYS[1], agent, now)
  if rec or agent ~= ARGV[4] then return rec end
  rec = decode(redis.call('HGET', KEYS[1], agent))
  if rec and rec.s == 'wrap-up' then return rec end
  return nil
end
for i = 5, #ARGV do
  local rec = claimable(ARGV[i])
  if rec then
    local claimed = {s = 'ringing', idle = tonumber(rec.idle or 0), ['until'] = tonumber(ARGV[2]), call = ARGV[3],
      since = now}
    put_record(ARGV[i], claimed, now)
    redis.call('HSET', KEYS[2], 'ringing', ARGV[i])
    return ARGV[i]
  end
end
return false
"""
)

# RELEASE: free agents held by one call, and only if that call still holds them.
# KEYS[1] presence hash, KEYS[2] the call's hash
# ARGV[1] now, ARGV[2] CallSid, ARGV[3] "back" for agents who did not take the call (else "keep", or
# "keep:<seconds>" for those who talked and then wrap up that long), ARGV[4..] agent ids
RELEASE = (
    lua.LET_GO
    + """
local now = tonumber(ARGV[1])
local freed = 0
local ringing = redis.call('HGET', KEYS[2], 'ringing')
local wrap = tonumber(string.match(ARGV[3], '^keep:(%d+)$') or 0)
for i = 4, #ARGV do
  freed = freed + let_go(KEYS[1], ARGV[i], ARGV[2], now, ARGV[3] == 'back', wrap)
  -- only the released person's mark: a re-sent pipeline must not erase a claim made after this release
  if ringing == ARGV[i] then redis.call('HDEL', KEYS[2], 'ringing') end
end
return freed
"""
)

# RELEASE_ORPHAN: free a person held by a callback request that no attempt is placing any more, checked in
# the same step (a new attempt may have taken the same person for the same request meanwhile).
# KEYS[1] presence hash, KEYS[2] claimed callbacks zset; ARGV[1] now, ARGV[2] the callback's queue id,
# ARGV[3] agent id. Returns 1 when freed.
RELEASE_ORPHAN = (
    lua.LET_GO
    + """
if redis.call('ZSCORE', KEYS[2], ARGV[2]) then return 0 end
return let_go(KEYS[1], ARGV[3], ARGV[2], tonumber(ARGV[1]), false)
"""
)

# TAKE: give one waiting caller (or callback request) to one free person, or do nothing.
# KEYS[1] presence hash, KEYS[2] queue zset, KEYS[3] queue entries hash, KEYS[4] claimed callbacks zset,
# KEYS[5] the callback's hash (any key for a waiting call), KEYS[6] the waiting call's hash (any key for a
# callback): its `ringing` field names the person, as CLAIM does, so the call's end frees them
# ARGV[1] now, ARGV[2] agent reserved-until, ARGV[3] agent id, ARGV[4] queue id, ARGV[5] "1" for a callback,
# ARGV[6] callback claim expiry, ARGV[7] a token naming this hand-over (a callback's attempt token)
# Returns 1 when taken: the person is ringing for that id and the id has left the queue (a callback is
# moved to the claimed set, its entry kept in its hash so it can be put back in the same place). Sent again
# (a re-sent pipeline), it finds its own hand-over done (by its token: another worker's take of the same
# caller is not its own) and returns 1 without doing anything more.
TAKE = (
    lua.FREE_NOW
    + lua.RINGING_FOR
    + """
local now = tonumber(ARGV[1])
local mine = (ARGV[5] == '1' and redis.call('HGET', KEYS[5], 'attempt') == ARGV[7])
  or (ARGV[5] ~= '1' and redis.call('HGET', KEYS[6], 'taken') == ARGV[7])
if mine and ringing_for(KEYS[1], ARGV[3], ARGV[4]) and not redis.call('ZSCORE', KEYS[2], ARGV[4]) then
  return 1
end
local rec = free_now(KEYS[1], ARGV[3], now)
if not rec then return 0 end
local since = redis.call('ZSCORE', KEYS[2], ARGV[4])
if not since then return 0 end
if ARGV[5] == '1' and redis.call('HEXISTS', KEYS[5], 'request') == 0 then
  leave_line(ARGV[4])  -- its request expired: nothing left to place
  return 0
end
local entry = leave_line(ARGV[4])
put_record(ARGV[3], {s = 'ringing', idle = tonumber(rec.idle or 0), ['until'] = tonumber(ARGV[2]), call = ARGV[4],
  since = now}, now)
if ARGV[5] ~= '1' then redis.call('HSET', KEYS[6], 'ringing', ARGV[3], 'taken', ARGV[7]) end
if ARGV[5] == '1' then
  -- being placed: a caller who calls meanwhile is no longer told it waits in line (SETTLE puts it back)
  forget_pending(redis.call('HGET', KEYS[5], 'request'), ARGV[4])
  redis.call('ZADD', KEYS[4], tonumber(ARGV[6]), ARGV[4])
  redis.call('HSET', KEYS[5], 'status', 'claimed', 'attempt', ARGV[7], 'agent', ARGV[3], 'entry', entry or '')
end
return 1
"""
)

# ADVANCE: move a claimed callback on, only if it is still at the attempt the caller of this script saw.
# KEYS[1] the callback's hash, KEYS[2] claimed callbacks zset
# ARGV[1] attempt token, ARGV[2] new status, ARGV[3] new claim expiry, ARGV[4] queue id of the callback
# Returns 1 when moved; 0 when it was already settled (by another webhook or the reaper): a stale event.
# KEYS[3] presence hash; ARGV[5] agent id and ARGV[6] their new presence JSON (both "" to leave it)
# ARGV[7] the CallSid of the call to the agent ("" when not known yet), kept so its status can be checked;
# with ARGV[2] "" only that is written; ARGV[8] now
# Sending it twice changes nothing more than sending it once.
ADVANCE = (
    lua.FREE_NOW
    + lua.HELD_BY
    + """
if ARGV[1] == '' or redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[1] then return 0 end
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'leg', ARGV[7]) end
if ARGV[2] == '' then return 1 end  -- only the CallSid, learnt after a webhook may have moved it on
redis.call('HSET', KEYS[1], 'status', ARGV[2])
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]), ARGV[4])
if ARGV[5] ~= '' and (held_by(KEYS[3], ARGV[5], ARGV[4], 0) or free_now(KEYS[3], ARGV[5], tonumber(ARGV[8]))) then
  redis.call('HSET', KEYS[3], ARGV[5], ARGV[6])  -- not a person whose hold lapsed and who was given away
  index_person(ARGV[5], tonumber(ARGV[8]))
end
return 1
"""
)

# SETTLE: end one attempt at a callback: back in line at its old place, done, or to the supervisors.
# KEYS[1] callback hash, KEYS[2] claimed zset, KEYS[3] queue zset, KEYS[4] queue entries hash,
# KEYS[5] presence hash, KEYS[6] supervisors' callbacks zset
# ARGV[1] attempt token, ARGV[2] outcome: requeue | supervisors | any other final status,
# ARGV[3] queue id, ARGV[4] entry JSON (for requeue), ARGV[5] place (since), ARGV[6] "1" to count a failed
# try at the customer, ARGV[7] now, ARGV[8] how long a request lives (seconds), ARGV[9] seconds the person
# wraps up after talking with the customer (0 or absent: none)
# Frees the person the attempt held, if it still holds them. Returns 1, or 0 for a stale attempt.
SETTLE = (
    lua.LET_GO
    + """
if ARGV[1] == '' or redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[1] then return 0 end
local now = tonumber(ARGV[7])
redis.call('ZREM', KEYS[2], ARGV[3])
local agent = redis.call('HGET', KEYS[1], 'agent')
if agent and agent ~= '' then
  -- idle from now even if they only rang: a callback they did not take goes to someone else next
  let_go(KEYS[5], agent, ARGV[3], now, true, tonumber(ARGV[9] or 0))
end
if ARGV[6] == '1' then redis.call('HINCRBY', KEYS[1], 'attempts', 1) end
redis.call('HSET', KEYS[1], 'attempt', '', 'agent', '', 'leg', '')
if ARGV[2] ~= 'requeue' then forget_pending(redis.call('HGET', KEYS[1], 'request'), ARGV[3]) end
if ARGV[2] == 'requeue' then
  join_line(ARGV[3], tonumber(ARGV[5]), ARGV[4])
  redis.call('HSET', KEYS[1], 'status', 'waiting')
  remember_pending(redis.call('HGET', KEYS[1], 'request'), ARGV[4])
elseif ARGV[2] == 'supervisors' then
  redis.call('ZADD', KEYS[6], now, ARGV[3])
  -- bounded: a request older than its own lifetime (its hash has expired) leaves the list too
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now - tonumber(ARGV[8]))
  redis.call('HSET', KEYS[1], 'status', 'needs a supervisor')
else
  redis.call('HSET', KEYS[1], 'status', ARGV[2])
  redis.call('HDEL', KEYS[1], 'number')  -- settled: the number to call is no longer needed, so not kept
end
return 1
"""
)

# BUSY: an agent accepted a call: busy on it, unless another call holds them now (a late whisper reply).
# KEYS[1] presence hash; ARGV[1] now, ARGV[2] busy-until, ARGV[3] CallSid, ARGV[4] agent id. Returns 1 or 0.
BUSY = (
    lua.FREE_NOW
    + """
local now = tonumber(ARGV[1])
local raw = redis.call('HGET', KEYS[1], ARGV[4])
local rec = {idle = 0}
if raw then
  local ok, decoded = pcall(cjson.decode, raw)
  if ok and type(decoded) == 'table' then rec = decoded end
end
if rec.call ~= ARGV[3] and not free_now(KEYS[1], ARGV[4], now) then return 0 end
put_record(ARGV[4], {s = 'busy', idle = tonumber(rec.idle or 0), ['until'] = tonumber(ARGV[2]), call = ARGV[3],
  since = now, after = rec.after}, now)
return 1
"""
)

# ENQUEUE: put a caller (or a callback request) in line, unless their call has already ended. A webhook
# of the call that loaded its state before the hang-up was saved must not put a ghost back in line; nor
# may a re-sent pipeline put back a caller a worker has since handed to a person (held for this call), or
# a callback request a worker has since taken (no longer 'waiting').
# KEYS[1] queue zset, KEYS[2] queue entries hash, KEYS[3] the call's hash (a call) or the callback's hash,
# KEYS[4] presence hash
# ARGV[1] queue id, ARGV[2] place (since), ARGV[3] entry JSON, ARGV[4] "1" when the entry is the call itself,
# ARGV[5] now
ENQUEUE = (
    lua.HELD_BY
    + """
if ARGV[4] == '1' then
  if redis.call('HEXISTS', KEYS[3], 'ended') == 1 then return 0 end
  local agent = redis.call('HGET', KEYS[3], 'ringing')
  if agent and held_by(KEYS[4], agent, ARGV[1], tonumber(ARGV[5])) then return 0 end
else
  local status = redis.call('HGET', KEYS[3], 'status')
  if status and status ~= 'waiting' then return 0 end
end
join_line(ARGV[1], tonumber(ARGV[2]), ARGV[3])
return 1
"""
)

# STATUS: a person sets themselves (or a supervisor sets them) available or away. While a call holds them
# (ringing or talking), the call goes on and the choice applies when it ends: away is kept as `after`, and
# available clears a pending away; available is refused when there is nothing to clear, or they would be
# offered a second call while on the first.
# KEYS[1] presence hash; ARGV[1] agent id, ARGV[2] "available" or "away", ARGV[3] now
# Returns "" when set, "after:<status>" when it applies at the call's end, else the status that holds them.
STATUS = """
local now = tonumber(ARGV[3])
local rec = decode(redis.call('HGET', KEYS[1], ARGV[1])) or {}
local expiry = tonumber(rec['until'] or 0) or 0
local held = (rec.s == 'ringing' or rec.s == 'busy') and (expiry == 0 or expiry >= now)
if held then
  if ARGV[2] == 'available' and rec.after == nil then return rec.s end
  if ARGV[2] == 'away' then rec.after = 'away' else rec.after = nil end
  put_record(ARGV[1], rec, now)
  return 'after:' .. rec.s
end
local idle = now
if rec.s == 'wrap-up' then idle = tonumber(rec.idle or now) end  -- their wait for a call began when it ended
if ARGV[2] == 'away' then idle = tonumber(rec.idle or 0) end
put_record(ARGV[1], {s = ARGV[2], idle = idle}, now)
return ''
"""

# WRAPPED: a person finished the wrap-up of a call: available again at once, if still wrapping up that call.
# KEYS[1] presence hash; ARGV[1] agent id, ARGV[2] the call's id, ARGV[3] now. Returns 1 when freed.
WRAPPED = """
local rec = decode(redis.call('HGET', KEYS[1], ARGV[1]))
-- a callback's person wraps up its queue id (cb:<id>), the contact the request's own call id
if not (rec and rec.s == 'wrap-up' and (rec.call == ARGV[2] or rec.call == 'cb:' .. ARGV[2])) then return 0 end
put_record(ARGV[1], {s = 'available', idle = tonumber(rec.idle or ARGV[3])}, tonumber(ARGV[3]))
return 1
"""

# MANAGE: a person cancels a callback request, marks it done, or gives it to someone (back in line at its
# place, that person first); or a caller who called again while it waited takes its place: `merged` parks it
# (out of line, linked to their call), `answered` settles it once a person took the call, `restore` puts it
# back at its place if the call ended first. Never while an attempt is in flight: its call settles it.
# KEYS[1] the callback's hash; ARGV[1] cancel | done | assign | merged | answered | restore, ARGV[2] its queue
# id, ARGV[3] the new entry JSON (assign), ARGV[4] now, ARGV[5] who. Returns ok, gone (no such request), busy
# (being placed now) or settled (not in a state this action applies to).
MANAGE = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'gone' end
local attempt = redis.call('HGET', KEYS[1], 'attempt')
if attempt and attempt ~= '' then return 'busy' end
local request = redis.call('HGET', KEYS[1], 'request')
if ARGV[1] == 'answered' or ARGV[1] == 'restore' then
  if status ~= 'merged' then return 'settled' end
  if ARGV[1] == 'answered' then
    redis.call('HSET', KEYS[1], 'status', 'merged into a call', 'settled_at', ARGV[4])
    redis.call('HDEL', KEYS[1], 'number')  -- settled: the number to call is no longer needed, so not kept
  else
    local raw = redis.call('HGET', KEYS[1], 'entry')
    local entry = decode(raw)
    if not entry then return 'gone' end
    join_line(ARGV[2], tonumber(entry.since), raw)
    redis.call('HSET', KEYS[1], 'status', 'waiting')
    remember_pending(request, raw)
  end
  return 'ok'
end
if status ~= 'waiting' and status ~= 'needs a supervisor' then return 'settled' end
if ARGV[1] == 'merged' and status ~= 'waiting' then return 'settled' end
local raw = leave_line(ARGV[2])
redis.call('ZREM', CALLBACKS_STUCK, ARGV[2])
if ARGV[1] == 'assign' then
  local entry = decode(ARGV[3])
  join_line(ARGV[2], tonumber(entry.since), ARGV[3])
  redis.call('HSET', KEYS[1], 'status', 'waiting', 'attempts', 0, 'entry', ARGV[3], 'by', ARGV[5])
  remember_pending(request, ARGV[3])
  return 'ok'
end
forget_pending(request, ARGV[2])
if ARGV[1] == 'merged' then  -- parked, number kept, until the call is answered or ends
  redis.call('HSET', KEYS[1], 'status', 'merged', 'entry', raw or '', 'by', ARGV[5])
  return 'ok'
end
local final = {cancel = 'cancelled', done = 'done'}
redis.call('HSET', KEYS[1], 'status', final[ARGV[1]] or 'cancelled', 'by', ARGV[5], 'settled_at', ARGV[4])
redis.call('HDEL', KEYS[1], 'number')  -- settled: the number to call is no longer needed, so not kept
return 'ok'
"""

ALL = {
    "dequeue": index_scripts.DEQUEUE,
    "put": index_scripts.PUT,
    "sweep": index_scripts.SWEEP,
    "sync": index_scripts.SYNC,
    "load": index_scripts.LOAD,
    "claim": CLAIM,
    "release": RELEASE,
    "release_orphan": RELEASE_ORPHAN,
    "take": TAKE,
    "advance": ADVANCE,
    "settle": SETTLE,
    "busy": BUSY,
    "enqueue": ENQUEUE,
    "status": STATUS,
    "wrapped": WRAPPED,
    "manage": MANAGE,
}


def register(r) -> dict[str, str]:
    """Load every script into Redis; return name -> SHA."""
    return {name: r.script_load(lua.COMMON + body) for name, body in ALL.items()}


# A script's SHA is the SHA-1 of its text, so it is known without asking Redis: a client runs scripts by SHA
# from its first request, and loads them only when Redis says it does not have them (a restart, a failover).
SHAS = {name: hashlib.sha1((lua.COMMON + body).encode()).hexdigest() for name, body in ALL.items()}


class Registered:
    """Runs the scripts by SHA for one client, and loads them again whenever Redis has forgotten them."""

    def __init__(self, r):
        self.r = r
        self._shas: dict[str, str] | None = SHAS

    def shas(self) -> dict[str, str]:
        if self._shas is None:
            self._shas = register(self.r)
        return self._shas

    def forget(self) -> None:
        self._shas = None

    def run(self, build) -> list:
        """Execute the pipeline `build(pipe, shas)` fills, in one round trip; return its replies.

        If Redis restarted and forgot the scripts, they are loaded again and the pipeline is sent once more.
        """
        for attempt in (1, 2):
            pipe = self.r.pipeline(transaction=False)
            build(pipe, self.shas())
            try:
                return pipe.execute()
            except redis.exceptions.NoScriptError:
                if attempt == 2:
                    raise
                self.forget()
        return []

    def call(self, name: str, keys: list[str], args: list, also=None) -> object:
        """Run one script by SHA, with any other commands `also(pipe)` adds, in one round trip; its reply."""

        def build(pipe, shas) -> None:
            pipe.evalsha(shas[name], len(keys), *keys, *args)
            if also is not None:
                also(pipe)

        return self.run(build)[0]
