-- IMDS, the container endpoint and the SSO portal, over real HTTP to the
-- local fake (spec/support/fake_aws.py) through the SDKs' own variables;
-- refresh ahead of expiry and single-flight across async tasks, end to
-- end against the emulator.
local child = require "spec.support.child"
local resolve = require "spec.support.resolve"
local fakes = require "spec.support.fakes"
local emulator = require "spec.support.emulator"
local sha1_hex = require("bedrock.codec").sha1_hex
local cjson = require "cjson"

local fake = fakes.start()
local dir
before_each(function()
  dir = child.tmpdir()
  fake:reset()
end)
after_each(function() child.rmdir(dir) end)

local function run(env, cfg, pre) return resolve.run(dir, env, cfg, pre) end
local function imds_env(extra)
  local e = { AWS_EC2_METADATA_SERVICE_ENDPOINT = fake.url }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end
local function count(log, pred)
  local n = 0
  for _, e in ipairs(log) do if pred(e) then n = n + 1 end end
  return n
end

describe("IMDS", function()
  it("IMDSv2: PUT a token, GET the role, GET its credentials with the token", function()
    local r = run(imds_env())
    assert.are.equal("imds", r.source, r.msg)
    assert.are.equal("ASIAFAKE00000001", r.id)
    assert.are.equal("fake-token-1", r.token)
    local log = fake:requests()
    assert.are.same({ "PUT", "GET", "GET" }, { log[1].method, log[2].method, log[3].method })
    assert.are.equal("21600", log[1].headers["x-aws-ec2-metadata-token-ttl-seconds"])
    assert.matches("^imds%-token%-", log[2].headers["x-aws-ec2-metadata-token"])
    assert.are.equal("/latest/meta-data/iam/security-credentials/fake-role", log[3].path)
  end)

  it("AWS_EC2_METADATA_DISABLED=true skips it without a request", function()
    local r = run(imds_env{ AWS_EC2_METADATA_DISABLED = "TRUE" })
    assert.are.equal("CredentialsError", r.err)
    assert.matches("imds: AWS_EC2_METADATA_DISABLED", r.msg)
    assert.are.equal(0, #fake:requests())
  end)

  it("a 401 on a missing or expired token fetches a new token once", function()
    fake:set{ imds_drop_tokens_after = 0 }
    local r = run(imds_env())
    assert.are.equal("imds", r.source, r.msg)
    local log = fake:requests()
    assert.are.equal(2, count(log, function(e) return e.method == "PUT" end))
  end)

  it("falls back to IMDSv1 when the token endpoint is absent, unless v1 is disabled", function()
    fake:set{ imds_token_status = 404 }
    local r = run(imds_env())
    assert.are.equal("imds", r.source, r.msg)
    assert.is_nil(fake:requests()[2].headers["x-aws-ec2-metadata-token"])
    r = run(imds_env{ AWS_EC2_METADATA_V1_DISABLED = "true" })
    assert.are.equal("CredentialsError", r.err)
    assert.matches("IMDSv1 is disabled", r.msg)
  end)

  it("no role attached, or no IMDS at all, passes to the end of the chain quickly", function()
    fake:set{ imds_role = cjson.null }
    local r = run(imds_env())
    assert.matches("no IAM role", r.msg)
    local t0 = os.time()
    r = run(imds_env{ AWS_EC2_METADATA_SERVICE_ENDPOINT = "http://127.0.0.1:9" })  -- nothing listens
    assert.are.equal("CredentialsError", r.err)
    assert.matches("imds: ", r.msg)
    assert.is_true(os.time() - t0 <= 3)
  end)

  it("a slow IMDS times out after 1 s and is retried once", function()
    fake:set{ imds_delay_ms = 1500, imds_delay_count = 1 }      -- only the first request is slow
    local t0 = os.time()
    local r = run(imds_env())
    assert.are.equal("imds", r.source, r.msg)
    assert.are.equal(2, count(fake:requests(), function(e) return e.method == "PUT" end))
    fake:reset()
    fake:set{ imds_delay_ms = 1500 }                              -- always slow: gives up
    r = run(imds_env())
    assert.are.equal("CredentialsError", r.err)
    assert.matches("imds: .*[Tt]ime", r.msg)
    assert.are.equal(2, #fake:requests())
    assert.is_true(os.time() - t0 < 12)
  end)

  it("a 500 is retried once; garbage credentials are an error", function()
    fake:set{ imds_fail_count = 1 }
    assert.are.equal("imds", run(imds_env()).source)
    fake:reset()
    fake:set{ imds_garbage = true }
    local r = run(imds_env())
    assert.are.equal("CredentialsError", r.err)
    assert.matches("not JSON", r.msg)
  end)
end)

describe("container credentials", function()
  it("AWS_CONTAINER_CREDENTIALS_FULL_URI with the token from AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE)", function()
    fake:set{ container_token = "Bearer-ish token" }
    local r = run({ AWS_CONTAINER_CREDENTIALS_FULL_URI = fake.url .. "/container/creds",
      AWS_CONTAINER_AUTHORIZATION_TOKEN = "Bearer-ish token" })
    assert.are.equal("container", r.source, r.msg)
    assert.are.equal("ASIAFAKE00000001", r.id)
    child.write(dir .. "/token", "Bearer-ish token")
    r = run({ AWS_CONTAINER_CREDENTIALS_FULL_URI = fake.url .. "/container/creds",
      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE = dir .. "/token", AWS_CONTAINER_AUTHORIZATION_TOKEN = "wrong" })
    assert.are.equal("container", r.source, r.msg)
    r = run({ AWS_CONTAINER_CREDENTIALS_FULL_URI = fake.url .. "/container/creds",
      AWS_CONTAINER_AUTHORIZATION_TOKEN = "wrong" }, nil, 'require("bedrock.auth.providers.container").pause = 0')
    assert.are.equal("CredentialsError", r.err)
    assert.matches("HTTP 401", r.msg)
    assert.is_nil(r.msg:find("wrong", 1, true))
  end)

  it("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI goes to 169.254.170.2", function()
    local r = run({ AWS_CONTAINER_CREDENTIALS_RELATIVE_URI = "/container/v2/creds" }, nil,
      'require("bedrock.auth.providers.container").BASE = "' .. fake.url .. '"')
    assert.are.equal("container", r.source, r.msg)
    assert.are.equal("/container/v2/creds", fake:requests()[1].path)
    assert.are.equal("http://169.254.170.2", require("bedrock.auth.providers.container").BASE)
  end)

  it("refuses a FULL_URI host that is neither loopback nor documented", function()
    local allowed = require("bedrock.auth.providers.container").allowed
    assert.is_true(allowed("http://127.0.0.1:80/x"))
    assert.is_true(allowed("http://127.1.2.3/x"))
    assert.is_true(allowed("http://[::1]:8080/x"))
    assert.is_true(allowed("http://169.254.170.23/v1/credentials"))
    assert.is_true(allowed("http://[fd00:ec2::23]/v1/credentials"))
    assert.is_true(allowed("http://localhost/x"))
    assert.is_true(allowed("https://example.com/creds"))
    assert.is_false(allowed("http://example.com/creds"))
    assert.is_false(allowed("http://169.254.169.254/x"))
    assert.is_false(allowed("ftp://127.0.0.1/x"))
    local r = run({ AWS_CONTAINER_CREDENTIALS_FULL_URI = "http://192.0.2.1/creds" })
    assert.are.equal("CredentialsError", r.err)
    assert.matches("loopback", r.msg)
  end)

  it("garbage and failures are tried 3 times, then an error", function()
    fake:set{ container_garbage = true }
    local r = run({ AWS_CONTAINER_CREDENTIALS_FULL_URI = fake.url .. "/container/creds" }, nil,
      'require("bedrock.auth.providers.container").pause = 0')
    assert.are.equal("CredentialsError", r.err)
    assert.matches("not JSON.*3 attempts", r.msg)
    assert.are.equal(3, #fake:requests())
  end)
end)

describe("SSO", function()
  local function sso_setup(expires_at, legacy)
    local cache_key = legacy and "https://example.awsapps.com/start" or "my-sso"
    os.execute("mkdir -p " .. dir .. "/.aws/sso/cache")
    child.write(dir .. "/.aws/sso/cache/" .. sha1_hex(cache_key) .. ".json", cjson.encode{
      startUrl = "https://example.awsapps.com/start", region = "us-east-1",
      accessToken = "fake-sso-access-token", expiresAt = expires_at })
    child.write(dir .. "/.aws/config", "[profile sso]\nsso_session = my-sso\nsso_account_id = 111122223333\n"
      .. "sso_role_name = ReadOnly\nregion = eu-west-1\n"
      .. "[sso-session my-sso]\nsso_start_url = https://example.awsapps.com/start\nsso_region = us-east-1\n"
      .. "[profile legacy]\nsso_start_url = https://example.awsapps.com/start\nsso_region = us-east-1\n"
      .. "sso_account_id = 111122223333\nsso_role_name = Admin\n"
      .. "[profile broken]\nsso_account_id = 1\n")
  end

  it("uses the cached token with the portal's GetRoleCredentials (sso_session and legacy)", function()
    sso_setup("2099-01-01T00:00:00Z")
    local r = run({ AWS_PROFILE = "sso", AWS_ENDPOINT_URL_SSO = fake.url })
    assert.are.equal("sso", r.source, r.msg)
    assert.are.equal("ASIAFAKE00000001", r.id)
    local e = fake:requests()[1]
    assert.are.same({ "111122223333", "ReadOnly" }, { e.account_id, e.role_name })
    sso_setup("2099-01-01T00:00:00Z", true)
    r = run({ AWS_PROFILE = "legacy", AWS_ENDPOINT_URL = fake.url })
    assert.are.equal("sso", r.source, r.msg)
  end)

  it("an expired or refused token says to run aws sso login", function()
    sso_setup("2020-01-01T00:00:00Z")
    local r = run({ AWS_PROFILE = "sso", AWS_ENDPOINT_URL_SSO = fake.url })
    assert.are.equal("CredentialsError", r.err)
    assert.matches("expired.*aws sso login %-%-sso%-session my%-sso", r.msg)
    assert.are.equal(0, #fake:requests())
    sso_setup("2099-01-01T00:00:00Z")
    fake:set{ sso_token = "another" }
    r = run({ AWS_PROFILE = "sso", AWS_ENDPOINT_URL_SSO = fake.url })
    assert.matches("HTTP 401.*aws sso login", r.msg)
    assert.is_nil(r.msg:find("fake-sso-access-token", 1, true))
    r = run({ AWS_PROFILE = "broken" })
    assert.matches("lacks sso_role_name, sso_start_url, sso_region", r.msg)
  end)
end)

describe("refresh and single-flight", function()
  local emu = emulator.shared()
  -- keys the fake hands out in turn, all known to the emulator
  local keys = {}
  for i = 1, 3 do
    keys[i] = { AccessKeyId = "ASIAREFRESHKEY00000" .. i, SecretAccessKey = "refresh/secret/" .. i,
      Token = "refresh-token-" .. i }
    emu:call("POST", "/__emulator/credentials", cjson.encode{ access_key_id = keys[i].AccessKeyId,
      secret_access_key = keys[i].SecretAccessKey, session_token = keys[i].Token })
  end

  local body = '{ anthropic_version = "bedrock-2023-05-31", max_tokens = 5, messages = { { role = "user", content = "hi" } } }'

  it("100 async tasks needing a refresh at once make one IMDS call, and none signs with the old keys", function()
    emu:reset()
    -- the first keys are inside the mandatory window (expire in 5 min)
    fake:set{ creds = keys, expire_in_first = 300, expire_in = 3600 }
    local out = child.run({ HOME = dir, AWS_EC2_METADATA_SERVICE_ENDPOINT = fake.url }, [[
      local bedrock = require "bedrock"
      local c = bedrock.async_client{ endpoint_url = "]] .. emu.url .. [[", max_retries = 0 }
      local ok, failed, first = 0, {}, nil
      bedrock.run(function()
        first = assert(c:credentials()).access_key_id
        local tasks = {}
        for i = 1, 100 do
          tasks[i] = bedrock.spawn(function()
            return c:invoke_model{ model_id = "anthropic.claude-3-haiku-20240307-v1:0", body = ]] .. body .. [[ }
          end)
        end
        for i = 1, 100 do
          local b, err = tasks[i]:wait()
          if b then ok = ok + 1 else failed[#failed + 1] = tostring(err) end
        end
      end)
      print(cjson.encode{ ok = ok, failed = failed, first = first, now = c.credcache.creds.access_key_id,
        refreshes = c.credcache.refreshes })
    ]])
    assert.are.equal(100, out.ok, cjson.encode(out.failed))
    assert.are.equal(keys[1].AccessKeyId, out.first)
    assert.are.equal(keys[2].AccessKeyId, out.now)
    assert.are.equal(1, out.refreshes)
    local creds_gets = count(fake:requests(), function(e) return e.issued ~= nil end)
    assert.are.equal(2, creds_gets)                 -- the first fetch and one refresh
    local log = emu:requests()
    assert.are.equal(100, #log)
    for _, e in ipairs(log) do
      assert.are.equal("sigv4", e.auth)
      assert.matches(keys[2].AccessKeyId, e.headers.authorization, 1, true)
    end
  end)

  it("the sync client refreshes ahead of expiry too, from the container endpoint", function()
    emu:reset()
    fake:set{ creds = keys, expire_in_first = 300, expire_in = 3600 }
    local out = child.run({ HOME = dir, AWS_CONTAINER_CREDENTIALS_FULL_URI = fake.url .. "/container/c",
      AWS_EC2_METADATA_DISABLED = "true" }, [[
      local c = require("bedrock").client{ endpoint_url = "]] .. emu.url .. [[", max_retries = 0 }
      local first = c:credentials().access_key_id
      local b1, e1 = c:invoke_model{ model_id = "m1", body = ]] .. body .. [[ }
      local b2, e2 = c:invoke_model{ model_id = "m1", body = ]] .. body .. [[ }
      print(cjson.encode{ first = first, ok = b1 ~= nil and b2 ~= nil, err = tostring(e1 or e2),
        now = c:credentials().access_key_id, src = c:credentials_source() })
    ]])
    assert.is_true(out.ok, out.err)
    assert.are.same({ keys[1].AccessKeyId, keys[2].AccessKeyId, "container" }, { out.first, out.now, out.src })
    assert.are.equal(2, count(fake:requests(), function(e) return e.issued ~= nil end))
  end)

  it("an advisory refresh that fails keeps the current keys; a mandatory one fails the call", function()
    fake:set{ creds = keys, expire_in_first = 700 }    -- 11.7 min: advisory window only
    local out = child.run({ HOME = dir, AWS_EC2_METADATA_SERVICE_ENDPOINT = fake.url }, [[
      local c = require("bedrock").client{}
      local first = c:credentials().access_key_id
      os.execute("curl -s -o /dev/null -X POST -d '{\"imds_fail_count\": 1000000}' ]] .. fake.url .. [[/__emulator/scenarios")
      local again, err = c:credentials()
      local cache = require "bedrock.auth.cache"
      cache.MANDATORY = 800                            -- now the same keys are in the mandatory window
      local third, err3 = c:credentials()
      print(cjson.encode{ first = first, again = again and again.access_key_id, third = third and third.access_key_id or cjson.null,
        err3 = err3 and tostring(err3) })
    ]])
    assert.are.equal(keys[1].AccessKeyId, out.first)
    assert.are.equal(keys[1].AccessKeyId, out.again)
    assert.are.equal(cjson.null, out.third)
    assert.matches("CredentialsError", out.err3)
  end)
end)
