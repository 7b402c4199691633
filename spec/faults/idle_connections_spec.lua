-- Fault: connections that are never released. After 1,000 async streams,
-- 1,008 descriptors stayed open after client:close() and a full GC, and
-- under `ulimit -n 256` most streams failed with "Couldn't connect to
-- server". Now the pool is bounded (max_pool_connections: calls past it
-- queue), idle connections age out (idle_connection_timeout), closing the
-- last client releases the shared engine's connections, and running out of
-- descriptors says so. Each case runs in a child process (its own engine,
-- its own descriptor table and limit), with the sync and the async client.
local child = require "spec.support.child"
local emulator = require "spec.support.emulator"
local F = require("spec.support.faults").with(_ENV)

local PRELUDE = [[
local bedrock = require "bedrock"
-- this Lua process's own pid (not $PPID: under make test-asan commands run
-- through a wrapper shell, which holds none of the close-on-exec sockets)
local PID = io.open("/proc/self/stat"):read("*l"):match("^%d+")
local function fds()
  local p = io.popen("ls /proc/" .. PID .. "/fd")
  local n = 0
  for _ in p:lines() do n = n + 1 end
  p:close()
  return n
end
local MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
local BODY = { anthropic_version = "bedrock-2023-05-31", max_tokens = 10,
  messages = { { role = "user", content = "hi" } } }
local function stream(c)
  local n, ok, err = 0, pcall(function()
    for _ in c:invoke_model_with_response_stream{ model_id = MODEL, body = BODY } do end
  end)
  return ok, err
end
local function config(extra)
  local cfg = { endpoint_url = URL, region_name = "us-east-1", access_key_id = AKID,
    secret_access_key = SECRET, timeout = 20 }
  for k, v in pairs(extra or {}) do cfg[k] = v end
  return cfg
end
-- n streams at once: async, n tasks; sync, n streams opened, then read in turn
local function many(c, n)
  local failed, why = 0, {}
  local function note(ok, err)
    if not ok then failed = failed + 1; why[#why + 1] = tostring(err) end
  end
  if ASYNC then
    bedrock.run(function()
      local tasks = {}
      for i = 1, n do tasks[i] = bedrock.spawn(function() return stream(c) end) end
      for i = 1, n do note(tasks[i]:wait()) end
    end)
  else
    local streams = {}
    for i = 1, n do
      streams[i] = c:invoke_model_with_response_stream{ model_id = MODEL, body = BODY }
    end
    for i = 1, n do
      note(pcall(function() for _ in streams[i] do end end))
    end
  end
  return failed, why
end
local function new_client(extra)
  return ASYNC and bedrock.async_client(config(extra)) or bedrock.client(config(extra))
end
]]

local function run(mode, code, shell)
  local emu = F.emu()
  local head = ("local ASYNC, URL, AKID, SECRET = %s, %q, %q, %q\n"):format(tostring(mode.async), emu.url,
    emulator.credentials.access_key_id, emulator.credentials.secret_access_key)
  return child.run({ HOME = "/nonexistent", AWS_EC2_METADATA_DISABLED = "true" }, head .. PRELUDE .. code, shell)
end

describe("fault: idle connections", function()
  it("has botocore's key with a default of 64, and an idle timeout of 60 s", function()
    local bedrock = require "bedrock"
    local c = bedrock.client{ region_name = "us-east-1" }
    assert.are.equal(64, c.config.max_pool_connections)
    assert.are.equal(60, c.config.idle_connection_timeout)
    c:close()
    for _, bad in ipairs{ { max_pool_connections = 0 }, { max_pool_connections = 2.5 },
                          { idle_connection_timeout = 0 }, { idle_connection_timeout = "60" } } do
      local ok, err = pcall(bedrock.client, bad)
      assert.is_false(ok)
      assert.matches(next(bad), err.message, 1, true)
    end
  end)

  F.each_mode(function(mode)
    it("after 150 streams and close(), the open descriptors return to the baseline", function()
      local r = run(mode, [[
        local c = new_client()
        local base = fds()
        local failed = many(c, 150)
        local busy = fds()
        c:close()
        c = nil
        collectgarbage(); collectgarbage()
        print(cjson.encode{ base = base, busy = busy, after = fds(), failed = failed })
      ]])
      assert.are.equal(0, r.failed)
      assert.is_true(r.busy - r.base <= 64 + 2, ("%d descriptors over the baseline with a pool of 64"):format(r.busy - r.base))
      assert.is_true(r.after - r.base <= 2, ("%d descriptors left open (baseline %d)"):format(r.after - r.base, r.base))
    end)

    it("the last async client's close releases the shared pool; one of two closing does not", function()
      if not mode.async then return end
      local r = run(mode, [[
        local a, b = new_client(), new_client()
        local base = fds()
        many(a, 20)
        a:close()
        local one_open = fds()
        many(b, 20)
        b:close()
        print(cjson.encode{ base = base, one_open = one_open, after = fds() })
      ]])
      assert.is_true(r.one_open - r.base >= 1, "closing one of two clients emptied the shared pool")
      assert.is_true(r.after - r.base <= 2, ("%d descriptors left open"):format(r.after - r.base))
    end)

    it("under ulimit -n 48, 200 streams queue for the pool of 16 and all succeed", function()
      local r = run(mode, [[
        local c = new_client{ max_pool_connections = 16 }
        local failed, why = many(c, 200)
        print(cjson.encode{ failed = failed, why = why[1] })
      ]], "ulimit -n 48")
      assert.are.equal(0, r.failed, r.why)
    end)

    it("past the descriptor limit the error says too many open files", function()
      local r = run(mode, [[
        local c = new_client{ max_pool_connections = 200, max_retries = 0 }
        local failed, why = many(c, 120)
        local emfile = 0
        for _, w in ipairs(why) do if w:find("too many open files", 1, true) then emfile = emfile + 1 end end
        print(cjson.encode{ failed = failed, emfile = emfile, why = why[1] })
      ]], "ulimit -n 40")
      assert.is_true(r.failed > 0, "no stream failed under ulimit -n 40")
      assert.are.equal(r.failed, r.emfile, r.why)
      assert.matches("ConnectionError", r.why, 1, true)
    end)

    it("streams queued for a full pool wait past connect_timeout and read_timeout, and succeed", function()
      -- in a child: other async clients of this process would widen the shared pool
      F.scenario(F.MODEL, { deltas = 3, drip_ms = 150 })    -- about 1 s a stream
      local r = run(mode, ([[
        MODEL = %q
        local c = new_client{ max_pool_connections = 2, connect_timeout = 0.3, read_timeout = 0.8 }
        local failed, why = many(c, 6)
        print(cjson.encode{ failed = failed, why = why[1] })
      ]]):format(F.MODEL))
      assert.are.equal(0, r.failed, r.why)
      local conns, n = {}, 0
      for _, e in ipairs(F.requests()) do
        if not conns[e.connection] then conns[e.connection] = true; n = n + 1 end
      end
      assert.is_true(n <= 2, n .. " connections for a pool of 2")
    end)

    it("a connection idle past idle_connection_timeout is not reused", function()
      local emu = F.emu()
      local r = run(mode, [[
        local function call(c)
          local function go() return assert(c:invoke_model{ model_id = MODEL, body = BODY }) end
          if ASYNC then bedrock.run(go) else go() end
        end
        local c = new_client{ idle_connection_timeout = 1 }
        call(c); call(c)
        os.execute("sleep 2.5")
        call(c)
        print(cjson.encode{ ok = true })
      ]])
      assert.is_true(r.ok)
      local conns = {}
      for _, e in ipairs(emu:requests()) do
        if e.model_id == "anthropic.claude-3-haiku-20240307-v1:0" then conns[#conns + 1] = e.connection end
      end
      assert.are.equal(3, #conns)
      assert.are.equal(conns[1], conns[2])           -- reused while fresh
      assert.are_not.equal(conns[2], conns[3])       -- a new one after 2.5 s idle
    end)
  end)
end)
