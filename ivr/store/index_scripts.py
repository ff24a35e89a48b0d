"""Lua for what webhooks read and the indexes behind it: LOAD (a webhook's whole read, in one step), PUT (a
presence record and its indexes), SWEEP (holds that expired unheard), SYNC (the indexes for a directory) and
DEQUEUE (out of every line). Run by ivr.store.scripts, which prepends ivr.store.lua.COMMON to each.
"""

from __future__ import annotations

from ivr.store import keys

# DEQUEUE: take queue ids out of line (the queue, its entries and every line they wait in).
# ARGV ids. Sending it twice changes nothing more.
DEQUEUE = """
for i = 1, #ARGV do leave_line(ARGV[i]) end
return #ARGV
"""

# PUT: set one person's presence record (from the CLI, a tool or a test) and their indexes with it.
# KEYS[1] presence hash; ARGV[1] agent id, ARGV[2] record JSON, ARGV[3] now
PUT = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
index_person(ARGV[1], tonumber(ARGV[3]))
return 1
"""

# SWEEP: put people whose hold expired without its webhook back among the free (at most ARGV[2] of them).
# ARGV[1] now
SWEEP = """
sweep(tonumber(ARGV[1]), tonumber(ARGV[2]))
return 1
"""

# SYNC: rebuild every presence index for the directory, unless it was built for this one already. Records
# are never dropped: two processes briefly on different directories must not reset each other's people.
# KEYS[1] the directory's fingerprint key; ARGV[1] the fingerprint, ARGV[2] now, ARGV[3..] pairs of agent id
# and index groups (comma-separated). Returns 1 when it rebuilt, 0 when they were up to date. Runs in one
# atomic step, so a webhook never sees half an index.
SYNC = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return 0 end
local groups = {}
local old = redis.call('HGETALL', PEOPLE)
for i = 2, #old, 2 do
  for g in string.gmatch(old[i], '[^,]+') do groups[g] = true end
end
for i = 4, #ARGV, 2 do
  for g in string.gmatch(ARGV[i], '[^,]+') do groups[g] = true end
end
for g, _ in pairs(groups) do redis.call('DEL', FREE .. g, DUTY .. g, STAFF .. g) end
redis.call('DEL', PEOPLE, HELD)
local now = tonumber(ARGV[2])
for i = 3, #ARGV, 2 do redis.call('HSET', PEOPLE, ARGV[i], ARGV[i + 1]) end
for i = 3, #ARGV, 2 do index_person(ARGV[i], now) end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""

# LOAD: what one webhook reads, in one step: the call's state, the caller's contacts, the presence records
# of the people it may need by name (the ones in its URL and its flow's `agent:` targets, the person ringing
# for it, its target if a person, and those who took the caller's earlier calls), the first free people and
# the people on duty of each group, and, for a wait document, the caller's place. It first lets go of holds
# that expired unheard (a few).
# KEYS[1] call hash, KEYS[2] caller hash ("" for none)
# ARGV[1] now, ARGV[2] free people per group (0 for none), ARGV[3] the CallSid whose place to tell ("" for
# none), ARGV[4] the groups, comma-separated, ARGV[5] "known" to read the free people only for a call or a
# caller Redis knows (an arrival that goes to a menu routes nobody unless it is a returning caller's), then
# agent ids to read by name (the one in the URL, and the people the call's flow may route to by name).
# Returns {call hash, caller hash, {id, record, ...}, {free ids per group}, {on duty per group}, place}, where
# place is false or {entry JSON, ahead in line, people on duty, talk seconds (sum), talk samples}.
LOAD = (
    """
local now = tonumber(ARGV[1])
sweep(now, 5)
local call = redis.call('HGETALL', KEYS[1])
local caller = {}
if KEYS[2] ~= '' then caller = redis.call('HGETALL', KEYS[2]) end
local wanted, names = {}, {}
local function want(agent)
  if type(agent) == 'string' and agent ~= '' and not wanted[agent] then
    wanted[agent] = true
    table.insert(names, agent)
  end
end
local groups = {}
for g in string.gmatch(ARGV[4], '[^,]+') do table.insert(groups, g) end
for i = 6, #ARGV do want(ARGV[i]) end
for i = 1, #call, 2 do
  if call[i] == 'ringing' then want(call[i + 1]) end
  if call[i] == 'state' then
    local state = decode(call[i + 1])
    if state and type(state.target) == 'table' and state.target.kind == 'agent' then want(state.target.name) end
  end
end
for i = 1, #caller, 2 do
  if string.sub(caller[i], 1, 2) == 'c:' then
    local contact = decode(caller[i + 1])
    if contact then want(contact.agent) end
  end
end
local records = {}
for _, agent in ipairs(names) do
  table.insert(records, agent)
  table.insert(records, redis.call('HGET', PRESENCE, agent) or '')
end
local free, duty = {}, {}
local per_group = tonumber(ARGV[2])
if ARGV[5] == 'known' and #call == 0 and #caller == 0 then per_group = 0 end
for _, g in ipairs(groups) do
  if per_group > 0 then table.insert(free, redis.call('ZRANGE', FREE .. g, 0, per_group - 1)) end
  table.insert(duty, redis.call('SCARD', DUTY .. g))
end
local place = false
if ARGV[3] ~= '' then
  local raw = redis.call('HGET', ENTRIES, ARGV[3])
  local entry = decode(raw)
  if entry and type(entry.groups) == 'table' then
    local ahead, people, talk, samples = 0, 0, 0, 0
    for _, g in ipairs(entry.groups) do
      -- the most of any one line: a returning caller waits in several, and others in two of them count once
      ahead = math.max(ahead, redis.call('ZRANK', LINE .. g, ARGV[3]) or 0)
      -- the most of any one group, not the sum: a person in two groups is one person
      people = math.max(people, redis.call('SCARD', DUTY .. g))
      for _, sample in ipairs(redis.call('ZREVRANGE', '"""
    + keys.talk_times("")
    + """' .. g, 0, 49)) do
        local seconds = tonumber(string.match(sample, ':([^:]*)$'))
        if seconds then
          talk = talk + seconds
          samples = samples + 1
        end
      end
    end
    place = {raw, ahead, people, tostring(talk), samples}
  end
end
return {call, caller, records, free, duty, place}
"""
)
