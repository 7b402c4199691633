-- The usage ledger, budgets and the on_usage hook, over the wire.
local bedrock = require "bedrock"
local emulator = require "spec.support.emulator"

local CLAUDE = "anthropic.claude-3-sonnet-20240229-v1:0"
local HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
local BODY = { anthropic_version = "bedrock-2023-05-31", max_tokens = 100,
  messages = { { role = "user", content = "one two three" } } }       -- 3 input tokens
local MESSAGES = { { role = "user", content = { { text = "one two three" } } } }
-- replies: "You said: one two three" = 5 output tokens (words; stream: deltas)

describe("usage", function()
  local emu

  local function cfg(extra)
    local c = { endpoint_url = emu.url, region_name = "us-east-1", timeout = 5,
      access_key_id = emulator.credentials.access_key_id,
      secret_access_key = emulator.credentials.secret_access_key }
    for k, v in pairs(extra or {}) do c[k] = v end
    return c
  end

  setup(function() emu = emulator.shared() end)
  before_each(function() emu:reset() end)

  it("adds up every source per model id: headers, stream metrics, Converse usage and metadata", function()
    emu:scenario(CLAUDE, { cache_read_tokens = 7, cache_write_tokens = 2 })
    local c = bedrock.client(cfg())
    assert(c:invoke_model{ model_id = CLAUDE, body = BODY })
    for _ in c:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY } do end
    for _ in c:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY, raw = true } do end
    assert(c:converse{ model_id = HAIKU, messages = MESSAGES })
    for _ in c:converse_stream{ model_id = HAIKU, messages = MESSAGES } do end
    local u = c:usage()
    assert.are.same({ input_tokens = 9, output_tokens = 15, cache_read_input_tokens = 21,
      cache_write_input_tokens = 6, total_tokens = 51, requests = 3, cost = 0 }, u.models[CLAUDE])
    assert.are.same({ input_tokens = 6, output_tokens = 10, cache_read_input_tokens = 0,
      cache_write_input_tokens = 0, total_tokens = 16, requests = 2, cost = 0 }, u.models[HAIKU])
    assert.are.equal(5, u.total.requests)
    assert.are.equal(67, u.total.total_tokens)
    -- a snapshot is a copy
    u.total.requests = 99
    assert.are.equal(5, c:usage().total.requests)
    c:reset_usage()
    assert.are.same({}, c:usage().models)
    assert.are.equal(0, c:usage().total.total_tokens)
    -- failed calls add nothing
    emu:scenario(CLAUDE, { fail_first = 5, fail_code = "ValidationException" })
    assert.is_nil(c:invoke_model{ model_id = CLAUDE, body = BODY })
    assert.are.equal(0, c:usage().total.requests)
    c:close()
  end)

  it("keeps one ledger per client", function()
    local a, b = bedrock.client(cfg()), bedrock.client(cfg())
    assert(a:converse{ model_id = CLAUDE, messages = MESSAGES })
    assert.are.equal(1, a:usage().total.requests)
    assert.are.equal(0, b:usage().total.requests)
    a:close(); b:close()
  end)

  it("calls on_usage once per call with the call's numbers and cost", function()
    local seen = {}
    local c = bedrock.client(cfg{ on_usage = function(e) seen[#seen + 1] = e end,
      budget = { prices = { [CLAUDE] = { input = 3, output = 15, cache_read = 0.3 } } } })
    emu:scenario(CLAUDE, { cache_read_tokens = 10 })
    local _, meta = assert(c:converse{ model_id = CLAUDE, messages = MESSAGES })
    for _ in c:converse_stream{ model_id = HAIKU, messages = MESSAGES } do end
    assert.are.equal(2, #seen)
    local e = seen[1]
    assert.are.equal(CLAUDE, e.model_id)
    assert.are.equal("Converse", e.operation)
    assert.are.equal(meta.request_id, e.request_id)
    assert.are.equal(3, e.input_tokens)
    assert.are.equal(5, e.output_tokens)
    assert.are.equal(10, e.cache_read_input_tokens)
    assert.are.equal(18, e.total_tokens)
    assert.is_true(math.abs(e.cost - (3 * 3 + 5 * 15 + 10 * 0.3) / 1000) < 1e-12)
    assert.are.equal("ConverseStream", seen[2].operation)
    assert.is_nil(seen[2].cost)                       -- no price for that model
    assert.is_true(math.abs(c:usage().total.cost - e.cost) < 1e-12)
    c:close()
  end)

  it("lets an error of on_usage propagate, with the usage already recorded", function()
    local c = bedrock.client(cfg{ on_usage = function() error("metrics sink down") end })
    local ok, err = pcall(c.converse, c, { model_id = CLAUDE, messages = MESSAGES })
    assert.is_false(ok)
    assert.matches("metrics sink down", tostring(err))
    assert.are.equal(1, c:usage().total.requests)
    c:close()
  end)

  describe("budget", function()
    local function count(route)
      local n = 0
      for _, e in ipairs(emu:requests()) do if not route or e.route == route then n = n + 1 end end
      return n
    end

    it("fails a call before sending once a token limit is reached", function()
      for _, case in ipairs{ { max_input_tokens = 6 }, { max_output_tokens = 10 }, { max_total_tokens = 16 } } do
        emu:reset()
        local c = bedrock.client(cfg{ budget = case })
        assert(c:invoke_model{ model_id = CLAUDE, body = BODY })        -- 3 in, 5 out
        assert(c:converse{ model_id = HAIKU, messages = MESSAGES })      -- 3 in, 5 out: limit reached
        local body, err = c:invoke_model{ model_id = CLAUDE, body = BODY }
        assert.is_nil(body)
        assert.are.equal("BudgetExceeded", err.code)
        local limit = next(case)
        assert.are.equal(limit, err.limit)
        assert.matches(limit, tostring(err))
        local _, cerr = c:converse{ model_id = HAIKU, messages = MESSAGES }
        assert.are.equal("BudgetExceeded", cerr.code)
        local ok, serr = pcall(function() for _ in c:converse_stream{ model_id = HAIKU, messages = MESSAGES } do end end)
        assert.is_false(ok)
        assert.are.equal("BudgetExceeded", serr.code)
        ok, serr = pcall(function() for _ in c:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY } do end end)
        assert.are.equal("BudgetExceeded", serr.code)
        local _, aerr = c:start_async_invoke{ model_id = CLAUDE, model_input = {},
          output_data_config = { s3_output_data_config = { s3_uri = "s3://b/o" } } }
        assert.are.equal("BudgetExceeded", aerr.code)
        assert.are.equal(2, count())                                     -- nothing else was sent
        -- calls that spend no tokens still go
        assert(c:count_tokens{ model_id = CLAUDE, input = { converse = { messages = MESSAGES } } })
        -- reset_usage starts the budget again
        c:reset_usage()
        assert(c:converse{ model_id = HAIKU, messages = MESSAGES })
        c:close()
      end
    end)

    it("counts cost from the prices and refuses a priced budget for a model without a price", function()
      local c = bedrock.client(cfg{ budget = { max_cost = 0.01, prices = {
        [CLAUDE] = { input = 1, output = 1 } } } })                     -- 8 tokens = 0.008 per call
      assert(c:converse{ model_id = CLAUDE, messages = MESSAGES })
      assert(c:converse{ model_id = CLAUDE, messages = MESSAGES })      -- starts at 0.008 < 0.01
      local _, err = c:converse{ model_id = CLAUDE, messages = MESSAGES }
      assert.are.equal("BudgetExceeded", err.code)
      assert.are.equal("max_cost", err.limit)
      local _, perr = c:converse{ model_id = HAIKU, messages = MESSAGES }
      assert.are.equal("InvalidParameter", perr.code)
      assert.matches(HAIKU, perr.message, 1, true)
      assert.are.equal(2, count())
      c:close()
    end)

    it("lets a stream that crosses the budget finish, and fails the next call", function()
      emu:scenario(CLAUDE, { deltas = 50 })
      local c = bedrock.client(cfg{ budget = { max_output_tokens = 10 } })
      local n = 0
      for ev in c:converse_stream{ model_id = CLAUDE, messages = MESSAGES } do
        if ev.type == "contentBlockDelta" then n = n + 1 end
      end
      assert.are.equal(50, n)                                            -- all of it, past the limit
      assert.are.equal(50, c:usage().total.output_tokens)
      local _, err = c:converse{ model_id = CLAUDE, messages = MESSAGES }
      assert.are.equal("BudgetExceeded", err.code)
      -- the same for the invoke stream, whose usage arrives in the last chunk
      c:reset_usage()
      local k = 0
      for _ in c:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY } do k = k + 1 end
      assert.are.equal(55, k)                                            -- 50 deltas + 5 framing events
      local _, ierr = c:invoke_model{ model_id = CLAUDE, body = BODY }
      assert.are.equal("BudgetExceeded", ierr.code)
      assert.are.equal(2, count())
      c:close()
    end)

    it("is exact and safe under many concurrent async calls", function()
      local a = bedrock.async_client(cfg{ budget = { max_total_tokens = 8 * 20 } })
      emu:scenario(CLAUDE, { event_delay_ms = 5 })
      local results = bedrock.run(function()
        local tasks = {}
        for i = 1, 20 do
          tasks[i] = bedrock.spawn(function()
            if i % 2 == 0 then
              return a:converse{ model_id = CLAUDE, messages = MESSAGES }
            end
            local got = 0
            for ev in a:converse_stream{ model_id = CLAUDE, messages = MESSAGES } do
              if ev.type == "contentBlockDelta" then got = got + 1 end
            end
            return got
          end)
        end
        local out = {}
        for i = 1, 20 do out[i] = tasks[i]:wait() end
        return out
      end)
      for i = 1, 20 do assert.is_truthy(results[i]) end
      local u = a:usage()
      assert.are.equal(20, u.total.requests)
      assert.are.equal(60, u.total.input_tokens)
      assert.are.equal(100, u.total.output_tokens)
      assert.are.equal(160, u.total.total_tokens)
      -- spent: every one of many concurrent calls now fails, and none is sent
      local before = count()
      local codes = bedrock.run(function()
        local tasks = {}
        for i = 1, 10 do
          tasks[i] = bedrock.spawn(function()
            local ok, err = pcall(function()
              for _ in a:converse_stream{ model_id = CLAUDE, messages = MESSAGES } do end
            end)
            if ok then return "sent" end
            return err.code
          end)
        end
        local out = {}
        for i = 1, 10 do out[i] = tasks[i]:wait() end
        return out
      end)
      for i = 1, 10 do assert.are.equal("BudgetExceeded", codes[i]) end
      assert.are.equal(before, count())
    end)
  end)

  describe("config", function()
    it("validates budget and on_usage, naming the key", function()
      local cases = {
        { { budget = 5 }, "'budget'" },
        { { budget = { max_tokens = 1 } }, "'budget.max_tokens'" },
        { { budget = { max_input_tokens = -1 } }, "'budget.max_input_tokens'" },
        { { budget = { max_output_tokens = 1.5 } }, "'budget.max_output_tokens'" },
        { { budget = { max_cost = "1" } }, "'budget.max_cost'" },
        { { budget = { prices = { [CLAUDE] = { input = 1 } } } }, "budget.prices[" .. CLAUDE .. "]" },
        { { budget = { prices = { [CLAUDE] = { input = 1, output = 2, extra = 3 } } } }, "extra" },
        { { budget = { prices = { [CLAUDE] = { input = -1, output = 2 } } } }, "input" },
        { { on_usage = "print" }, "'on_usage'" },
      }
      for _, case in ipairs(cases) do
        local ok, err = pcall(bedrock.client, cfg(case[1]))
        assert.is_false(ok)
        assert.are.equal("InvalidParameter", err.code)
        assert.matches(case[2], err.message, 1, true)
      end
    end)
  end)
end)
