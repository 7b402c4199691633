-- Configuration and the credential chain (explicit, environment, shared
-- files), each case in a child process with its own environment and HOME.
local bedrock = require "bedrock"
local child = require "spec.support.child"

local function raises_invalid(cfg, pattern)
  local ok, err = pcall(bedrock.client, cfg)
  assert.is_false(ok)
  assert.is_true(bedrock.is_error(err), "expected an error object, got " .. tostring(err))
  assert.are.equal("InvalidParameter", err.code)
  assert.matches(pattern, err.message)
  return err
end

describe("client config", function()
  it("rejects a wrong type, naming the key", function()
    raises_invalid({ max_retries = "3" }, "max_retries")
    raises_invalid({ max_retries = -1 }, "max_retries")
    raises_invalid({ max_retries = 1.5 }, "max_retries")
    raises_invalid({ timeout = 0 }, "timeout")
    raises_invalid({ timeout = "30" }, "timeout")
    raises_invalid({ region_name = 42 }, "region_name")
    raises_invalid({ endpoint_url = true }, "endpoint_url")
    raises_invalid("us-west-2", "config must be a table")
  end)

  it("rejects an unknown key, naming it", function()
    raises_invalid({ regoin_name = "us-east-1" }, "regoin_name")
  end)

  it("rejects half a key pair, a bad endpoint, a bad region, CR/LF", function()
    raises_invalid({ access_key_id = "AKID" }, "go together")
    raises_invalid({ endpoint_url = "127.0.0.1:4566" }, "endpoint_url")
    raises_invalid({ region_name = "us west" }, "not a valid region")
    raises_invalid({ region_name = "us-west-2\r\nX-Evil: 1" }, "CR, LF")
  end)

  it("never shows a secret in an error, the config or the client", function()
    local err = raises_invalid({ secret_access_key = 12345 }, "secret_access_key")
    assert.is_nil(tostring(err):find("12345", 1, true))
    local c = bedrock.client{ access_key_id = "AKIDVISIBLE", secret_access_key = "TOPSECRETVALUE",
      session_token = "TOPSECRETTOKEN", region_name = "eu-west-1" }
    assert.is_nil(tostring(c):find("TOPSECRET", 1, true))
    assert.is_nil(tostring(c.config):find("TOPSECRET", 1, true))
    assert.matches("<redacted>", tostring(c.config))
    local creds = assert(c:credentials())
    assert.is_nil(tostring(creds):find("TOPSECRET", 1, true))
    c:close()
  end)

  it("fills the defaults of design.md", function()
    local d = child.run({ HOME = "/nonexistent" }, [[
      local c = require("bedrock").client{}
      print(cjson.encode{ region = c.config.region_name, retries = c.config.max_retries,
        timeout = c.config.timeout, endpoint = c.config.endpoint_url, profile = c.config.profile_name })
    ]])
    assert.are.same({ region = "us-west-2", retries = 3, timeout = 30, profile = "default",
      endpoint = "https://bedrock-runtime.us-west-2.amazonaws.com" }, d)
  end)
end)

describe("region resolution", function()
  local dir
  before_each(function() dir = child.tmpdir() end)
  after_each(function() child.rmdir(dir) end)

  local code = [[print(cjson.encode{ region = require("bedrock").client(CFG).config.region_name })]]
  local function region(env, cfg)
    env.HOME = env.HOME or dir
    return child.run(env, "local CFG = " .. (cfg or "{}") .. "\n" .. code).region
  end

  it("follows config, AWS_REGION, AWS_DEFAULT_REGION, the profile, us-west-2", function()
    child.write(dir .. "/config", "[default]\nregion = eu-central-1\n[profile other]\nregion = ap-south-1\n")
    local cfgfile = dir .. "/config"
    assert.are.equal("us-east-2", region({ AWS_REGION = "ca-central-1", AWS_CONFIG_FILE = cfgfile }, '{ region_name = "us-east-2" }'))
    assert.are.equal("ca-central-1", region({ AWS_REGION = "ca-central-1", AWS_DEFAULT_REGION = "sa-east-1", AWS_CONFIG_FILE = cfgfile }))
    assert.are.equal("sa-east-1", region({ AWS_DEFAULT_REGION = "sa-east-1", AWS_CONFIG_FILE = cfgfile }))
    assert.are.equal("eu-central-1", region({ AWS_CONFIG_FILE = cfgfile }))
    assert.are.equal("ap-south-1", region({ AWS_CONFIG_FILE = cfgfile, AWS_PROFILE = "other" }))
    assert.are.equal("ap-south-1", region({ AWS_CONFIG_FILE = cfgfile }, '{ profile_name = "other" }'))
    assert.are.equal("us-west-2", region({ AWS_CONFIG_FILE = dir .. "/missing" }))
  end)

  it("reads ~/.aws/config under HOME by default", function()
    os.execute("mkdir -p " .. dir .. "/.aws")
    child.write(dir .. "/.aws/config", "# comment\n[default]\n  region   =   eu-north-1  \n")
    assert.are.equal("eu-north-1", region({}))
  end)
end)

describe("credential chain", function()
  local dir
  before_each(function() dir = child.tmpdir() end)
  after_each(function() child.rmdir(dir) end)

  local code = [[
    local c = require("bedrock").client(CFG)
    local creds, err = c:credentials()
    if creds then
      print(cjson.encode{ source = creds.source, id = creds.access_key_id,
        token = creds.session_token or cjson.null, str = tostring(creds) })
    else
      print(cjson.encode{ err = err.code, msg = err.message, str = tostring(err) })
    end
  ]]
  local function resolve(env, cfg)
    env.HOME = env.HOME or dir
    env.AWS_EC2_METADATA_DISABLED = "true"  -- no instance metadata beyond loopback
    return child.run(env, "local CFG = " .. (cfg or "{}") .. "\n" .. code)
  end

  it("prefers explicit keys, without a stray AWS_SESSION_TOKEN", function()
    local r = resolve({ AWS_ACCESS_KEY_ID = "AKIDENV", AWS_SECRET_ACCESS_KEY = "s", AWS_SESSION_TOKEN = "stray" },
      '{ access_key_id = "AKIDCODE", secret_access_key = "x" }')
    assert.are.same({ source = "explicit", id = "AKIDCODE", token = require("cjson").null }, { source = r.source, id = r.id, token = r.token })
  end)

  it("takes the environment next, with its session token", function()
    local r = resolve({ AWS_ACCESS_KEY_ID = "AKIDENV", AWS_SECRET_ACCESS_KEY = "SECRETENV", AWS_SESSION_TOKEN = "TOKENENV" })
    assert.are.equal("environment", r.source)
    assert.are.equal("AKIDENV", r.id)
    assert.are.equal("TOKENENV", r.token)
    assert.is_nil(r.str:find("SECRETENV", 1, true))
    assert.is_nil(r.str:find("TOKENENV", 1, true))
  end)

  it("reads the shared credentials file, then the config file, per profile", function()
    child.write(dir .. "/credentials", "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = s1\n"
      .. "; a comment\n[dev]\naws_access_key_id=AKIDDEV\naws_secret_access_key=s2\naws_session_token=TOK\n")
    child.write(dir .. "/config", "[profile cfgonly]\naws_access_key_id = AKIDCFG\naws_secret_access_key = s3\n")
    local env = { AWS_SHARED_CREDENTIALS_FILE = dir .. "/credentials", AWS_CONFIG_FILE = dir .. "/config" }
    assert.are.equal("AKIDFILE", resolve(env).id)
    env.AWS_PROFILE = "dev"
    local r = resolve(env)
    assert.are.equal("AKIDDEV", r.id)
    assert.are.equal("TOK", r.token)
    assert.are.equal("shared-credentials-file", r.source)
    r = resolve(env, '{ profile_name = "cfgonly" }')
    assert.are.equal("AKIDCFG", r.id)
    assert.are.equal("config-file", r.source)
  end)

  it("fails with CredentialsError listing each provider and why", function()
    local r = resolve({ AWS_SHARED_CREDENTIALS_FILE = dir .. "/none", AWS_CONFIG_FILE = dir .. "/none" })
    assert.are.equal("CredentialsError", r.err)
    for _, name in ipairs{ "explicit", "environment", "shared%-credentials%-file", "config%-file", "imds" } do
      assert.matches(name, r.msg)
    end
  end)

  it("reports an unreadable credentials file instead of skipping it", function()
    os.execute("mkdir -p " .. dir .. "/credentials")  -- a directory cannot be read as a file
    local r = resolve({ AWS_SHARED_CREDENTIALS_FILE = dir .. "/credentials", AWS_CONFIG_FILE = dir .. "/none" })
    assert.are.equal("CredentialsError", r.err)
  end)
end)
