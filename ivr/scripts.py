"""Lua scripts: the few updates that must read and write presence atomically across workers.

They are loaded once (register) and run by SHA inside the save pipeline, so a webhook still makes at
most two round trips. After a Redis restart forgets them, ivr.memory loads them again and retries.
"""

from __future__ import annotations

# CLAIM: reserve the first of the candidates who is free right now, for one call.
# KEYS[1] presence hash, KEYS[2] the call's hash
# ARGV[1] now, ARGV[2] reserved-until, ARGV[3] CallSid, ARGV[4..] candidate agent ids in order
# Returns the claimed agent id, or false. Mirrors ivr.presence.effective().
CLAIM = """
local now = tonumber(ARGV[1])
for i = 4, #ARGV do
  local raw = redis.call('HGET', KEYS[1], ARGV[i])
  local rec = {s = 'available', idle = 0}
  if raw then
    local ok, decoded = pcall(cjson.decode, raw)
    if ok and type(decoded) == 'table' then rec = decoded end
  end
  local s = rec.s or 'available'
  if (s == 'ringing' or s == 'busy') and tonumber(rec['until'] or 0) > 0 and tonumber(rec['until']) < now then
    s = 'available'
  end
  if s == 'available' then
    local claimed = {s = 'ringing', idle = tonumber(rec.idle or 0), ['until'] = tonumber(ARGV[2]), call = ARGV[3]}
    redis.call('HSET', KEYS[1], ARGV[i], cjson.encode(claimed))
    redis.call('HSET', KEYS[2], 'ringing', ARGV[i])
    return ARGV[i]
  end
end
return false
"""

# RELEASE: free agents held by one call, and only if that call still holds them.
# KEYS[1] presence hash, KEYS[2] the call's hash
# ARGV[1] now, ARGV[2] CallSid, ARGV[3..] agent ids
# An agent who talked to the caller becomes idle from now; one who only rang keeps their place.
RELEASE = """
local now = tonumber(ARGV[1])
local freed = 0
for i = 3, #ARGV do
  local raw = redis.call('HGET', KEYS[1], ARGV[i])
  if raw then
    local ok, rec = pcall(cjson.decode, raw)
    if ok and type(rec) == 'table' and rec.call == ARGV[2] and (rec.s == 'ringing' or rec.s == 'busy') then
      local idle = tonumber(rec.idle or 0)
      if rec.s == 'busy' then idle = now end
      redis.call('HSET', KEYS[1], ARGV[i], cjson.encode({s = 'available', idle = idle}))
      freed = freed + 1
    end
  end
end
redis.call('HDEL', KEYS[2], 'ringing')
return freed
"""

ALL = {"claim": CLAIM, "release": RELEASE}


def register(r) -> dict[str, str]:
    """Load every script into Redis; return name -> SHA."""
    return {name: r.script_load(body) for name, body in ALL.items()}
