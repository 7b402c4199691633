-- Fault: a server that never accepts (a 127.0.0.1 listener whose accept
-- queue is full, so the kernel drops our SYNs): TimeoutError (phase
-- "connect") at connect_timeout, retried since nothing was sent.
local core = require "bedrock.core"
local bedrock = require "bedrock"
local F = require("spec.support.faults").with(_ENV)

describe("fault: a server that never accepts", function()
  F.each_mode(function(mode)
    local emu = F.emu()

    it("TimeoutError (connect) after max_retries + 1 attempts, each cut at connect_timeout", function()
      local port = emu:unaccepting()
      local c = mode.client{ endpoint_url = "http://127.0.0.1:" .. port, connect_timeout = 0.2,
        read_timeout = 5, max_retries = 1 }
      mode.run(function()
        local t = core.now()
        local body, err = F.invoke(c)
        local took = core.now() - t
        assert.is_nil(body)
        assert.are.equal("TimeoutError", err.code)
        assert.are.equal("connect", err.phase)
        assert.is_true(err.retryable)
        assert.are.equal(2, err.attempts)
        assert.is_true(took >= 0.35 and took < 2, "took " .. took)
        -- a timeout retry takes 10 tokens from the quota (5 for others)
        assert.are.equal(500 - 10, c.retry.quota.available)
        local events, serr = F.stream(c)
        assert.are.equal(0, #events)
        assert.are.equal("TimeoutError", serr.code)
        assert.are.equal("connect", serr.phase)
        assert.are.equal(2, serr.attempts)
        assert.are.equal(0, mode.running(c))
      end)
      -- the pool the client shares (async) or a new client's works at once
      local other = mode.client()
      mode.run(function() F.assert_healthy(mode, other) end)
      assert.are.equal(0, #F.requests())
    end)

    if mode.async then
      it("a connect timeout ends only its own task", function()
        local port = emu:unaccepting()
        local dead = mode.client{ endpoint_url = "http://127.0.0.1:" .. port, connect_timeout = 0.3,
          max_retries = 0 }
        local live = mode.client()
        local err, events
        bedrock.run(function()
          local a = bedrock.spawn(function() return F.invoke(dead) end)
          local b = bedrock.spawn(function() return (F.stream(live)) end)
          err = select(2, a:wait())
          events = b:wait()
        end)
        assert.are.equal("TimeoutError", err.code)
        assert.are.equal("connect", err.phase)
        assert.are.equal("message_stop", events[#events].type)
      end)
    end
  end)
end)
