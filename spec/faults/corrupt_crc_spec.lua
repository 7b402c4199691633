-- Fault: a frame with a wrong prelude CRC, or a wrong message CRC.
local F = require("spec.support.faults").with(_ENV)

describe("fault: corrupt CRC", function()
  F.each_mode(function(mode)
    local emu = F.emu()

    for _, case in ipairs{
      { "prelude", "corrupt_prelude_after_events", "EVS_PRELUDE_CRC", "Prelude checksum" },
      { "message", "corrupt_crc_after_events", "EVS_MESSAGE_CRC", "Message checksum" },
    } do
      local what, field, reason, text = case[1], case[2], case[3], case[4]

      it("a bad " .. what .. " CRC raises EventStreamError (" .. reason .. ") after the good events", function()
        local c = mode.client()
        mode.run(function()
          F.scenario(F.MODEL, { [field] = 2 })
          local events, err = F.stream(c)
          assert.are.equal(2, #events)
          assert.is_not_nil(err, "the stream ended quietly")
          assert.are.equal("EventStreamError", err.code)
          assert.are.equal(reason, err.reason)
          assert.matches(text, err.message)
          assert.is_false(err.retryable)
          assert.are.equal(1, err.attempts)
          assert.are.equal(1, #F.requests())
          F.assert_healthy(mode, c)
        end)
      end)

      it("a bad " .. what .. " CRC in the first frame: the same error, not retried", function()
        local c = mode.client()
        mode.run(function()
          F.scenario(F.MODEL, { [field] = 0 })
          local events, err = F.stream(c)
          assert.are.equal(0, #events)
          assert.are.equal("EventStreamError", err.code)
          assert.are.equal(reason, err.reason)
          assert.are.equal(1, err.attempts)
          F.assert_healthy(mode, c)
        end)
      end)
    end
  end)
end)
