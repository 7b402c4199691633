-- Fault: a throttling storm. Retries with AWS's backoff (the waits checked
-- from the emulator's request log), then the client-wide retry quota: once
-- its 500 tokens are spent (5 per throttling retry) the client stops
-- retrying, until successes refill it.
local bedrock = require "bedrock"
local F = require("spec.support.faults").with(_ENV)

describe("fault: throttling storm", function()
  F.each_mode(function(mode)
    local emu = F.emu()

    it("retries ThrottlingException with exponential backoff, the waits within AWS's bounds", function()
      local c = mode.client()
      c.retry.random = function() return 0.2 end   -- waits 0.2 * 2^(i-1): 0.2 s, 0.4 s, 0.8 s
      mode.run(function()
        F.scenario(F.MODEL, { fail_first = 3 })
        local body, meta = F.invoke(c)
        assert.is_table(body, tostring(meta))
        assert.are.equal(4, meta.attempts)
        local log = F.requests()
        assert.are.same({ 429, 429, 429, 200 }, { log[1].status, log[2].status, log[3].status, log[4].status })
        for i, g in ipairs(F.gaps(log)) do
          local d = 0.2 * 2 ^ (i - 1)
          assert.is_true(g >= d - 0.01 and g <= d + 0.5, ("wait %d: %.3f s, expected %.1f s"):format(i, g, d))
        end
        F.assert_healthy(mode, c)
      end)
    end)

    it("a storm that does not end: ThrottlingException after max_retries + 1 attempts, call and stream", function()
      local c = mode.client()
      mode.run(function()
        F.scenario(F.MODEL, { fail_first = 1000, fail_code = "TooManyRequestsException", fail_status = 429 })
        local body, err = F.invoke(c)
        assert.is_nil(body)
        assert.are.equal("TooManyRequestsException", err.code)
        assert.are.equal(429, err.status)
        assert.is_true(err.retryable)
        assert.are.equal(4, err.attempts)
        local events, serr = F.stream(c)
        assert.are.equal(0, #events)
        assert.are.equal("TooManyRequestsException", serr.code)
        assert.are.equal(4, serr.attempts)
        assert.are.equal(8, #F.requests())
        assert.are.equal(500 - 6 * 5, c.retry.quota.available)
        F.assert_healthy(mode, c)
      end)
    end)

    it("stops retrying when the client's retry quota is spent, and refills it from successes", function()
      local c = mode.client()
      c.retry.random = function() return 0 end
      mode.run(function()
        F.scenario(F.MODEL, { fail_first = 100000 })
        -- 500 tokens at 5 per retry: 100 retries in all, whoever makes them
        local errs = {}
        if mode.async then
          local tasks = {}
          for i = 1, 35 do tasks[i] = bedrock.spawn(function() return F.invoke(c) end) end
          for i = 1, 35 do errs[i] = select(2, tasks[i]:wait()) end
        else
          for i = 1, 35 do errs[i] = select(2, F.invoke(c)) end
        end
        local attempts, exceeded = 0, 0
        for _, e in ipairs(errs) do
          assert.are.equal("ThrottlingException", e.code)
          attempts = attempts + e.attempts
          if e.retry_quota_exceeded then exceeded = exceeded + 1 end
        end
        assert.are.equal(35 + 100, attempts)
        assert.are.equal(35 + 100, #F.requests())
        assert.is_true(exceeded >= 2)
        assert.are.equal(0, c.retry.quota.available)
        if not mode.async then
          assert.are.same({ 4, 2, 1 }, { errs[33].attempts, errs[34].attempts, errs[35].attempts })
          assert.is_nil(errs[33].retry_quota_exceeded)
          assert.is_true(errs[35].retry_quota_exceeded)
        end
        -- a dead endpoint is no longer hammered: one attempt per call
        local _, e = F.invoke(c)
        assert.are.equal(1, e.attempts)
        assert.is_true(e.retry_quota_exceeded)
        -- the storm ends: a success without retry gives back 1 token ...
        F.reset()
        assert.is_table((F.invoke(c)))
        assert.are.equal(1, c.retry.quota.available)
        F.scenario(F.MODEL, { fail_first = 1 })
        _, e = F.invoke(c)
        assert.are.equal(1, e.attempts)                 -- 1 token < 5
        for _ = 1, 4 do assert.is_table((F.invoke(c))) end
        assert.are.equal(5, c.retry.quota.available)
        F.scenario(F.MODEL, { fail_first = 1 })
        local body, meta = F.invoke(c)                  -- ... and a success after a retry what it took
        assert.is_table(body)
        assert.are.equal(2, meta.attempts)
        assert.are.equal(5, c.retry.quota.available)
      end)
    end)
  end)
end)
