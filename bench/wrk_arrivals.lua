-- wrk script of bench/webhooks.py: POST /voice, every request a new call, from a pool of signed requests.
--   wrk -t T -c C -d 10s -s bench/wrk_arrivals.lua http://127.0.0.1:PORT -- POOL T EXPECT
-- POOL has one request a line, "X-Twilio-Signature<TAB>form body" (wrk cannot compute the HMAC). Thread i
-- of T sends lines i, i+T, i+2T, ... once each; a request sent past its share repeats a CallSid and is
-- counted in `reused`. An answer that is not a 200 containing EXPECT is counted in `bad`. done() prints
-- one line, "BENCH key=value ...", for the bench to read.

local threads, started = {}, 0

function setup(thread)
  thread:set("id", started)
  started = started + 1
  table.insert(threads, thread)
end

function init(args)
  local total = tonumber(args[2])
  expect = args[3]
  pool, sent, reused, bad = {}, 0, 0, 0
  local n = 0
  for line in io.lines(args[1]) do
    if n % total == id then
      local signature, body = line:match("^([^\t]*)\t(.*)$")
      local headers = {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["X-Twilio-Signature"] = signature,
      }
      pool[#pool + 1] = wrk.format("POST", "/voice", headers, body)
    end
    n = n + 1
  end
end

function request()
  sent = sent + 1
  if sent > #pool then
    reused = reused + 1
  end
  return pool[(sent - 1) % #pool + 1]
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, expect, 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local reused_all, bad_all = 0, 0
  for _, thread in ipairs(threads) do
    reused_all = reused_all + thread:get("reused")
    bad_all = bad_all + thread:get("bad")
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d bad=%d reused=%d connect=%d read=%d write=%d timeout=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, bad_all, reused_all, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50.0), latency:percentile(99.0)))
end
