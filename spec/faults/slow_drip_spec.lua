-- Fault: a reply dripped a byte at a time. read_timeout is a silence limit,
-- so a drip faster than it never trips it, however long the whole reply
-- takes; total_timeout is what bounds a call's duration. Served by
-- spec/support/hostile.py (drip-N: one byte every N ms of a 22-byte JSON body).
local core = require "bedrock.core"
local F = require("spec.support.faults").with(_ENV)
local helpers = require "spec.support.proxy"

describe("fault: slow drip", function()
  local hostile
  setup(function() hostile = helpers.hostile() end)
  teardown(function() if hostile then hostile.stop() end end)

  F.each_mode(function(mode)
    it("a reply dripped for 5x read_timeout never trips read_timeout", function()
      local c = mode.client{ endpoint_url = hostile.url, read_timeout = 0.4 }
      mode.run(function()
        local t = core.now()
        local body, meta = c:invoke_model{ model_id = "drip-100", body = "{}" }
        local took = core.now() - t
        assert.is_table(body, tostring(meta))
        assert.are.equal("drip drip", body.text)
        assert.are.equal(1, meta.attempts)
        assert.is_true(took > 4 * 0.4, "took " .. took)
      end)
    end)

    it("total_timeout bounds it: TimeoutError (phase total), not retried", function()
      local c = mode.client{ endpoint_url = hostile.url, read_timeout = 0.4, total_timeout = 1, max_retries = 3 }
      mode.run(function()
        local t = core.now()
        local body, err = c:invoke_model{ model_id = "drip-100", body = "{}" }
        local took = core.now() - t
        assert.is_nil(body)
        assert.are.equal("TimeoutError", err.code)
        assert.are.equal("total", err.phase)
        assert.is_false(err.retryable)
        assert.are.equal(1, err.attempts)
        assert.is_true(took >= 0.9, "took " .. took)
      end)
    end)
  end)
end)
