-- Fault: a proxy in the environment (http_proxy, all_proxy) must never see
-- the credential endpoints' traffic. The container endpoint's GET carries
-- AWS_CONTAINER_AUTHORIZATION_TOKEN and its reply the keys in clear text;
-- IMDS is link-local. Both are fetched directly (botocore's container
-- fetcher uses no proxy), by the sync and the async client, while the
-- proxy records every request that reaches it.
local child = require "spec.support.child"
local fakes = require "spec.support.fakes"
local proxy_helper = require "spec.support.proxy"

local code = [[
local bedrock = require "bedrock"
local cfg = { region_name = "us-east-1", endpoint_url = "http://127.0.0.1:9", max_retries = 0 }
local function resolve(c)
  local creds, err = c:credentials()
  return { source = creds and creds.source, id = creds and creds.access_key_id,
           err = err and tostring(err) }
end
local out
if ASYNC then
  out = bedrock.run(function() return resolve(bedrock.async_client(cfg)) end)
else
  out = resolve(bedrock.client(cfg))
end
print(cjson.encode(out))
]]

describe("fault: credential endpoints under a proxy from the environment", function()
  local fake, proxy, dir
  setup(function()
    fake = fakes.start()
    proxy = proxy_helper.start()
  end)
  teardown(function()
    if proxy then proxy.stop() end
    if fake then fake:stop() end
  end)
  before_each(function()
    fake:reset()
    dir = child.tmpdir()
  end)
  after_each(function() child.rmdir(dir) end)

  -- every way libcurl would read a proxy for an http URL
  local PROXY_ENV = { "http_proxy", "all_proxy", "ALL_PROXY" }

  for _, async in ipairs{ false, true } do
    local mode = async and "async" or "sync"
    describe(mode, function()
      local function run(env)
        local e = { HOME = dir, AWS_EC2_METADATA_DISABLED = "true" }
        for k, v in pairs(env) do e[k] = v end
        for _, name in ipairs(PROXY_ENV) do e[name] = proxy.url end
        return child.run(e, "local ASYNC = " .. tostring(async) .. "\n" .. code)
      end

      it("container credentials are fetched directly: the token never reaches the proxy", function()
        fake:set{ container_token = "container-token-SECRET-MARK" }
        local before = #proxy.lines()
        local r = run{ AWS_CONTAINER_CREDENTIALS_FULL_URI = fake.url .. "/container/creds",
          AWS_CONTAINER_AUTHORIZATION_TOKEN = "container-token-SECRET-MARK" }
        assert.are.equal("container", r.source, r.err)
        assert.are.equal(before, #proxy.lines(), "a request went through the proxy")
        local log = fake:requests()
        assert.are.equal(1, #log)
        assert.are.equal("/container/creds", log[1].path)
      end)

      it("IMDS is fetched directly: token, role and credentials never reach the proxy", function()
        local before = #proxy.lines()
        local r = run{ AWS_EC2_METADATA_DISABLED = "false", AWS_EC2_METADATA_SERVICE_ENDPOINT = fake.url }
        assert.are.equal("imds", r.source, r.err)
        assert.are.equal(before, #proxy.lines(), "a request went through the proxy")
        assert.are.equal(3, #fake:requests())
      end)
    end)
  end

  it("the proxy is really read from the environment (the control: Bedrock calls do use it)", function()
    local emulator = require "spec.support.emulator"
    local emu = emulator.shared()
    local before = #proxy.lines()
    local r = child.run({ HOME = dir, http_proxy = proxy.url, AWS_EC2_METADATA_DISABLED = "true" }, ([[
      local bedrock = require "bedrock"
      local c = bedrock.client{ endpoint_url = %q, region_name = "us-east-1",
        access_key_id = %q, secret_access_key = %q, max_retries = 0 }
      local body, meta = c:invoke_model{ model_id = "anthropic.claude-3-haiku-20240307-v1:0",
        body = { messages = {} }, validate = false }
      print(cjson.encode{ ok = body ~= nil, err = body == nil and tostring(meta) or nil })
    ]]):format(emu.url, emulator.credentials.access_key_id, emulator.credentials.secret_access_key))
    assert.is_true(r.ok, r.err)
    assert.are.equal(before + 1, #proxy.lines())
  end)
end)
