-- A slowloris drip that keeps under the read timeout must keep working: a
-- generation that streams steadily is never cut, however long it runs.
local core = require "bedrock.core"
local F = require("spec.support.faults").with(_ENV)

describe("fault: slowloris drip under the timeout", function()
  F.each_mode(function(mode)
    local emu = F.emu()

    it("a stream dripping events slower than nothing, for longer than read_timeout, completes", function()
      local c = mode.client{ read_timeout = 0.5 }
      mode.run(function()
        F.scenario(F.MODEL, { deltas = 8, drip_ms = 150 })   -- 13 events, about 1.8 s
        local t = core.now()
        local events, err, s = F.stream(c)
        local took = core.now() - t
        assert.is_nil(err)
        assert.are.equal(13, #events)
        assert.are.equal("message_stop", events[#events].type)
        assert.are.equal(1, s:get_meta().attempts)
        assert.is_true(took > 1.0, "took " .. took)     -- well past the read timeout
        F.assert_healthy(mode, c)
      end)
    end)

    it("frames split into 1-byte writes, dripped, still decode whole", function()
      local c = mode.client{ read_timeout = 0.5 }
      mode.run(function()
        F.scenario(F.MODEL, { deltas = 3, drip_ms = 100, split_writes = 1 })
        local events, err = F.stream(c)
        assert.is_nil(err)
        assert.are.equal("message_stop", events[#events].type)
        F.assert_healthy(mode, c)
      end)
    end)
  end)
end)
