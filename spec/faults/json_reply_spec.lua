-- Fault: a reply that claims JSON and does not decode (cut short, or nested
-- deeper than lua-cjson's limit) came back as the raw string with no error,
-- and a stream chunk that did not decode was yielded as a string. Now each is
-- a ResponseParseError with the status and request id, not retried; raw = true
-- still returns the bytes. Served by spec/support/hostile.py.
local F = require("spec.support.faults").with(_ENV)
local helpers = require "spec.support.proxy"

describe("fault: JSON reply that does not decode", function()
  local hostile
  setup(function() hostile = helpers.hostile() end)
  teardown(function() if hostile then hostile.stop() end end)

  local function count(prefix)
    local n = 0
    for _, l in ipairs(hostile.lines()) do if l:find(prefix, 1, true) then n = n + 1 end end
    return n
  end

  F.each_mode(function(mode)
    local function client() return mode.client{ endpoint_url = hostile.url, max_retries = 3 } end

    for _, model in ipairs{ "json-truncated", "json-deep-100000" } do
      it("invoke_model: " .. model .. " is a ResponseParseError, once, with status and request id", function()
        local c = client()
        mode.run(function()
          local before = count("/model/" .. model .. "/")
          local body, err = c:invoke_model{ model_id = model, body = "{}" }
          assert.is_nil(body)
          assert.are.equal("ResponseParseError", err.code)
          assert.are.equal(200, err.status)
          assert.matches("^hostile%-", err.request_id)
          assert.is_false(err.retryable)
          assert.are.equal(1, err.attempts)
          assert.matches("claims to be JSON but does not decode", err.message, 1, true)
          assert.are.equal(before + 1, count("/model/" .. model .. "/"))
          -- raw = true: the bytes, as sent
          local raw, meta = c:invoke_model{ model_id = model, body = "{}", raw = true }
          assert.is_string(raw, tostring(meta))
          assert.are.equal(200, meta.status)
          -- and the client is still usable
          local ok = assert(c:invoke_model{ model_id = "json-ok", body = "{}" })
          assert.is_true(ok.ok)
        end)
      end)
    end

    it("a stream chunk that does not decode raises ResponseParseError after the good events", function()
      local c = client()
      mode.run(function()
        local s = c:invoke_model_with_response_stream{ model_id = "stream-bad-chunk", body = "{}" }
        local first = assert(s:next())
        assert.are.equal("fine", first.delta.text)
        local ev, err = s:next()
        assert.is_nil(ev)
        assert.are.equal("ResponseParseError", err.code)
        assert.are.equal(200, err.status)
        assert.matches("^hostile%-", err.request_id)
        assert.is_false(err.retryable)
        assert.matches("a chunk event", err.message, 1, true)
        -- a for loop raises it
        local got = {}
        local ok, raised = pcall(function()
          for e in c:invoke_model_with_response_stream{ model_id = "stream-bad-chunk", body = "{}" } do
            got[#got + 1] = e
          end
        end)
        assert.is_false(ok)
        assert.are.equal("ResponseParseError", raised.code)
        assert.are.equal(1, #got)
        -- raw = true yields every chunk's bytes, the bad one included
        local raw = {}
        for e in c:invoke_model_with_response_stream{ model_id = "stream-bad-chunk", body = "{}", raw = true } do
          raw[#raw + 1] = e
        end
        assert.are.equal(3, #raw)
        assert.are.equal('{"type": "content_block_delta", "delta": {"text": "cut', raw[2])
      end)
    end)
  end)
end)
