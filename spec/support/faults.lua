-- Shared pieces of the fault suite (spec/faults/*_spec.lua): every fault is
-- run with the sync and the async client against the emulator, and each spec
-- checks the error code the user sees, the attempts made, and that the
-- client's connection pool still serves the next call.
--
--   local F = require("spec.support.faults").with(_ENV)
--   F.each_mode(function(mode)          -- a describe("sync") and a describe("async")
--     it("...", function()
--       local c = mode.client{ max_retries = 1 }
--       mode.run(function()
--         local events, err, s = F.stream(c)
--         ...
--         F.assert_healthy(mode, c)
--       end)
--     end)
--   end)
--
-- Backoff: the retry figures are AWS's (a first retry waits up to 1 s). The
-- fault specs are about outcomes, not waits, so mode.client pins the jitter
-- (client.retry.random) to JITTER: waits of 0.01 s, 0.02 s, 0.04 s. The specs
-- that check the waits (spec/retry_spec.lua, the throttling storm) use the
-- real figures.
local bedrock = require "bedrock"
local cjson = require "cjson"
local core = require "bedrock.core"
local scheduler = require "bedrock.transport.scheduler"
local emulator = require "spec.support.emulator"

local F = {}

F.MODEL = "anthropic.claude-3-sonnet-20240229-v1:0"
F.HEALTHY = "anthropic.claude-3-haiku-20240307-v1:0"   -- never given a scenario
F.BODY = { anthropic_version = "bedrock-2023-05-31", max_tokens = 100,
  messages = { { role = "user", content = "Hello faults" } } }
F.JITTER = 0.01

function F.emu()
  return emulator.shared()
end

-- Control calls (scenarios, reset, the request log) go over an engine of
-- their own rather than through the curl tool (emu:scenario and friends):
-- a process per call cost 0.1-0.2 s on a busy machine, and the suite makes
-- hundreds. It is a separate libcurl multi handle, so the pool under test is
-- never touched.
local ctl_engine
local function control(method, path, body)
  ctl_engine = ctl_engine or core.engine()
  local x = assert(ctl_engine:request{ method = method, url = F.emu().url .. path,
    headers = { "Content-Type: application/json" }, body = body,
    connect_timeout_ms = 5000, idle_timeout_ms = 30000 })
  while x:state() == "running" do ctl_engine:pump(1000) end
  local state, status, reply = x:state(), x:status(), x:body()
  local detail = state == "failed" and select(2, x:error()) or nil
  x:close()
  if state ~= "done" or status ~= 200 then
    error(("emulator control %s %s: %s"):format(method, path, detail or ("HTTP " .. status .. " " .. reply)), 2)
  end
  return reply
end

--- Set (replace) the scenario of model.
function F.scenario(model, tbl)
  local doc = { model_id = model }
  for k, v in pairs(tbl or {}) do doc[k] = v end
  control("POST", "/__emulator/scenarios", cjson.encode(doc))
end

--- Clear scenarios, counters and the request log.
function F.reset()
  control("DELETE", "/__emulator/scenarios")
end

--- Config for a client of the shared emulator, plus extra.
function F.config(extra)
  local cfg = { endpoint_url = F.emu().url, region_name = "us-east-1",
    access_key_id = emulator.credentials.access_key_id,
    secret_access_key = emulator.credentials.secret_access_key, timeout = 5 }
  for k, v in pairs(extra or {}) do cfg[k] = v end
  return cfg
end

local function make_mode(name)
  local mode = { name = name, async = name == "async" }
  --- A client; opts.real_jitter keeps AWS's random jitter.
  mode.clients = {}
  function mode.client(extra, opts)
    local c = mode.async and bedrock.async_client(F.config(extra)) or bedrock.client(F.config(extra))
    mode.clients[#mode.clients + 1] = c
    if not (opts and opts.real_jitter) then
      c.retry.random = function() return F.JITTER end
    end
    return c
  end
  --- Run fn as the sync client would (directly) or inside bedrock.run.
  function mode.run(fn)
    if mode.async then return bedrock.run(fn) end
    return fn()
  end
  --- Transfers still running on the client's engine.
  function mode.running(c)
    local engine = mode.async and scheduler.engine() or c.driver.engine()
    return engine:running()
  end
  return mode
end

F.modes = { make_mode("sync"), make_mode("async") }

--- describe(mode.name, fn(mode)) for the sync and the async client; the
-- emulator is reset before each test and the clients closed after it.
-- The busted functions live in the spec file's environment: F.with(_ENV)
-- hands it over (on 5.1 and LuaJIT, _ENV is nil: the caller's getfenv).
function F.with(env)
  F.env = env or (getfenv and getfenv(2))
  return F
end

function F.each_mode(fn)
  local env = assert(F.env, "use require('spec.support.faults').with(_ENV)")
  for _, mode in ipairs(F.modes) do
    env.describe(mode.name, function()
      env.before_each(function() F.reset() end)
      env.after_each(function()
        for _, c in ipairs(mode.clients) do c:close() end
        mode.clients = {}
      end)
      fn(mode)
    end)
  end
end

--- invoke_model on F.MODEL (or model): body, meta | nil, err.
function F.invoke(c, model)
  return c:invoke_model{ model_id = model or F.MODEL, body = F.BODY }
end

--- Consume a stream in a for loop: events, err (the raised error or nil), stream.
function F.stream(c, model)
  local s = c:invoke_model_with_response_stream{ model_id = model or F.MODEL, body = F.BODY }
  local events = {}
  local ok, err = pcall(function()
    for ev in s do events[#events + 1] = ev end
  end)
  return events, (not ok) and err or nil, s
end

--- The client's pool serves the next call and stream: nothing is left
-- running, an invoke works, and a whole stream arrives. Call it inside
-- mode.run.
function F.assert_healthy(mode, c)
  local assert = F.env.assert
  assert.are.equal(0, mode.running(c), "a transfer was left running")
  local body, meta = F.invoke(c, F.HEALTHY)
  assert.is_table(body, tostring(meta))
  assert.are.equal(200, meta.status)
  assert.are.equal(1, meta.attempts)
  local events, err = F.stream(c, F.HEALTHY)
  assert.is_nil(err)
  assert.are.equal("message_stop", events[#events].type)
  assert.are.equal(0, mode.running(c))
end

--- The requests the emulator received for model (default F.MODEL).
function F.requests(model)
  local out = {}
  for _, e in ipairs(cjson.decode(control("GET", "/__emulator/requests"))) do
    if e.model_id == (model or F.MODEL) then out[#out + 1] = e end
  end
  return out
end

--- Seconds between the arrivals of consecutive requests in log.
function F.gaps(log)
  local g = {}
  for i = 2, #log do g[i - 1] = log[i].t - log[i - 1].t end
  return g
end

return F
