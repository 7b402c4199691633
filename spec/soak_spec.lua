-- Soak: 10,000 invoke calls and 1,000 streams (100 of them closed midway)
-- on one client, interleaved, against the emulator. The process's resident
-- set after the first 1,000 calls and at the end must differ by less than
-- 5 %: a per-call leak of even a few dozen bytes in C or Lua would show.
-- Tagged "soak": `make soak` runs it alone; the sanitizer and valgrind runs
-- leave it out (ASan's quarantine grows RSS by design; valgrind is too slow).
local bedrock = require "bedrock"
local emulator = require "spec.support.emulator"

local CLAUDE = "anthropic.claude-3-sonnet-20240229-v1:0"

local function rss_kb()
  for line in io.lines("/proc/self/status") do
    local v = line:match("^VmRSS:%s+(%d+)%s+kB")
    if v then return tonumber(v) end
  end
  error("no VmRSS in /proc/self/status")
end

-- RSS once the Lua heap is collected (twice: finalizers free C memory on
-- the first pass, the userdata go on the second).
local function settled_rss()
  collectgarbage("collect")
  collectgarbage("collect")
  return rss_kb(), collectgarbage("count")
end

describe("soak #soak", function()
  it("10,000 invokes and 1,000 streams (100 closed midway) keep RSS flat", function()
    local emu = emulator.shared()
    emu:reset()
    emu:scenario(CLAUDE, { deltas = 12 })
    local client = bedrock.client{ endpoint_url = emu.url, region_name = "us-east-1",
      access_key_id = emulator.credentials.access_key_id,
      secret_access_key = emulator.credentials.secret_access_key, timeout = 10 }

    local invokes, streams, closed, events, calls = 0, 0, 0, 0, 0
    local base_rss, base_heap
    local body = { anthropic_version = "bedrock-2023-05-31", max_tokens = 50,
      messages = { { role = "user", content = "soak" } } }

    -- 1,000 rounds: 10 invokes and 1 stream; every 10th stream is left after 3 events
    for round = 1, 1000 do
      for _ = 1, 10 do
        local reply, meta = client:invoke_model{ model_id = CLAUDE, body = body }
        assert(type(reply) == "table" and reply.type == "message", tostring(meta))
        invokes = invokes + 1
      end
      local s = client:invoke_model_with_response_stream{ model_id = CLAUDE, body = body }
      local n, midway = 0, round % 10 == 0
      for ev in s, nil, nil, s do           -- the closing value, as the call returns it
        assert(type(ev) == "table" and ev.type, "an event without a type")
        n = n + 1
        if midway and n == 3 then break end
      end
      if midway and _VERSION ~= "Lua 5.4" then
        assert(not s.closed, "closed by a break before 5.4")
        s:close()                           -- no closing value before 5.4
      end
      assert(s.closed, "the stream was not closed")
      if midway then
        assert(n == 3)
        closed = closed + 1
      else
        assert(n >= 12 + 4, "a full stream ended after " .. n .. " events")
      end
      streams = streams + 1
      events = events + n
      calls = calls + 11
      if calls == 1001 then base_rss, base_heap = settled_rss() end
    end

    -- still healthy after all that
    local reply, meta = client:invoke_model{ model_id = CLAUDE, body = body }
    assert.is_table(reply, tostring(meta))
    client:close()
    local end_rss, end_heap = settled_rss()

    assert.are.equal(10000, invokes)
    assert.are.equal(1000, streams)
    assert.are.equal(100, closed)
    local growth = (end_rss - base_rss) / base_rss
    io.stderr:write(string.format("\nsoak: RSS %d kB after 1,001 calls, %d kB after %d (%+.2f %%);"
      .. " Lua heap %.0f kB -> %.0f kB; %d stream events\n",
      base_rss, end_rss, invokes + streams + 1, growth * 100, base_heap, end_heap, events))
    assert.is_true(math.abs(growth) < 0.05, string.format("RSS moved %.2f %% (%d -> %d kB)",
      growth * 100, base_rss, end_rss))
  end)
end)
