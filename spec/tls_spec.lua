-- Transport security over the real wire: TLS verification against a
-- throwaway CA made here with the openssl CLI (the emulator serves https
-- with a certificate for 127.0.0.1), ca_file and ca_path, the proxy
-- variables libcurl honours, and no redirect ever followed (so an https
-- endpoint is never left for http).
local bedrock = require "bedrock"
local emulator = require "spec.support.emulator"
local child = require "spec.support.child"

local CLAUDE = "anthropic.claude-3-sonnet-20240229-v1:0"
local BODY = { anthropic_version = "bedrock-2023-05-31", max_tokens = 50,
  messages = { { role = "user", content = "Hello over TLS" } } }

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function sh(cmd)
  local p = assert(io.popen("env -u LD_PRELOAD sh -c " .. quote(cmd) .. " 2>&1"))
  local out = p:read("*a")
  local ok = p:close()
  assert(ok, "command failed: " .. cmd .. "\n" .. out)
  return out
end

local function config(url, extra)
  local cfg = { endpoint_url = url, region_name = "us-east-1",
    access_key_id = emulator.credentials.access_key_id,
    secret_access_key = emulator.credentials.secret_access_key,
    timeout = 10, max_retries = 2 }
  for k, v in pairs(extra or {}) do cfg[k] = v end
  return cfg
end

-- A throwaway CA and a server certificate for IP 127.0.0.1 signed by it.
local function make_pki(dir)
  local ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
  sh(("cd %s && openssl req -x509 %s -keyout ca.key -out ca.pem -days 2"
    .. " -subj '/CN=lua-bedrock throwaway test CA'"
    .. " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"):format(quote(dir), ec))
  child.write(dir .. "/server.ext", "subjectAltName = IP:127.0.0.1\nbasicConstraints = CA:FALSE\n"
    .. "keyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\n")
  sh(("cd %s && openssl req %s -keyout server.key -out server.csr -subj /CN=127.0.0.1"
    .. " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
    .. " -out server.pem -days 2 -extfile server.ext"):format(quote(dir), ec))
  -- a second CA that signed nothing here
  sh(("cd %s && openssl req -x509 %s -keyout other.key -out other.pem -days 2 -subj '/CN=unrelated CA'")
    :format(quote(dir), ec))
  -- a hashed CA directory, as c_rehash / openssl rehash make it
  sh(("cd %s && mkdir capath && cp ca.pem capath/ && openssl rehash capath"):format(quote(dir)))
end

describe("TLS", function()
  local dir, emu

  setup(function()
    dir = child.tmpdir()
    make_pki(dir)
    -- ALPN offers h2 too: bidirectional sessions negotiate it, the rest stay HTTP/1.1
    emu = emulator.start{ tls_cert = dir .. "/server.pem", tls_key = dir .. "/server.key",
      tls_ca = dir .. "/ca.pem", tls_h2 = true }
  end)
  teardown(function()
    if emu then emu:stop() end
    child.rmdir(dir)
  end)
  before_each(function() emu:reset() end)

  it("serves the emulator over https", function()
    assert.matches("^https://127%.0%.0%.1:%d+$", emu.url)
  end)

  it("refuses a server whose CA is not trusted, with a TLSError, not retried", function()
    local c = bedrock.client(config(emu.url))
    local body, err = c:invoke_model{ model_id = CLAUDE, body = BODY }
    c:close()
    assert.is_nil(body)
    assert.are.equal("TLSError", err.code, tostring(err))
    assert.matches("certificate", err.message)
    assert.are.equal(1, err.attempts)
    assert.is_false(err.retryable)
    assert.matches("^TLSError: TLS certificate verification failed", tostring(err))
    assert.are.equal(0, #emu:requests())
  end)

  it("refuses it for a stream too, raising from the loop", function()
    local c = bedrock.client(config(emu.url))
    local ok, err = pcall(function()
      for _ in c:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY } do end
    end)
    c:close()
    assert.is_false(ok)
    assert.are.equal("TLSError", err.code, tostring(err))
    assert.are.equal(0, #emu:requests())
  end)

  it("runs a bidirectional session over HTTP/2 negotiated by ALPN, other calls on HTTP/1.1", function()
    local c = bedrock.client(config(emu.url, { ca_file = dir .. "/ca.pem" }))
    assert(c:invoke_model{ model_id = CLAUDE, body = BODY })
    local s = c:invoke_model_with_bidirectional_stream{ model_id = "amazon.nova-sonic-v1:0" }
    for i = 1, 3 do assert(s:send{ i = i }) end
    assert(s:close_input())
    local events = {}
    for ev in s do events[#events + 1] = ev end
    c:close()
    assert.are.equal(4, #events)
    assert.are.same({ i = 3 }, events[3].echo)
    local versions = {}
    for _, r in ipairs(emu:requests()) do versions[r.route] = r.http_version end
    assert.are.equal("1.1", versions.invoke)
    assert.are.equal("2", versions.bidi_stream)
  end)

  it("refuses an untrusted server for a bidirectional session too", function()
    local c = bedrock.client(config(emu.url))
    local s = c:invoke_model_with_bidirectional_stream{ model_id = "amazon.nova-sonic-v1:0" }
    s:send{ i = 1 }
    local ev, err = s:next()
    c:close()
    assert.is_nil(ev)
    assert.are.equal("TLSError", err.code, tostring(err))
    assert.are.equal(0, #emu:requests())
  end)

  it("refuses it when ca_file names another CA", function()
    local c = bedrock.client(config(emu.url, { ca_file = dir .. "/other.pem" }))
    local body, err = c:invoke_model{ model_id = CLAUDE, body = BODY }
    c:close()
    assert.is_nil(body)
    assert.are.equal("TLSError", err.code, tostring(err))
  end)

  it("works with ca_file naming the CA, invoke and stream", function()
    local c = bedrock.client(config(emu.url, { ca_file = dir .. "/ca.pem" }))
    local body, meta = c:invoke_model{ model_id = CLAUDE, body = BODY }
    assert.is_table(body, tostring(meta))
    assert.are.equal("message", body.type)
    assert.are.equal(200, meta.status)
    local n = 0
    for ev in c:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY } do
      assert.is_string(ev.type)
      n = n + 1
    end
    c:close()
    assert.is_true(n > 2)
    assert.are.equal(2, #emu:requests())
  end)

  it("works with ca_path naming a hashed directory holding the CA", function()
    local c = bedrock.client(config(emu.url, { ca_path = dir .. "/capath" }))
    local body, meta = c:invoke_model{ model_id = CLAUDE, body = BODY }
    c:close()
    assert.is_table(body, tostring(meta))
    assert.are.equal(200, meta.status)
  end)

  it("works from the async client with ca_file", function()
    local c = bedrock.async_client(config(emu.url, { ca_file = dir .. "/ca.pem" }))
    local results = {}
    bedrock.run(function()
      local tasks = {}
      for i = 1, 3 do
        tasks[i] = bedrock.spawn(function() return c:invoke_model{ model_id = CLAUDE, body = BODY } end)
      end
      for i = 1, 3 do results[i] = tasks[i]:wait() end
    end)
    for i = 1, 3 do assert.are.equal("message", results[i].type) end
  end)

  it("checks the host name: a certificate for 127.0.0.1 does not pass for localhost", function()
    local url = emu.url:gsub("127%.0%.0%.1", "localhost")
    local c = bedrock.client(config(url, { ca_file = dir .. "/ca.pem", max_retries = 0 }))
    local body, err = c:invoke_model{ model_id = CLAUDE, body = BODY }
    c:close()
    assert.is_nil(body)
    assert.are.equal("TLSError", err.code, tostring(err))
    assert.matches("localhost", err.message)
  end)

  it("validates ca_file and ca_path when the client is made", function()
    local function raises(extra, pattern)
      local ok, err = pcall(bedrock.client, config(emu.url, extra))
      assert.is_false(ok)
      assert.are.equal("InvalidParameter", err.code)
      assert.matches(pattern, err.message)
    end
    raises({ ca_file = dir .. "/missing.pem" }, "'ca_file'.*No such file")
    raises({ ca_file = dir .. "/capath" }, "'ca_file'.*is a directory")
    raises({ ca_path = dir .. "/ca.pem" }, "'ca_path'.*is not a directory")
    raises({ ca_path = dir .. "/missing" }, "'ca_path'.*No such file")
    raises({ ca_file = 42 }, "'ca_file' must be a string")
    raises({ ca_file = dir .. "/ca.pem\n" }, "'ca_file' contains a CR, LF or NUL")
  end)
end)

describe("endpoints", function()
  it("default to https; http only where the user gave it", function()
    local c = bedrock.client{ region_name = "eu-west-1", access_key_id = "AKID", secret_access_key = "s" }
    assert.are.equal("https://bedrock-runtime.eu-west-1.amazonaws.com", c.config.endpoint_url)
    c:close()
    c = bedrock.client{ endpoint_url = "http://127.0.0.1:1", access_key_id = "AKID", secret_access_key = "s" }
    assert.are.equal("http://127.0.0.1:1", c.config.endpoint_url)
    c:close()
    assert.has_error(function() bedrock.client{ endpoint_url = "ftp://127.0.0.1/" } end)
  end)
end)

describe("proxies", function()
  local emu, proxy
  setup(function()
    emu = emulator.shared()
    proxy = require("spec.support.proxy").start()
  end)
  teardown(function() if proxy then proxy.stop() end end)
  before_each(function() emu:reset() end)

  -- One invoke in a child process whose environment holds `env`.
  local function invoke_with(env)
    return child.run(env, ([[
      local bedrock = require "bedrock"
      local c = bedrock.client{ endpoint_url = %q, region_name = "us-east-1",
        access_key_id = %q, secret_access_key = %q, timeout = 10, max_retries = 0 }
      local body, meta = c:invoke_model{ model_id = %q, body = { messages = {} }, validate = false }
      print(cjson.encode{ ok = body ~= nil, err = body == nil and tostring(meta) or nil })
    ]]):format(emu.url, emulator.credentials.access_key_id, emulator.credentials.secret_access_key, CLAUDE))
  end

  it("http_proxy carries an http endpoint's requests (libcurl reads it)", function()
    local before = #proxy.lines()
    local r = invoke_with{ http_proxy = "http://127.0.0.1:" .. proxy.port }
    assert.is_true(r.ok, r.err)
    local lines = proxy.lines()
    assert.are.equal(before + 1, #lines)
    assert.are.equal("POST " .. emu.url .. "/model/anthropic.claude-3-sonnet-20240229-v1%3A0/invoke", lines[#lines])
    assert.are.equal(1, #emu:requests())     -- and the emulator got it, signature intact
  end)

  it("no_proxy / NO_PROXY bypass it", function()
    local before = #proxy.lines()
    for _, env in ipairs{
      { http_proxy = "http://127.0.0.1:" .. proxy.port, no_proxy = "127.0.0.1" },
      { http_proxy = "http://127.0.0.1:" .. proxy.port, NO_PROXY = "127.0.0.1" },
    } do
      local r = invoke_with(env)
      assert.is_true(r.ok, r.err)
    end
    assert.are.equal(before, #proxy.lines())
    assert.are.equal(2, #emu:requests())
  end)

  it("an uppercase HTTP_PROXY is ignored for http, as libcurl does (httpoxy)", function()
    local before = #proxy.lines()
    local r = invoke_with{ HTTP_PROXY = "http://127.0.0.1:" .. proxy.port }
    assert.is_true(r.ok, r.err)
    assert.are.equal(before, #proxy.lines())
  end)
end)

describe("redirects", function()
  it("are never followed: a 307 to http:// is an error, and nothing reaches the target", function()
    local emu = emulator.shared()
    emu:reset()
    local redirector = require("spec.support.proxy").start("--redirect " .. quote(emu.url))
    local c = bedrock.client(config("http://127.0.0.1:" .. redirector.port, { max_retries = 0 }))
    local body, err = c:invoke_model{ model_id = CLAUDE, body = BODY }
    c:close()
    local lines = redirector.lines()
    redirector.stop()
    assert.is_nil(body)
    assert.are.equal(307, err.status)
    assert.are.equal(1, #lines)
    assert.are.equal(0, #emu:requests())
  end)
end)
