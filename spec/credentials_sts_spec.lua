-- Assume role and web identity against moto's STS server on 127.0.0.1,
-- reached through AWS_ENDPOINT_URL_STS as the SDKs do; keys minted by
-- moto then call the emulator end to end.
local child = require "spec.support.child"
local resolve = require "spec.support.resolve"
local fakes = require "spec.support.fakes"
local emulator = require "spec.support.emulator"
local cjson = require "cjson"

local moto = fakes.moto()
local fake = fakes.start()
local dir
before_each(function()
  dir = child.tmpdir()
  moto:reset()
  fake:reset()
end)
after_each(function() child.rmdir(dir) end)

local ROLE_A = "arn:aws:iam::123456789012:role/role-a"
local ROLE_B = "arn:aws:iam::123456789012:role/role-b"

local function run(env, cfg, pre)
  env = env or {}
  env.AWS_ENDPOINT_URL_STS = env.AWS_ENDPOINT_URL_STS or moto.url
  return resolve.run(dir, env, cfg, pre)
end
local function config(text)
  os.execute("mkdir -p " .. dir .. "/.aws")
  child.write(dir .. "/.aws/config", text)
end
local function credfile(text)
  os.execute("mkdir -p " .. dir .. "/.aws")
  child.write(dir .. "/.aws/credentials", text)
end
local function calls(action)
  local out = {}
  for _, e in ipairs(moto:requests()) do
    if e.action == action then out[#out + 1] = e end
  end
  return out
end

describe("assume role", function()
  it("signs AssumeRole with the source profile's keys and passes external_id, session name, duration", function()
    credfile("[base]\naws_access_key_id = AKIDBASESOURCE\naws_secret_access_key = base-secret\n")
    config("[default]\nrole_arn = " .. ROLE_A .. "\nsource_profile = base\nexternal_id = ext-123\n"
      .. "role_session_name = my-session\nduration_seconds = 1800\nregion = eu-west-1\n")
    local r = run({})
    assert.are.equal("assume-role", r.source, r.msg)
    assert.matches("^ASIA", r.id)
    assert.is_string(r.token)
    assert.is_number(r.expiration)
    local c = calls("AssumeRole")
    assert.are.equal(1, #c)
    assert.are.same({ ROLE_A, "ext-123", "my-session", "1800", "2011-06-15" }, { c[1].form.RoleArn,
      c[1].form.ExternalId, c[1].form.RoleSessionName, c[1].form.DurationSeconds, c[1].form.Version })
    assert.matches("Credential=AKIDBASESOURCE/%d+/eu%-west%-1/sts/aws4_request", c[1].authorization)
  end)

  it("follows a chain of profiles, each hop signed with the keys of the one before", function()
    credfile("[root]\naws_access_key_id = AKIDROOT\naws_secret_access_key = root-secret\n")
    config("[profile top]\nrole_arn = " .. ROLE_A .. "\nsource_profile = middle\n"
      .. "[profile middle]\nrole_arn = " .. ROLE_B .. "\nsource_profile = root\n")
    local r = run({ AWS_PROFILE = "top" })
    assert.are.equal("assume-role", r.source, r.msg)
    local c = calls("AssumeRole")
    assert.are.equal(2, #c)
    assert.are.same({ ROLE_B, ROLE_A }, { c[1].form.RoleArn, c[2].form.RoleArn })
    assert.matches("Credential=AKIDROOT/", c[1].authorization)
    assert.matches("Credential=ASIA", c[2].authorization)
    assert.is_string(c[2].security_token)
  end)

  it("a profile that is its own source_profile uses its static keys", function()
    credfile("[self]\naws_access_key_id = AKIDSELF\naws_secret_access_key = s\n")
    config("[profile self]\nrole_arn = " .. ROLE_A .. "\nsource_profile = self\n")
    local r = run({ AWS_PROFILE = "self" })
    assert.are.equal("assume-role", r.source, r.msg)
    assert.matches("Credential=AKIDSELF/", calls("AssumeRole")[1].authorization)
  end)

  it("credential_source Environment and EcsContainer", function()
    config("[default]\nrole_arn = " .. ROLE_A .. "\ncredential_source = Environment\n"
      .. "[profile ecs]\nrole_arn = " .. ROLE_B .. "\ncredential_source = EcsContainer\n"
      .. "[profile bad]\nrole_arn = " .. ROLE_B .. "\ncredential_source = Floppy\n")
    local r = run({ AWS_ACCESS_KEY_ID = "AKIDFROMENV", AWS_SECRET_ACCESS_KEY = "s" })
    -- the environment answers before assume-role in the chain; a named profile skips it
    assert.are.equal("environment", r.source)
    r = run({ AWS_ACCESS_KEY_ID = "AKIDFROMENV", AWS_SECRET_ACCESS_KEY = "s" }, '{ profile_name = "default" }')
    assert.are.equal("assume-role", r.source, r.msg)
    assert.matches("Credential=AKIDFROMENV/", calls("AssumeRole")[1].authorization)
    r = run({ AWS_CONTAINER_CREDENTIALS_FULL_URI = fake.url .. "/container/c", AWS_PROFILE = "ecs" })
    assert.are.equal("assume-role", r.source, r.msg)
    assert.matches("Credential=ASIAFAKE00000001/", calls("AssumeRole")[2].authorization)
    r = run({ AWS_PROFILE = "bad" })
    assert.are.equal("CredentialsError", r.err)
    assert.matches("Floppy", r.msg)
  end)

  it("mfa_serial, a loop, both sources, a missing source: clear errors, no STS call", function()
    credfile("[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = s\n")
    config("[profile mfa]\nrole_arn = " .. ROLE_A .. "\nsource_profile = base\nmfa_serial = arn:aws:iam::1:mfa/me\n"
      .. "[profile loop1]\nrole_arn = " .. ROLE_A .. "\nsource_profile = loop2\n"
      .. "[profile loop2]\nrole_arn = " .. ROLE_B .. "\nsource_profile = loop1\n"
      .. "[profile both]\nrole_arn = " .. ROLE_A .. "\nsource_profile = base\ncredential_source = Environment\n"
      .. "[profile missing]\nrole_arn = " .. ROLE_A .. "\nsource_profile = nowhere\n"
      .. "[profile empty]\nrole_arn = " .. ROLE_A .. "\nsource_profile = nokeys\n[profile nokeys]\nregion = us-east-1\n")
    local cases = { mfa = "MFA", loop1 = "loops: loop1 %-> loop2 %-> loop1", both = "both source_profile and credential_source",
      missing = "'nowhere'.*does not exist", empty = "source profile 'nokeys' has no credentials" }
    for name, pattern in pairs(cases) do
      local r = run({ AWS_PROFILE = name })
      assert.are.equal("CredentialsError", r.err, name)
      assert.matches(pattern, r.msg)
    end
    assert.are.equal(0, #calls("AssumeRole"))
  end)

  it("an STS error comes back as a CredentialsError with the HTTP status", function()
    credfile("[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = SECRETBASE\n")
    config("[default]\nrole_arn = " .. ROLE_A .. "\nsource_profile = base\n")
    local r = run({ AWS_ENDPOINT_URL_STS = fake.url })          -- not an STS: answers 404
    assert.are.equal("CredentialsError", r.err)
    assert.matches("STS AssumeRole failed: HTTP 404", r.msg)
    assert.is_nil(r.str:find("SECRETBASE", 1, true))
  end)

  it("keys minted by STS call the emulator end to end", function()
    local emu = emulator.shared()
    emu:reset()
    credfile("[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = s\n")
    config("[default]\nrole_arn = " .. ROLE_A .. "\nsource_profile = base\n")
    local out = child.run({ HOME = dir, AWS_ENDPOINT_URL_STS = moto.url, AWS_EC2_METADATA_DISABLED = "true" }, [[
      local c = require("bedrock").client{ endpoint_url = "]] .. emu.url .. [[", max_retries = 0 }
      local creds = assert(c:credentials())
      os.execute("curl -s -o /dev/null -X POST -d '" .. cjson.encode{ access_key_id = creds.access_key_id,
        secret_access_key = creds.secret_access_key, session_token = creds.session_token }
        .. "' ]] .. emu.url .. [[/__emulator/credentials")
      local body, err = c:invoke_model{ model_id = "anthropic.claude-3-haiku-20240307-v1:0",
        body = { anthropic_version = "bedrock-2023-05-31", max_tokens = 5, messages = { { role = "user", content = "hi" } } } }
      print(cjson.encode{ ok = body ~= nil, err = err and tostring(err), id = creds.access_key_id,
        src = c:credentials_source() })
    ]])
    assert.is_true(out.ok, out.err)
    assert.are.equal("assume-role", out.src)
    local log = emu:requests()
    assert.matches("Credential=" .. out.id .. "/", log[#log].headers.authorization, 1, true)
  end)
end)

describe("web identity", function()
  it("AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN -> AssumeRoleWithWebIdentity, unsigned; the file is re-read at refresh", function()
    child.write(dir .. "/token", "first-jwt-token\n")
    local out = child.run({ HOME = dir, AWS_ENDPOINT_URL_STS = moto.url, AWS_EC2_METADATA_DISABLED = "true",
      AWS_WEB_IDENTITY_TOKEN_FILE = dir .. "/token", AWS_ROLE_ARN = ROLE_A, AWS_ROLE_SESSION_NAME = "pod-session" }, [[
      local c = require("bedrock").client{}
      local first = assert(c:credentials())
      local f = io.open("]] .. dir .. [[/token", "w"); f:write("rotated-jwt-token"); f:close()
      c.credcache.creds.expiration = os.time() + 60        -- due for refresh
      local second = assert(c:credentials())
      print(cjson.encode{ src = c:credentials_source(), first = first.access_key_id, second = second.access_key_id })
    ]])
    assert.are.equal("web-identity", out.src)
    assert.are_not.equal(out.first, out.second)
    local c = calls("AssumeRoleWithWebIdentity")
    assert.are.equal(2, #c)
    assert.are.same({ ROLE_A, "pod-session", "first-jwt-token" }, { c[1].form.RoleArn, c[1].form.RoleSessionName,
      c[1].form.WebIdentityToken })
    assert.are.equal("rotated-jwt-token", c[2].form.WebIdentityToken)
    assert.are.equal(cjson.null, c[1].authorization)
  end)

  it("reads the profile's keys too, and a token file without a role ARN is an error", function()
    child.write(dir .. "/token", "profile-jwt")
    config("[profile wi]\nweb_identity_token_file = " .. dir .. "/token\nrole_arn = " .. ROLE_B .. "\n"
      .. "[profile norole]\nweb_identity_token_file = " .. dir .. "/token\n")
    local r = run({ AWS_PROFILE = "wi" })
    assert.are.equal("web-identity", r.source, r.msg)
    assert.are.equal(ROLE_B, calls("AssumeRoleWithWebIdentity")[1].form.RoleArn)
    r = run({ AWS_PROFILE = "norole" })
    assert.are.equal("CredentialsError", r.err)
    assert.matches("no role ARN", r.msg)
    r = run({ AWS_WEB_IDENTITY_TOKEN_FILE = dir .. "/absent", AWS_ROLE_ARN = ROLE_A })
    assert.are.equal("CredentialsError", r.err)
    assert.matches("cannot read the web identity token file", r.msg)
  end)
end)

describe("STS XML", function()
  local sts = require "bedrock.auth.sts"
  it("decodes entities and numeric references in fields", function()
    local xml = "<R><Credentials><SecretAccessKey>a&amp;b&lt;c&gt;&quot;&apos;&#65;&#x42;</SecretAccessKey>"
      .. "<Empty/></Credentials></R>"
    assert.are.equal("a&b<c>\"'AB", sts.xml_field(xml, "SecretAccessKey"))
    assert.are.equal("", sts.xml_field(xml, "Empty"))
    assert.is_nil(sts.xml_field(xml, "Missing"))
    assert.are.equal("&amp;", sts.xml_unescape("&amp;amp;"))
  end)
end)
