-- Fault: HTTP 500/502/503/504 (from the service, or a load balancer's page
-- with no AWS error type), and the 4xx that must never be retried.
local F = require("spec.support.faults").with(_ENV)

describe("fault: HTTP 5xx", function()
  F.each_mode(function(mode)
    local emu = F.emu()

    for _, case in ipairs{
      { 500, "InternalServerException" }, { 502 }, { 503, "ServiceUnavailableException" }, { 504 },
    } do
      local status, code = case[1], case[2]
      local scenario = code and { fail_status = status, fail_code = code }
                            or { fail_status = status, fail_raw = true }
      local seen = code or "HttpError"

      it(status .. " is retried, then the call and the stream succeed", function()
        local c = mode.client()
        mode.run(function()
          scenario.fail_first = 1
          F.scenario(F.MODEL, scenario)
          local body, meta = F.invoke(c)
          assert.is_table(body, tostring(meta))
          assert.are.equal(2, meta.attempts)
          F.scenario(F.MODEL, scenario)
          local events, err, s = F.stream(c)
          assert.is_nil(err)
          assert.are.equal("message_stop", events[#events].type)
          assert.are.equal(2, s:get_meta().attempts)
          local log = F.requests()
          assert.are.same({ status, 200, status, 200 },
            { log[1].status, log[2].status, log[3].status, log[4].status })
          F.assert_healthy(mode, c)
        end)
      end)

      it(status .. " that persists: " .. seen .. " after max_retries + 1 attempts", function()
        local c = mode.client{ max_retries = 2 }
        mode.run(function()
          scenario.fail_first = 100
          F.scenario(F.MODEL, scenario)
          local body, err = F.invoke(c)
          assert.is_nil(body)
          assert.are.equal(seen, err.code)
          assert.are.equal(status, err.status)
          assert.is_true(err.retryable)
          assert.are.equal(3, err.attempts)
          local events, serr = F.stream(c)
          assert.are.equal(0, #events)
          assert.are.equal(seen, serr.code)
          assert.are.equal(3, serr.attempts)
          assert.are.equal(6, #F.requests())
          F.assert_healthy(mode, c)
        end)
      end)
    end

    it("never retries other statuses: 400, 403, 404, 408, 424, 501, and a 429 of an unknown type", function()
      local c = mode.client()
      mode.run(function()
        for _, case in ipairs{
          { 400, "ValidationException" }, { 403, "AccessDeniedException" },
          { 404, "ResourceNotFoundException" }, { 408, "ModelTimeoutException" },
          { 424, "ModelErrorException" }, { 501, "NotImplemented" }, { 429, "SomethingElseException" },
        } do
          F.reset()
          F.scenario(F.MODEL, { fail_first = 5, fail_status = case[1], fail_code = case[2] })
          local body, err = F.invoke(c)
          assert.is_nil(body)
          assert.are.equal(case[2], err.code)
          assert.are.equal(case[1], err.status)
          assert.is_false(err.retryable)
          assert.are.equal(1, err.attempts)
          local events, serr = F.stream(c)
          assert.are.equal(0, #events)
          assert.are.equal(case[2], serr.code)
          assert.are.equal(1, serr.attempts)
          assert.are.equal(2, #F.requests())
        end
        F.assert_healthy(mode, c)
      end)
    end)
  end)
end)
