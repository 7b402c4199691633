-- Fault: a slow server. A silent server is cut at read_timeout with
-- TimeoutError (phase "read") and not retried (the model may have run, and
-- billed, the whole generation); total_timeout bounds a whole call or stream.
local core = require "bedrock.core"
local bedrock = require "bedrock"
local F = require("spec.support.faults").with(_ENV)

describe("fault: slow server", function()
  F.each_mode(function(mode)
    local emu = F.emu()

    it("silent before the reply: TimeoutError (read) at read_timeout, one attempt", function()
      local c = mode.client{ read_timeout = 0.3 }
      mode.run(function()
        F.scenario(F.MODEL, { delay_ms = 1500 })
        local t = core.now()
        local body, err = F.invoke(c)
        local took = core.now() - t
        assert.is_nil(body)
        assert.are.equal("TimeoutError", err.code)
        assert.are.equal("read", err.phase)
        assert.is_false(err.retryable)
        assert.are.equal(1, err.attempts)
        assert.is_true(took >= 0.25 and took < 1.4, "took " .. took)
        local events, serr = F.stream(c)
        assert.are.equal(0, #events)
        assert.are.equal("TimeoutError", serr.code)
        assert.are.equal("read", serr.phase)
        assert.are.equal(1, serr.attempts)
        assert.are.equal(2, #F.requests())
        F.assert_healthy(mode, c)
      end)
    end)

    it("silent mid-stream: TimeoutError (read) after the events before it", function()
      local c = mode.client{ read_timeout = 0.3 }
      mode.run(function()
        F.scenario(F.MODEL, { silence_after_events = 3, silence_ms = 1500 })
        local events, err = F.stream(c)
        assert.are.equal(3, #events)
        assert.are.equal("TimeoutError", err.code)
        assert.are.equal("read", err.phase)
        assert.are.equal(1, err.attempts)
        F.assert_healthy(mode, c)
      end)
    end)

    it("timeout sets both limits; connect_timeout and read_timeout override it", function()
      local c = mode.client{ timeout = 0.3, read_timeout = 2 }
      mode.run(function()
        F.scenario(F.MODEL, { delay_ms = 800 })
        local body, meta = F.invoke(c)          -- 0.8 s of silence: under read_timeout
        assert.is_table(body, tostring(meta))
      end)
      local c2 = mode.client{ timeout = 0.3 }
      mode.run(function()
        local body, err = F.invoke(c2)
        assert.is_nil(body)
        assert.are.equal("read", err.phase)
      end)
    end)

    it("total_timeout cuts a stream that keeps sending: TimeoutError (total)", function()
      local c = mode.client{ read_timeout = 2, total_timeout = 0.6 }
      mode.run(function()
        F.scenario(F.MODEL, { deltas = 30, event_delay_ms = 100 })   -- about 3 s in all
        local t = core.now()
        local events, err = F.stream(c)
        local took = core.now() - t
        assert.is_true(#events >= 2 and #events < 30, #events .. " events")
        assert.are.equal("TimeoutError", err.code)
        assert.are.equal("total", err.phase)
        assert.is_false(err.retryable)
        assert.are.equal(1, err.attempts)
        assert.is_true(took < 1.5, "took " .. took)
        F.assert_healthy(mode, c)
      end)
    end)

    it("total_timeout bounds the retries too: no retry starts that cannot finish in time", function()
      local c = mode.client({ total_timeout = 0.8, max_retries = 10 })
      c.retry.random = function() return 0.5 end     -- waits of 0.5 s, 1 s, 2 s ...
      mode.run(function()
        F.scenario(F.MODEL, { fail_first = 100, fail_code = "ServiceUnavailableException" })
        local t = core.now()
        local body, err = F.invoke(c)
        local took = core.now() - t
        assert.is_nil(body)
        assert.are.equal("ServiceUnavailableException", err.code)
        assert.are.equal(2, err.attempts)             -- 0 s and 0.5 s; the next would start at 1.5 s
        assert.is_true(took < 0.8, "took " .. took)
        assert.are.equal(2, #F.requests())
        -- the retry that was not made gave its tokens back
        assert.are.equal(500 - 5, c.retry.quota.available)
      end)
    end)

    if mode.async then
      it("a timeout ends only its own task", function()
        local c = mode.client{ read_timeout = 0.3 }
        F.scenario(F.MODEL, { delay_ms = 1500 })
        local slow_err, fast_events
        bedrock.run(function()
          local slow = bedrock.spawn(function() return F.invoke(c) end)
          local fast = bedrock.spawn(function()
            local events, err = F.stream(c, F.HEALTHY)
            assert(err == nil, tostring(err))
            return events
          end)
          local _, e = slow:wait()
          slow_err = e
          fast_events = fast:wait()
        end)
        assert.are.equal("TimeoutError", slow_err.code)
        assert.are.equal("read", slow_err.phase)
        assert.are.equal("message_stop", fast_events[#fast_events].type)
      end)
    end
  end)
end)
