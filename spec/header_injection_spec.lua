-- A CR, LF or NUL in anything that reaches a request line or a header is
-- refused before a byte is sent: config strings, model ids, content_type and
-- accept, credentials from the environment or a file, and, underneath them
-- all, the engine's own request() and the signer. "Nothing sent" is checked
-- against the emulator's request log.
local bedrock = require "bedrock"
local core = require "bedrock.core"
local emulator = require "spec.support.emulator"
local child = require "spec.support.child"

local CLAUDE = "anthropic.claude-3-sonnet-20240229-v1:0"
local BAD = { ["CR"] = "\r", ["LF"] = "\n", ["NUL"] = "\0", ["CRLF"] = "\r\nX-Injected: yes" }

describe("header injection", function()
  local emu

  local function base_config()
    return { endpoint_url = emu.url, region_name = "us-east-1",
      access_key_id = emulator.credentials.access_key_id,
      secret_access_key = emulator.credentials.secret_access_key, timeout = 5, max_retries = 0 }
  end

  setup(function() emu = emulator.shared() end)
  before_each(function() emu:reset() end)

  it("refuses every config string holding a CR, LF or NUL, naming the key and not the value", function()
    local keys = { "region_name", "profile_name", "access_key_id", "secret_access_key",
      "session_token", "endpoint_url", "ca_file", "ca_path" }
    local n = 0
    for _, key in ipairs(keys) do
      for what, bad in pairs(BAD) do
        local cfg = base_config()
        local value = (cfg[key] or "value") .. bad .. "tail-SECRET-MARK"
        cfg[key] = value
        local ok, err = pcall(bedrock.client, cfg)
        assert.is_false(ok, key .. " with " .. what)
        assert.is_true(bedrock.is_error(err), key .. " with " .. what)
        assert.are.equal("InvalidParameter", err.code)
        assert.matches("'" .. key .. "'", err.message, 1, true)
        assert.is_nil(tostring(err):find("SECRET-MARK", 1, true), key .. " value leaked into the error")
        n = n + 1
      end
    end
    assert.are.equal(32, n)
  end)

  for _, async in ipairs{ false, true } do
    local kind = async and "async" or "sync"

    -- Run fn(client) the way each client must be driven.
    local function with_client(fn)
      local cfg = base_config()
      if not async then
        local c = bedrock.client(cfg)
        local a, b = fn(c)
        c:close()
        return a, b
      end
      local c = bedrock.async_client(cfg)
      local a, b
      bedrock.run(function() a, b = fn(c) end)
      return a, b
    end

    it("refuses a model id holding a CR, LF or NUL (" .. kind .. ")", function()
      for what, bad in pairs(BAD) do
        local body, err = with_client(function(c)
          return c:invoke_model{ model_id = CLAUDE .. bad, body = "{}", validate = false }
        end)
        assert.is_nil(body, what)
        assert.are.equal("InvalidParameter", err.code)
        assert.matches("'model_id' contains a CR, LF or NUL", err.message, 1, true)
        local ok, serr = with_client(function(c)
          return pcall(function()
            for _ in c:invoke_model_with_response_stream{ model_id = bad .. CLAUDE, body = "{}", validate = false } do end
          end)
        end)
        assert.is_false(ok, what)
        assert.are.equal("InvalidParameter", serr.code)
      end
      assert.are.equal(0, #emu:requests())
    end)

    it("refuses content_type and accept holding a CR, LF or NUL (" .. kind .. ")", function()
      for _, key in ipairs{ "content_type", "accept" } do
        for what, bad in pairs(BAD) do
          local body, err = with_client(function(c)
            return c:invoke_model{ model_id = CLAUDE, body = "{}", validate = false, [key] = "application/json" .. bad }
          end)
          assert.is_nil(body, key .. " " .. what)
          assert.are.equal("InvalidParameter", err.code)
          assert.matches("'" .. key .. "'", err.message, 1, true)
          local ok, serr = with_client(function(c)
            return pcall(function()
              for _ in c:invoke_model_with_response_stream{ model_id = CLAUDE, body = "{}", validate = false,
                [key] = "application/json" .. bad } do end
            end)
          end)
          assert.is_false(ok)
          assert.are.equal("InvalidParameter", serr.code)
        end
      end
      assert.are.equal(0, #emu:requests())
    end)
  end

  it("sends a well-formed request once the values are clean (the checks above could pass)", function()
    local c = bedrock.client(base_config())
    local body, meta = c:invoke_model{ model_id = CLAUDE, body = "{}", validate = false, content_type = "application/json",
      accept = "application/json" }
    c:close()
    assert.is_table(body, tostring(meta))
    assert.are.equal(1, #emu:requests())
  end)

  describe("credentials from outside the config", function()
    local dir
    before_each(function() dir = child.tmpdir() end)
    after_each(function() child.rmdir(dir) end)

    local function invoke_in_child(env)
      env.HOME = env.HOME or dir
      return child.run(env, ([[
        local bedrock = require "bedrock"
        local c = bedrock.client{ endpoint_url = %q, region_name = "us-east-1", max_retries = 0 }
        local ok, body, err = pcall(c.invoke_model, c, { model_id = %q, body = "{}", validate = false })
        print(cjson.encode{ raised = not ok, ok = ok and body ~= nil,
          code = ok and err and err.code or nil, message = ok and err and err.message or tostring(body) })
      ]]):format(emu.url, CLAUDE))
    end

    it("refuses a CR or LF in the environment's key id or session token, returning CredentialsError", function()
      local cases = {
        { AWS_ACCESS_KEY_ID = "AKIAEMULATOREXAMPLE1\r\nX-Injected: yes",
          AWS_SECRET_ACCESS_KEY = emulator.credentials.secret_access_key },
        { AWS_ACCESS_KEY_ID = emulator.temporary_credentials.access_key_id,
          AWS_SECRET_ACCESS_KEY = emulator.temporary_credentials.secret_access_key,
          AWS_SESSION_TOKEN = "token\nX-Injected: yes" },
        { AWS_ACCESS_KEY_ID = emulator.credentials.access_key_id,
          AWS_SECRET_ACCESS_KEY = "secret\rwith-a-CR-SECRET-MARK" },
      }
      for i, env in ipairs(cases) do
        local r = invoke_in_child(env)
        assert.is_false(r.raised, r.message)
        assert.is_false(r.ok)
        assert.are.equal("CredentialsError", r.code, "case " .. i .. ": " .. tostring(r.message))
        assert.matches("from environment contains a CR, LF or NUL", r.message)
        assert.is_nil(r.message:find("SECRET-MARK", 1, true))
        assert.is_nil(r.message:find("X-Injected", 1, true))
      end
      assert.are.equal(0, #emu:requests())
    end)

    it("refuses a CR inside a session token read from the shared credentials file", function()
      child.write(dir .. "/credentials", "[default]\naws_access_key_id = "
        .. emulator.temporary_credentials.access_key_id .. "\naws_secret_access_key = "
        .. emulator.temporary_credentials.secret_access_key .. "\naws_session_token = tok\ren\n")
      local r = invoke_in_child{ AWS_SHARED_CREDENTIALS_FILE = dir .. "/credentials",
        AWS_CONFIG_FILE = dir .. "/none" }
      assert.is_false(r.raised, r.message)
      assert.are.equal("CredentialsError", r.code, r.message)
      assert.matches("session_token from shared%-credentials%-file", r.message)
      assert.are.equal(0, #emu:requests())
    end)
  end)

  describe("the core, underneath", function()
    it("engine:request refuses CR, LF or NUL in a header, the URL or the method, sending nothing", function()
      local engine = core.engine()
      local url = emu.url .. "/model/x/invoke"
      local cases = {
        { headers = { "X-Test: a\r\nX-Injected: yes" } },
        { headers = { "X-Test: a\nb" } },
        { headers = { "X-Test: a\0b" } },
        { headers = { "Content-Type: application/json", "X-Test\0: b" } },
        { url = url .. "\r\nX-Injected: yes" },
        { url = url .. "\0/other" },
        { method = "POST\0GET" },
        { method = "POST /x HTTP/1.1\r\n" },
        { ca_file = "/etc/ssl/certs/ca-certificates.crt\0x" },
      }
      for i, case in ipairs(cases) do
        local opts = { method = "POST", url = url, headers = {}, body = "{}" }
        for k, v in pairs(case) do opts[k] = v end
        local x, err = engine:request(opts)
        assert.is_nil(x, "case " .. i)
        assert.matches("CR or LF", err:gsub("NUL byte", "CR or LF"), 1, true)
      end
      engine:pump(50)
      engine:close()
      assert.are.equal(0, #emu:requests())
    end)

    it("sigv4.sign raises on a NUL in a credential, region or URL (C would cut it short)", function()
      local base = { method = "POST", url = "https://h/model/m/invoke", body = "", region = "us-east-1",
        credentials = { access_key_id = "AKID", secret_access_key = "secret" }, time = 0 }
      assert.is_table(bedrock.sigv4.sign(base))
      local function with(path, value)
        local t = { method = base.method, url = base.url, body = base.body, region = base.region, time = 0,
          credentials = { access_key_id = "AKID", secret_access_key = "secret" } }
        if path == "credentials" then t.credentials = value else t[path] = value end
        return t
      end
      local cases = {
        with("credentials", { access_key_id = "AKID", secret_access_key = "sec\0MARK" }),
        with("credentials", { access_key_id = "AK\0ID", secret_access_key = "secret" }),
        with("credentials", { access_key_id = "AKID", secret_access_key = "s", session_token = "t\0k" }),
        with("region", "us-east-1\0x"),
        with("url", "https://h/model/m\0/invoke"),
      }
      for i, t in ipairs(cases) do
        local ok, err = pcall(bedrock.sigv4.sign, t)
        assert.is_false(ok, "case " .. i)
        assert.matches("contains a NUL byte", tostring(err))
        assert.is_nil(tostring(err):find("MARK", 1, true))
      end
    end)
  end)
end)
