-- The async client: coroutines on one thread over the shared engine.
local bedrock = require "bedrock"
local core = require "bedrock.core"
local emulator = require "spec.support.emulator"

local CLAUDE = "anthropic.claude-3-sonnet-20240229-v1:0"
local BODY = { anthropic_version = "bedrock-2023-05-31", max_tokens = 100,
  messages = { { role = "user", content = "Hello async" } } }

describe("async client", function()
  local emu, aclient

  setup(function() emu = emulator.shared() end)
  before_each(function()
    emu:reset()
    aclient = bedrock.async_client(emu:config())
  end)

  it("invokes and streams inside bedrock.run", function()
    local result = bedrock.run(function()
      local body, meta = aclient:invoke_model{ model_id = CLAUDE, body = BODY }
      local types = {}
      for ev in aclient:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY } do
        types[#types + 1] = ev.type
      end
      return { body = body, meta = meta, types = types }
    end)
    assert.are.equal("message", result.body.type)
    assert.are.equal(200, result.meta.status)
    assert.are.equal("message_start", result.types[1])
    assert.are.equal("message_stop", result.types[#result.types])
  end)

  it("returns nil, err from calls and raises from streams, as the sync client", function()
    emu:scenario(CLAUDE, { fail_first = 9, fail_status = 400, fail_code = "ValidationException" })
    local body, err, serr
    bedrock.run(function()
      body, err = aclient:invoke_model{ model_id = CLAUDE, body = BODY }
      local ok, e = pcall(function()
        for _ in aclient:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY } do end
      end)
      assert(not ok)
      serr = e
    end)
    assert.is_nil(body)
    assert.are.equal("ValidationException", err.code)
    assert.are.equal("ValidationException", serr.code)
  end)

  it("spawns tasks and waits for their results", function()
    local a, b = bedrock.run(function()
      local t1 = bedrock.spawn(function() return aclient:invoke_model{ model_id = CLAUDE, body = BODY } end)
      local t2 = bedrock.spawn(function(x) return x * 2 end, 21)
      local body, meta = t1:wait()
      assert(meta.status == 200)
      return body.type, t2:wait()
    end)
    assert.are.equal("message", a)
    assert.are.equal(42, b)
  end)

  it("raises a spawned task's error in task:wait, and an unwaited one from run", function()
    local ok, err = pcall(bedrock.run, function()
      local t = bedrock.spawn(function() error({ code = "Boom" }) end)
      local ok2, e = pcall(t.wait, t)
      assert(not ok2 and e.code == "Boom")
      bedrock.spawn(function() error("unwatched failure") end)
    end)
    assert.is_false(ok)
    assert.matches("unwatched failure", tostring(err))
  end)

  it("raises a clear error when called outside bedrock.run", function()
    local ok, err = pcall(aclient.invoke_model, aclient, { model_id = CLAUDE, body = BODY })
    assert.is_false(ok)
    assert.are.equal("InvalidParameter", err.code)
    assert.matches("bedrock.run", err.message)
    ok, err = pcall(aclient.invoke_model_with_response_stream, aclient, { model_id = CLAUDE, body = BODY })
    assert.is_false(ok)
    assert.matches("bedrock.run", err.message)
    ok, err = pcall(bedrock.spawn, function() end)
    assert.is_false(ok)
    assert.matches("bedrock.run", err.message)
  end)

  it("retries with backoff without blocking other tasks", function()
    emu:scenario(CLAUDE, { fail_first = 2, fail_status = 503, fail_code = "ServiceUnavailableException" })
    local attempts = bedrock.run(function()
      local _, meta = aclient:invoke_model{ model_id = CLAUDE, body = BODY }
      return meta.attempts
    end)
    assert.are.equal(3, attempts)
  end)

  it("keeps 100 streams progressing at once on one thread", function()
    -- each stream takes about 0.6 s (12 gaps of 50 ms): in sequence that is
    -- about 60 s; side by side it is close to the slowest one
    emu:scenario(CLAUDE, { deltas = 10, event_delay_ms = 50 })
    local started = core.now()
    local counts = bedrock.run(function()
      local tasks = {}
      for i = 1, 100 do
        tasks[i] = bedrock.spawn(function()
          local n = 0
          for _ in aclient:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY } do n = n + 1 end
          return n
        end)
      end
      local counts = {}
      for i = 1, 100 do counts[i] = tasks[i]:wait() end
      return counts
    end)
    local elapsed = core.now() - started
    for i = 1, 100 do assert.are.equal(15, counts[i]) end
    assert.is_true(elapsed < 6, "100 streams took " .. elapsed .. " s")
    assert.are.equal(100, #emu:requests())
  end)

  it("ends only the task whose stream times out", function()
    local slow = "emulator.slow-v1:0"
    emu:scenario(slow, { silence_after_events = 1, silence_ms = 2000 })
    local c = bedrock.async_client{ endpoint_url = emu.url, region_name = "us-east-1",
      access_key_id = emulator.credentials.access_key_id,
      secret_access_key = emulator.credentials.secret_access_key, timeout = 0.4 }
    local r = bedrock.run(function()
      local bad = bedrock.spawn(function()
        local ok, err = pcall(function() for _ in c:invoke_model_with_response_stream{ model_id = slow, body = BODY } do end end)
        return ok, err
      end)
      local good = bedrock.spawn(function() return c:invoke_model{ model_id = CLAUDE, body = BODY } end)
      local ok, err = bad:wait()
      local body = good:wait()
      return { ok = ok, code = err and err.code, body_type = body and body.type }
    end)
    assert.is_false(r.ok)
    assert.are.equal("TimeoutError", r.code)
    assert.are.equal("message", r.body_type)
  end)
end)
