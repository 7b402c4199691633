-- Fault: a hostile or mistyped endpoint_url. A fragment sent every call to
-- "/", a query swallowed the path, whitespace passed the config and then
-- failed each call as a retried ConnectionError, and userinfo put a password
-- into tostring(client). Each is refused when the client is made
-- (InvalidParameter naming the field, never echoing the URL), from the
-- config, the environment and the profile alike; nothing reaches the server.
-- A path prefix stays fine and is kept in front of every request path.
local bedrock = require "bedrock"
local child = require "spec.support.child"
local emulator = require "spec.support.emulator"
local F = require("spec.support.faults").with(_ENV)

local function bad_urls(base)
  local hostport = base:match("^http://(.*)$")
  return {
    { base .. "#frag", "fragment" },
    { base .. "/#", "fragment" },
    { base .. "/?a=b", "query" },
    { base .. "?", "query" },
    { "http://user:SECRET-MARK@" .. hostport, "user name or password" },
    { "http://SECRET-MARK@" .. hostport, "user name or password" },
    { base .. " ", "whitespace" },
    { base .. "\t", "whitespace" },
    { " " .. base, "whitespace" },
    { base .. "/x y", "whitespace" },
    { base .. "/\0", "NUL" },
    { base .. "/\27[31m", "control character" },
    { "http://", "must name a host" },
    { "http://:80", "must name a host" },
    { "http://" .. hostport .. ":80", "must name a host" },
    { "http://127.0.0.1:99999", "port out of range" },
  }
end

describe("fault: hostile endpoint_url", function()
  F.each_mode(function(mode)
    local emu = F.emu()

    it("is refused at config time, naming endpoint_url and not echoing the URL; nothing is sent", function()
      for _, case in ipairs(bad_urls(emu.url)) do
        local url, why = case[1], case[2]
        local ok, err = pcall(mode.client, { endpoint_url = url })
        assert.is_false(ok, ("accepted %q"):format(url))
        assert.is_true(bedrock.is_error(err), tostring(err))
        assert.are.equal("InvalidParameter", err.code)
        assert.matches("config key 'endpoint_url'", err.message, 1, true)
        assert.matches(why, err.message, 1, true)
        assert.is_nil(tostring(err):find("SECRET-MARK", 1, true))
        assert.is_false(err.retryable)
      end
      assert.are.equal(0, #F.requests(F.HEALTHY))
      assert.are.equal(0, #F.requests())
    end)

    it("a path prefix is kept in front of every request path (and trailing slashes dropped)", function()
      local c = mode.client{ endpoint_url = emu.url .. "/prefix/x//", max_retries = 0 }
      assert.are.equal(emu.url .. "/prefix/x", c.config.endpoint_url)
      mode.run(function()
        local body, err = F.invoke(c)
        assert.is_nil(body)                 -- the emulator serves no such route
        assert.are.equal(404, err.status)
      end)
      local paths = {}
      for _, e in ipairs(emu:requests()) do
        paths[#paths + 1] = e.path
      end
      assert.are.same({ "/prefix/x/model/anthropic.claude-3-sonnet-20240229-v1%3A0/invoke" }, paths)
    end)

    it("tostring of the client and its config never shows userinfo, even if it got in", function()
      local c = mode.client()
      c.config.endpoint_url = "http://user:SECRET-MARK@127.0.0.1:1/p"
      assert.is_nil(tostring(c):find("SECRET-MARK", 1, true))
      assert.is_nil(tostring(c.config):find("SECRET-MARK", 1, true))
      assert.matches("<redacted>@127.0.0.1:1/p", tostring(c), 1, true)
    end)
  end)

  it("the environment's and the profile's endpoint URLs are checked the same way, naming their source", function()
    local dir = child.tmpdir()
    child.write(dir .. "/config", "[default]\nendpoint_url = http://u:SECRET-MARK@127.0.0.1:1\n"
      .. "[profile svc]\nservices = s\n[services s]\nbedrock_runtime =\n  endpoint_url = http://127.0.0.1:1/#f\n")
    local code = [[
      local bedrock = require "bedrock"
      local ok, err = pcall(bedrock.client, { region_name = "us-east-1", profile_name = PROFILE })
      print(cjson.encode{ ok = ok, code = type(err) == "table" and err.code or nil, msg = tostring(err) })
    ]]
    local function run(env, profile)
      env.HOME, env.AWS_CONFIG_FILE, env.AWS_EC2_METADATA_DISABLED = dir, dir .. "/config", "true"
      return child.run(env, ("local PROFILE = %s\n"):format(profile and ("%q"):format(profile) or "nil") .. code)
    end
    local cases = {
      { { AWS_ENDPOINT_URL_BEDROCK_RUNTIME = emulator.shared().url .. "?a=b" }, nil, "from AWS_ENDPOINT_URL_BEDROCK_RUNTIME must not hold a query" },
      { { AWS_ENDPOINT_URL = "http://127.0.0.1:1\t" }, nil, "from AWS_ENDPOINT_URL contains whitespace" },
      { {}, nil, "from the endpoint_url of profile 'default' must not hold a user name or password" },
      { {}, "svc", "from the endpoint_url of [services s] bedrock_runtime must not hold a fragment" },
    }
    for _, case in ipairs(cases) do
      local r = run(case[1], case[2])
      assert.is_false(r.ok, r.msg)
      assert.are.equal("InvalidParameter", r.code)
      assert.matches(case[3], r.msg, 1, true)
      assert.is_nil(r.msg:find("SECRET-MARK", 1, true))
    end
    -- STS (assume role, web identity) and the SSO portal take the same checks
    local r = child.run({ HOME = dir, AWS_CONFIG_FILE = dir .. "/none",
      AWS_ENDPOINT_URL_STS = "http://u:SECRET-MARK@127.0.0.1:1", AWS_ENDPOINT_URL_SSO = "http://127.0.0.1:1/?x" }, [[
      local endpoint = require "bedrock.config.endpoint"
      local files = { profiles = {}, config = {}, credentials = {} }
      local sts, sts_err = endpoint.service(files, "default", "STS", "sts", "us-east-1")
      local sso, sso_err = endpoint.service(files, "default", "SSO", "portal.sso", "us-east-1")
      print(cjson.encode{ sts = sts or false, sts_err = sts_err, sso = sso or false, sso_err = sso_err })
    ]])
    assert.is_false(r.sts)
    assert.matches("STS endpoint URL from AWS_ENDPOINT_URL_STS must not hold a user name or password", r.sts_err, 1, true)
    assert.is_nil(r.sts_err:find("SECRET-MARK", 1, true))
    assert.is_false(r.sso)
    assert.matches("SSO endpoint URL from AWS_ENDPOINT_URL_SSO must not hold a query", r.sso_err, 1, true)
    child.rmdir(dir)
  end)
end)
