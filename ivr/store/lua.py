"""The Lua every script shares: the key names of the indexes and the queue's lines (built in ivr.store.keys),
and the helpers that keep them in step with what a script writes. A presence record and its indexes, or a
queue entry and its lines, always change in the same atomic step (ivr.store.scripts runs the scripts).
"""

from __future__ import annotations

from ivr.store import keys

# Prepended to every script.
COMMON = f"""
local PRESENCE, PEOPLE, HELD = '{keys.presence()}', '{keys.people()}', '{keys.held()}'
local FREE, DUTY, STAFF = '{keys.free("")}', '{keys.on_duty("")}', '{keys.staffed("")}'
local QUEUE, ENTRIES = '{keys.queue()}', '{keys.queue_entries()}'
local LINE, OWN, LINES = '{keys.line("")}', '{keys.own_line("")}', '{keys.lines()}'
local CALLER, CALLBACKS_STUCK = '{keys.caller("")}', '{keys.callbacks_for_supervisors()}'
"""
COMMON += """
local function decode(raw)
  if not raw then return nil end
  local ok, value = pcall(cjson.decode, raw)
  if ok and type(value) == 'table' then return value end
  return nil
end

-- Put one person in the indexes their record says, as ivr.call.presence.effective() reads it: free (by idle
-- since), on duty (not away), held (ringing, busy or wrapping up, by expiry). People not in the directory are
-- in none.
local function index_person(agent, now)
  local groups = redis.call('HGET', PEOPLE, agent)
  if not groups then
    redis.call('ZREM', HELD, agent)
    return
  end
  local rec = decode(redis.call('HGET', PRESENCE, agent)) or {}
  local s = rec.s
  if s ~= 'away' and s ~= 'ringing' and s ~= 'busy' and s ~= 'wrap-up' then s = 'available' end
  local expiry = tonumber(rec['until'] or 0) or 0
  local held = (s == 'ringing' or s == 'busy' or s == 'wrap-up')
  if held and expiry > 0 and expiry < now then
    s = 'available'
    held = false
  end
  local supervisor = string.find(',' .. groups .. ',', ',supervisors,', 1, true) ~= nil
  for g in string.gmatch(groups, '[^,]+') do
    if s == 'available' then
      redis.call('ZADD', FREE .. g, tonumber(rec.idle or 0) or 0, agent)
    else
      redis.call('ZREM', FREE .. g, agent)
    end
    if s == 'away' then
      redis.call('SREM', DUTY .. g, agent)
      redis.call('SREM', STAFF .. g, agent)
    else
      redis.call('SADD', DUTY .. g, agent)
      if not supervisor then redis.call('SADD', STAFF .. g, agent) end
    end
  end
  if held and expiry > 0 then redis.call('ZADD', HELD, expiry, agent) else redis.call('ZREM', HELD, agent) end
end

-- A hold that expired without its webhook makes the person free again (their record already reads so).
local function sweep(now, limit)
  for _, agent in ipairs(redis.call('ZRANGEBYSCORE', HELD, '-inf', '(' .. now, 'LIMIT', 0, limit)) do
    index_person(agent, now)
  end
end

local function put_record(agent, rec, now)
  redis.call('HSET', PRESENCE, agent, cjson.encode(rec))
  index_person(agent, now)
end

-- The lines a queue entry waits in: one per group that may take it, and its own person's for a returning
-- caller (the entry JSON of ivr.call.queueing.QueueEntry).
local function lines_of(raw)
  local entry = decode(raw)
  local found = {}
  if not entry then return found end
  if type(entry.groups) == 'table' then
    for _, g in ipairs(entry.groups) do table.insert(found, LINE .. g) end
  end
  if type(entry.prefer) == 'string' and entry.prefer ~= '' then table.insert(found, OWN .. entry.prefer) end
  return found
end

local function leave_line(id)
  local raw = redis.call('HGET', ENTRIES, id)
  if raw then
    for _, line in ipairs(lines_of(raw)) do redis.call('ZREM', line, id) end
  end
  redis.call('ZREM', QUEUE, id)
  redis.call('HDEL', ENTRIES, id)
  return raw
end

-- A caller's pointer to their callback request waiting in line (ivr.store.callback_desk) goes when the
-- request no longer waits: their next call is no longer told "we have a callback for you in line".
local function forget_pending(raw_request, queue_id)
  local request = decode(raw_request)
  if not (request and type(request.caller) == 'string' and request.caller ~= '') then return end
  local pending = decode(redis.call('HGET', CALLER .. request.caller, 'cb'))
  if pending and pending.id == queue_id then redis.call('HDEL', CALLER .. request.caller, 'cb') end
end

-- ... and comes back when it waits in line again (only while the caller's history is kept: never a stray key).
local function remember_pending(raw_request, entry_raw)
  local request = decode(raw_request)
  if not (request and type(request.caller) == 'string' and request.caller ~= '') then return end
  if redis.call('EXISTS', CALLER .. request.caller) == 1 then
    redis.call('HSET', CALLER .. request.caller, 'cb', entry_raw)
  end
end

local function join_line(id, since, raw)
  leave_line(id)  -- a caller back in line with another target leaves their old lines
  redis.call('ZADD', QUEUE, since, id)
  redis.call('HSET', ENTRIES, id, raw)
  for _, line in ipairs(lines_of(raw)) do redis.call('ZADD', line, since, id) end
  local entry = decode(raw)
  if entry and type(entry.groups) == 'table' then
    for _, g in ipairs(entry.groups) do redis.call('SADD', LINES, g) end
  end
end
"""

# Shared by CLAIM and TAKE: the presence record of an agent if they are free right now, else nil.
# Mirrors ivr.call.presence.effective(): an expired ringing, busy or wrap-up record is free again.
FREE_NOW = """
local function free_now(presence_key, agent, now)
  local raw = redis.call('HGET', presence_key, agent)
  local rec = {s = 'available', idle = 0}
  if raw then
    local ok, decoded = pcall(cjson.decode, raw)
    if ok and type(decoded) == 'table' then rec = decoded end
  end
  local s = rec.s or 'available'
  local held = (s == 'ringing' or s == 'busy' or s == 'wrap-up')
  if held and tonumber(rec['until'] or 0) > 0 and tonumber(rec['until']) < now then
    s = 'available'
  end
  if s == 'available' then return rec end
  return nil
end
"""

# Shared by ENQUEUE and ADVANCE: whether an agent is ringing or busy for `holder`, and not past expiry.
HELD_BY = """
local function held_by(presence_key, agent, holder, now)
  local raw = redis.call('HGET', presence_key, agent)
  if not raw then return false end
  local ok, rec = pcall(cjson.decode, raw)
  if not (ok and type(rec) == 'table' and rec.call == holder and (rec.s == 'ringing' or rec.s == 'busy')) then
    return false
  end
  local expiry = tonumber(rec['until'] or 0)
  return expiry == 0 or expiry >= now
end
"""

# Shared by CLAIM and TAKE: whether an agent's record says they are ringing for `holder` now.
RINGING_FOR = """
local function ringing_for(presence_key, agent, holder)
  local raw = redis.call('HGET', presence_key, agent)
  if not raw then return false end
  local ok, rec = pcall(cjson.decode, raw)
  return ok and type(rec) == 'table' and rec.s == 'ringing' and rec.call == holder
end
"""

# Shared by RELEASE and SETTLE: free an agent only if `holder` still holds them. Someone who talked, or
# who rang and did not answer (to_back), is idle from now; someone freed by the caller hanging up while
# they rang keeps their place among the idle. Someone who talked wraps up first for `wrap` seconds (when
# more than 0): offered no call until they finish or the time is up. Returns 1 when let go.
LET_GO = """
local function let_go(presence_key, agent, holder, now, to_back, wrap)
  local raw = redis.call('HGET', presence_key, agent)
  if not raw then return 0 end
  local ok, rec = pcall(cjson.decode, raw)
  if not (ok and type(rec) == 'table' and rec.call == holder and (rec.s == 'ringing' or rec.s == 'busy')) then
    return 0
  end
  local idle = tonumber(rec.idle or 0)
  if rec.s == 'busy' or to_back then idle = now end
  if rec.after == 'away' then  -- they (or a supervisor) chose away during the call
    put_record(agent, {s = 'away', idle = idle}, now)
    return 1
  end
  if rec.s == 'busy' and (wrap or 0) > 0 then
    put_record(agent, {s = 'wrap-up', idle = idle, ['until'] = now + wrap, call = holder, since = now}, now)
    return 1
  end
  put_record(agent, {s = 'available', idle = idle}, now)
  return 1
end
"""
