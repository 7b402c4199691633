-- invoke_model over the real wire: libcurl to the local emulator.
local bedrock = require "bedrock"
local cjson = require "cjson"
local emulator = require "spec.support.emulator"

local CLAUDE = "anthropic.claude-3-sonnet-20240229-v1:0"

describe("invoke_model", function()
  local emu, client

  -- these specs are about the transport, with minimal bodies (`{}`): the
  -- model-specific body checks are off here and specced in validate_spec.lua
  -- transport specs: bare bodies, so no model-specific body checks
  local function new_client(extra)
    local cfg = emu:config{ validate = false }
    for k, v in pairs(extra or {}) do cfg[k] = v end
    return bedrock.client(cfg)
  end

  setup(function() emu = emulator.shared() end)
  before_each(function() emu:reset(); client = new_client() end)
  after_each(function() client:close() end)

  it("returns the decoded body and meta", function()
    local body, meta = client:invoke_model{ model_id = CLAUDE,
      body = { anthropic_version = "bedrock-2023-05-31", max_tokens = 100,
        messages = { { role = "user", content = "Hello, Claude!" } } } }
    assert.is_table(body, tostring(meta))
    assert.are.equal("message", body.type)
    assert.are.equal("assistant", body.role)
    assert.is_string(body.content[1].text)
    assert.are.equal(200, meta.status)
    assert.is_string(meta.request_id)
    assert.are.equal(meta.request_id, meta.headers["x-amzn-requestid"])
    assert.are.equal(body.usage.input_tokens, meta.usage.input_tokens)
    assert.are.equal(body.usage.output_tokens, meta.usage.output_tokens)
    assert.are.equal(1, meta.attempts)
    assert.is_true(meta.latency_ms > 0)
  end)

  it("puts exactly what the API promises on the wire", function()
    local body, meta = client:invoke_model{ model_id = "emulator.echo-v1:0",
      body = '{"raw":"string body"}', content_type = "application/x-test", accept = "*/*" }
    assert.is_table(body, tostring(meta))
    assert.are.equal("POST", body.method)
    assert.are.equal("/model/emulator.echo-v1%3A0/invoke", body.path)
    assert.are.equal("emulator.echo-v1:0", body.model_id)
    assert.are.equal('{"raw":"string body"}', body.body)
    assert.are.equal("application/x-test", body.headers["content-type"])
    assert.are.equal("*/*", body.headers["accept"])
    assert.matches("^AWS4%-HMAC%-SHA256 Credential=" .. emulator.credentials.access_key_id, body.headers["authorization"])
    assert.is_nil(body.headers["expect"])
  end)

  it("percent-encodes ':' and '/' of ARNs into the path, and signs it", function()
    local arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0"
    local body, meta = client:invoke_model{ model_id = arn, body = { messages = {} } }
    assert.is_table(body, tostring(meta))
    local log = emu:requests()
    assert.are.equal("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-7-sonnet-20250219-v1%3A0/invoke", log[#log].path)
    assert.are.equal(arn, log[#log].model_id)
    assert.are.equal("sigv4", log[#log].auth)
  end)

  it("signs with a session token", function()
    local t = emulator.temporary_credentials
    local c = new_client{ access_key_id = t.access_key_id, secret_access_key = t.secret_access_key, session_token = t.session_token }
    local body, meta = c:invoke_model{ model_id = CLAUDE, body = { messages = {} } }
    c:close()
    assert.is_table(body, tostring(meta))
    local log = emu:requests()
    assert.are.equal(t.session_token, log[#log].headers["x-amz-security-token"])
  end)

  it("returns a non-JSON reply as the raw string", function()
    local body, meta = client:invoke_model{ model_id = "emulator.text", body = {} }
    assert.are.equal("plain text reply", body, tostring(meta))
    assert.matches("text/plain", meta.headers["content-type"])
  end)

  it("reports a bad signature as AWS does", function()
    local c = new_client{ secret_access_key = "not-the-right-secret" }
    local body, err = c:invoke_model{ model_id = CLAUDE, body = {} }
    c:close()
    assert.is_nil(body)
    assert.are.equal("InvalidSignatureException", err.code)
    assert.are.equal(403, err.status)
    assert.is_string(err.request_id)
    assert.is_false(err.retryable)
    assert.are.equal(1, err.attempts)
    assert.matches("signature", err.message)
    assert.is_nil(tostring(err):find("not-the-right-secret", 1, true))
  end)

  it("reports an unknown key as UnrecognizedClientException", function()
    local c = new_client{ access_key_id = "AKIAUNKNOWNKEY000000" }
    local _, err = c:invoke_model{ model_id = CLAUDE, body = {} }
    c:close()
    assert.are.equal("UnrecognizedClientException", err.code)
  end)

  it("returns a service validation error without retrying it", function()
    emu:scenario(CLAUDE, { fail_first = 5, fail_status = 400, fail_code = "ValidationException", fail_message = "max_tokens: bad" })
    local _, err = client:invoke_model{ model_id = CLAUDE, body = {} }
    assert.are.equal("ValidationException", err.code)
    assert.are.equal(400, err.status)
    assert.are.equal("max_tokens: bad", err.message)
    assert.are.equal(1, err.attempts)
    assert.are.equal(1, #emu:requests())
  end)

  it("retries 5xx with backoff, then succeeds", function()
    emu:scenario(CLAUDE, { fail_first = 2, fail_status = 503, fail_code = "ServiceUnavailableException" })
    local body, meta = client:invoke_model{ model_id = CLAUDE, body = {} }
    assert.is_table(body, tostring(meta))
    assert.are.equal(3, meta.attempts)
    assert.are.equal(3, #emu:requests())
  end)

  it("retries throttling", function()
    emu:scenario(CLAUDE, { fail_first = 1 })
    local body, meta = client:invoke_model{ model_id = CLAUDE, body = {} }
    assert.is_table(body, tostring(meta))
    assert.are.equal(2, meta.attempts)
  end)

  it("stops after max_retries and says how many attempts it made", function()
    local c = new_client{ max_retries = 1 }
    emu:scenario(CLAUDE, { fail_first = 10, fail_status = 500, fail_code = "InternalServerException" })
    local _, err = c:invoke_model{ model_id = CLAUDE, body = {} }
    c:close()
    assert.are.equal("InternalServerException", err.code)
    assert.are.equal(500, err.status)
    assert.is_true(err.retryable)
    assert.are.equal(2, err.attempts)
    assert.are.equal(2, #emu:requests())
    assert.matches("after 2 attempts", tostring(err))
  end)

  it("retries a connection reset before the response", function()
    emu:scenario(CLAUDE, { reset_first = 1 })
    local body, meta = client:invoke_model{ model_id = CLAUDE, body = {} }
    assert.is_table(body, tostring(meta))
    assert.are.equal(2, meta.attempts)
  end)

  it("fails with ConnectionError when nothing listens", function()
    local c = bedrock.client{ endpoint_url = "http://127.0.0.1:9", region_name = "us-east-1",
      access_key_id = "AKID", secret_access_key = "s", max_retries = 1, validate = false }
    local _, err = c:invoke_model{ model_id = CLAUDE, body = {} }
    c:close()
    assert.are.equal("ConnectionError", err.code)
    assert.are.equal(2, err.attempts)
  end)

  it("fails with TimeoutError when the server is silent, without retrying", function()
    local c = new_client{ timeout = 0.3 }
    emu:scenario(CLAUDE, { delay_ms = 1500 })
    local _, err = c:invoke_model{ model_id = CLAUDE, body = {} }
    c:close()
    assert.are.equal("TimeoutError", err.code)
    assert.are.equal("read", err.phase)
    assert.are.equal(1, err.attempts)
  end)

  it("reuses one keep-alive connection for calls and streams in turn", function()
    for _ = 1, 3 do assert.is_table((client:invoke_model{ model_id = CLAUDE, body = {} })) end
    for _ in client:invoke_model_with_response_stream{ model_id = CLAUDE, body = {} } do end
    assert.is_table((client:invoke_model{ model_id = CLAUDE, body = {} }))
    local log = emu:requests()
    assert.are.equal(5, #log)
    for i = 2, 5 do assert.are.equal(log[1].connection, log[i].connection) end
    -- a client of its own has a connection of its own
    local other = new_client()
    assert.is_table((other:invoke_model{ model_id = CLAUDE, body = {} }))
    other:close()
    log = emu:requests()
    assert.are_not.equal(log[1].connection, log[6].connection)
  end)

  it("keeps working on the same client after errors", function()
    emu:scenario(CLAUDE, { fail_first = 1, fail_status = 400, fail_code = "ValidationException" })
    assert.is_nil((client:invoke_model{ model_id = CLAUDE, body = {} }))
    for _ = 1, 3 do
      local body = client:invoke_model{ model_id = CLAUDE, body = {} }
      assert.is_table(body)
    end
  end)

  describe("bad parameters come back as InvalidParameter before anything is sent", function()
    local cases = {
      { "a missing model_id", { body = {} }, "model_id" },
      { "an empty model_id", { model_id = "", body = {} }, "model_id" },
      { "a non-string model_id", { model_id = 7, body = {} }, "model_id" },
      { "a body cjson cannot encode", { model_id = CLAUDE, body = { f = print } }, "JSON" },
      { "a body of the wrong type", { model_id = CLAUDE, body = 42 }, "body" },
      { "CR/LF in a header value", { model_id = CLAUDE, body = {}, content_type = "a\r\nX-Injected: 1" }, "CR, LF" },
      { "LF in the model id", { model_id = "model\nid", body = {} }, "CR, LF" },
      { "an unknown parameter", { model_id = CLAUDE, bdy = {} }, "bdy" },
    }
    for _, case in ipairs(cases) do
      it(case[1], function()
        local body, err = client:invoke_model(case[2])
        assert.is_nil(body)
        assert.is_true(bedrock.is_error(err))
        assert.are.equal("InvalidParameter", err.code)
        assert.matches(case[3], err.message)
        assert.are.equal(0, #emu:requests())
      end)
    end
    it("a non-table", function()
      local _, err = client:invoke_model("hello")
      assert.are.equal("InvalidParameter", err.code)
    end)
  end)
end)
