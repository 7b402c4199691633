-- Fault: a reply far larger than any Bedrock reply. A 500 MB body used to be
-- read up to a fixed 256 MiB (RSS 267 MB) before failing. Now the cap is the
-- config key max_response_bytes (64 MiB by default): a Content-Length over it
-- fails before the body is read, and a body without one fails as soon as it
-- passes the cap; either way ResponseTooLarge, with the status and request
-- id, not retried, and the client serves the next call.
local bedrock = require "bedrock"
local F = require("spec.support.faults").with(_ENV)
local helpers = require "spec.support.proxy"

local MiB = 1024 * 1024

local function rss_kib()
  local f = assert(io.open("/proc/self/status"))
  local kib = tonumber(f:read("*a"):match("VmRSS:%s*(%d+)"))
  f:close()
  return kib
end

describe("fault: response too large", function()
  local hostile
  setup(function() hostile = helpers.hostile() end)
  teardown(function() if hostile then hostile.stop() end end)

  local function requests(model)
    local n, sent = 0, nil
    for _, l in ipairs(hostile.lines()) do
      if l:find("/model/" .. model .. "/", 1, true) then n = n + 1 end
      sent = tonumber(l:match("^sent (%d+)")) or sent
    end
    return n, sent
  end

  it("defaults to 64 MiB and takes a positive integer", function()
    assert.are.equal(64 * MiB, bedrock.client{ region_name = "us-east-1" }.config.max_response_bytes)
    for _, v in ipairs{ 0, -1, 1.5, "1" } do
      local ok, err = pcall(bedrock.client, { region_name = "us-east-1", max_response_bytes = v })
      assert.is_false(ok)
      assert.matches("max_response_bytes", err.message, 1, true)
    end
  end)

  F.each_mode(function(mode)
    local function client(cap)
      return mode.client{ endpoint_url = hostile.url, max_retries = 3, max_response_bytes = cap }
    end

    it("a Content-Length over the cap fails before the body is read (default cap, 500 MB declared)", function()
      local c = client(nil)
      mode.run(function()
        collectgarbage()
        local rss0 = rss_kib()
        local model = "declared-" .. (500 * 1000 * 1000)
        local before = requests(model)
        local body, err = c:invoke_model{ model_id = model, body = "{}", raw = true }
        assert.is_nil(body)
        assert.are.equal("ResponseTooLarge", err.code)
        assert.matches("declares 500000000 bytes (Content-Length), over max_response_bytes (67108864)", err.message, 1, true)
        assert.are.equal(200, err.status)
        assert.matches("^hostile%-", err.request_id)
        assert.is_false(err.retryable)
        assert.are.equal(1, err.attempts)
        assert.are.equal(before + 1, (requests(model)))
        assert.is_true(rss_kib() - rss0 < 32 * 1024, "RSS grew by " .. (rss_kib() - rss0) .. " KiB")
        local ok = assert(c:invoke_model{ model_id = "json-ok", body = "{}" })
        assert.is_true(ok.ok)
      end)
    end)

    it("a body without a Content-Length fails once it passes the cap", function()
      local c = client(MiB)
      mode.run(function()
        local model = "chunked-" .. (8 * MiB)
        local before = requests(model)
        local body, err = c:invoke_model{ model_id = model, body = "{}", raw = true }
        assert.is_nil(body)
        assert.are.equal("ResponseTooLarge", err.code)
        assert.matches("passed max_response_bytes (1048576) while being read", err.message, 1, true)
        assert.are.equal(200, err.status)
        assert.is_false(err.retryable)
        assert.are.equal(before + 1, (requests(model)))
        local ok = assert(c:invoke_model{ model_id = "json-ok", body = "{}" })
        assert.is_true(ok.ok)
      end)
    end)

    it("a body at the cap, declared or not, is read whole", function()
      local c = client(MiB)
      mode.run(function()
        for _, model in ipairs{ "declared-" .. MiB, "chunked-" .. MiB } do
          local body, meta = c:invoke_model{ model_id = model, body = "{}", raw = true }
          assert.is_string(body, tostring(meta))
          assert.are.equal(MiB, #body)
        end
      end)
    end)
  end)
end)
