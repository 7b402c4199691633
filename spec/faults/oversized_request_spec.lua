-- Fault: oversized identifiers and headers. A 1 MiB model_id reached
-- libcurl, whose request-header buffer failed it as "ConnectionError: Out of
-- memory", retried four times. Path, header and query members are now
-- checked against the service model's lengths before sending (model ids and
-- ARNs: at most 2048 characters) as InvalidParameter naming the member; and
-- a request the client cannot build (a head past 1 MiB, libcurl's buffer
-- and ours, which the model does not bound) is InvalidParameter too, never
-- retried: a repeat cannot fix it.
local F = require("spec.support.faults").with(_ENV)

describe("fault: oversized request members", function()
  F.each_mode(function(mode)
    local emu = F.emu()
    local function sent() return #emu:requests() end

    local function refused(body, err, path, what)
      assert.is_nil(body)
      assert.are.equal("InvalidParameter", err.code, tostring(err))
      if path then assert.are.equal(path, err.path) end
      assert.matches(what, err.message, 1, true)
      assert.is_false(err.retryable)
      assert.are.equal(1, err.attempts or 1)
    end

    it("a 1 MiB model id is refused before sending, once, naming model_id", function()
      local c = mode.client{ max_retries = 3 }
      mode.run(function()
        local before = sent()
        local huge = string.rep("a", 1024 * 1024)
        local body, err = c:invoke_model{ model_id = huge, body = F.BODY }
        refused(body, err, "model_id", "must be at most 2048 characters, got 1048576")
        local s = c:invoke_model_with_response_stream{ model_id = huge, body = F.BODY }
        local ev, serr = s:next()
        assert.is_nil(ev)
        refused(nil, serr, "model_id", "at most 2048 characters")
        local cbody, cerr = c:converse{ model_id = huge, messages = { { role = "user", content = { { text = "hi" } } } } }
        refused(cbody, cerr, "model_id", "at most 2048 characters")
        local d = c:invoke_model_with_bidirectional_stream{ model_id = huge }
        local _, derr = d:next()
        refused(nil, derr, "model_id", "at most 2048 characters")
        d:close()
        assert.are.equal(before, sent(), "a request went out")
        F.assert_healthy(mode, c)
      end)
    end)

    it("the bounds are the model's: 2048 characters pass, 2049 do not (UTF-8 counted in characters)", function()
      local c = mode.client{ max_retries = 0 }
      mode.run(function()
        local before = sent()
        local _, err = c:invoke_model{ model_id = string.rep("m", 2049), body = F.BODY, validate = false }
        refused(nil, err, "model_id", "got 2049")
        -- 2048 characters of two bytes each: 4096 bytes, within the bound
        local _, err2 = c:invoke_model{ model_id = string.rep("é", 2048), body = F.BODY, validate = false }
        assert.are_not.equal("InvalidParameter", err2 and err2.code)
        assert.are.equal(before + 1, sent())
        -- a header member (max 2048) and a query member (nextToken, max 2048)
        local _, gerr = c:invoke_model{ model_id = F.MODEL, body = F.BODY,
          guardrail_identifier = string.rep("g", 2049), guardrail_version = "1" }
        refused(nil, gerr, "guardrail_identifier", "at most 2048")
        local _, aerr = c:get_async_invoke{ invocation_arn = string.rep("a", 3000) }
        refused(nil, aerr, "invocation_arn", "at most 2048")
        local _, perr = c:list_async_invokes{ next_token = string.rep("t", 2049) }:next()
        refused(nil, perr, "next_token", "at most 2048")
        assert.are.equal(before + 1, sent())
      end)
    end)

    it("a header past the 1 MiB request head (content_type, unbounded in the model) is InvalidParameter, not retried", function()
      local c = mode.client{ max_retries = 3 }
      mode.run(function()
        local before = sent()
        local body, err = c:invoke_model{ model_id = F.MODEL, body = F.BODY,
          content_type = "application/" .. string.rep("x", 1024 * 1024) }
        refused(body, err, nil, "could not make the request")
        assert.are.equal(before, sent())
        F.assert_healthy(mode, c)
      end)
    end)
  end)
end)
