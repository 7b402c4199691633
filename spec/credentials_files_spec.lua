-- The shared files, credential_process, Bedrock API keys, and the region,
-- endpoint and retry settings: each case in a child process with its own
-- environment and temporary HOME.
local child = require "spec.support.child"
local resolve = require "spec.support.resolve"
local cjson = require "cjson"

local dir
local function run(env, cfg, pre) return resolve.run(dir, env, cfg, pre) end
local function write(name, text)
  local path = dir .. "/" .. name
  os.execute("mkdir -p '" .. path:match("^(.*)/") .. "'")
  child.write(path, text)
  return path
end
local function aws(config, credentials)
  if config then write(".aws/config", config) end
  if credentials then write(".aws/credentials", credentials) end
end

before_each(function() dir = child.tmpdir() end)
after_each(function() child.rmdir(dir) end)

describe("shared files", function()
  it("parse as the CLI does: [profile x] in config, [x] in credentials, comments, blanks, CRLF", function()
    aws("# top comment\n; another\n[default]\nregion = eu-west-3\n\n[profile dev]\r\n"
      .. "  aws_access_key_id   =   AKIDDEVCONFIG  \r\naws_secret_access_key=s\r\n"
      .. "[stray]\naws_access_key_id = AKIDSTRAY\naws_secret_access_key = s\n",
      "[default]\n# comment inside\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s\n"
      .. "[profile weird]\naws_access_key_id = AKIDWEIRD\naws_secret_access_key = s\n")
    local r = run({})
    assert.are.equal("AKIDDEFAULT", r.id)
    assert.are.equal("shared-credentials-file", r.source)
    assert.are.equal("eu-west-3", r.region)
    r = run({ AWS_PROFILE = "dev" })
    assert.are.equal("AKIDDEVCONFIG", r.id)
    assert.are.equal("config-file", r.source)
    -- [stray] without "profile " is not a profile in the config file
    r = run({ AWS_PROFILE = "stray" })
    assert.are.equal("CredentialsError", r.err)
    assert.matches("'stray' is in neither", r.msg)
    -- in the credentials file "[profile weird]" is the profile "profile weird"
    r = run({}, '{ profile_name = "profile weird" }')
    assert.are.equal("AKIDWEIRD", r.id)
  end)

  it("AWS_DEFAULT_PROFILE wins over AWS_PROFILE, as in botocore", function()
    aws(nil, "[a]\naws_access_key_id = AKIDA\naws_secret_access_key = s\n"
      .. "[b]\naws_access_key_id = AKIDB\naws_secret_access_key = s\n")
    assert.are.equal("AKIDA", run({ AWS_DEFAULT_PROFILE = "a", AWS_PROFILE = "b" }).id)
    assert.are.equal("AKIDB", run({ AWS_PROFILE = "b" }).id)
  end)

  it("a profile named in code skips the environment keys, as botocore does", function()
    aws(nil, "[p]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = s\n")
    local env = { AWS_ACCESS_KEY_ID = "AKIDENV", AWS_SECRET_ACCESS_KEY = "s" }
    assert.are.equal("AKIDENV", run(env).id)
    env.AWS_PROFILE = "p"
    assert.are.equal("AKIDENV", run(env).id)          -- AWS_PROFILE does not
    local r = run(env, '{ profile_name = "p" }')
    assert.are.equal("AKIDPROFILE", r.id)
  end)

  it("honours AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE, and missing files are empty", function()
    local k = write("elsewhere/creds", "[default]\naws_access_key_id = AKIDELSE\naws_secret_access_key = s\n")
    assert.are.equal("AKIDELSE", run({ AWS_SHARED_CREDENTIALS_FILE = k }).id)
    local r = run({ AWS_SHARED_CREDENTIALS_FILE = dir .. "/nope", AWS_CONFIG_FILE = dir .. "/nope2" })
    assert.are.equal("CredentialsError", r.err)
    for _, name in ipairs{ "explicit", "environment", "assume%-role", "web%-identity", "sso",
        "shared%-credentials%-file", "process", "config%-file", "container", "imds" } do
      assert.matches(name .. ": ", r.msg)
    end
    assert.matches("AWS_EC2_METADATA_DISABLED", r.msg)
  end)

  it("reports an unreadable file (credentials or config) instead of skipping it", function()
    os.execute("mkdir -p " .. dir .. "/.aws/credentials")  -- a directory cannot be read as a file
    local r = run({})
    assert.are.equal("CredentialsError", r.err)
    assert.matches("cannot read", r.msg)
    child.rmdir(dir .. "/.aws")
    os.execute("mkdir -p " .. dir .. "/.aws/config")
    r = run({})
    assert.are.equal("CredentialsError", r.err)
    assert.matches("cannot read", r.msg)
    -- keys in the environment still answer first
    r = run({ AWS_ACCESS_KEY_ID = "AKIDENV", AWS_SECRET_ACCESS_KEY = "s" })
    assert.are.equal("environment", r.source)
  end)

  it("half a key pair is an error, not a silent pass", function()
    aws(nil, "[default]\naws_access_key_id = AKIDHALF\n")
    local r = run({})
    assert.are.equal("CredentialsError", r.err)
    assert.matches("without its pair", r.msg)
    r = run({ AWS_ACCESS_KEY_ID = "AKIDONLY" })
    assert.are.equal("CredentialsError", r.err)
    assert.matches("AWS_SECRET_ACCESS_KEY", r.msg)
  end)

  it("takes the legacy AWS_SECURITY_TOKEN and AWS_CREDENTIAL_EXPIRATION", function()
    local r = run({ AWS_ACCESS_KEY_ID = "AKIDENV", AWS_SECRET_ACCESS_KEY = "SECRETENV",
      AWS_SECURITY_TOKEN = "LEGACYTOKEN", AWS_CREDENTIAL_EXPIRATION = "2099-01-02T03:04:05Z" })
    assert.are.equal("LEGACYTOKEN", r.token)
    assert.are.equal(4071006245, r.expiration)
    assert.is_nil(r.str:find("SECRETENV", 1, true))
    assert.is_nil(r.str:find("LEGACYTOKEN", 1, true))
  end)
end)

describe("credential_process", function()
  local function script(name, body)
    local path = write(name, "#!/bin/sh\n" .. body)
    os.execute("chmod +x '" .. path .. "'")
    return path
  end

  it("runs the command and parses Version 1 JSON, between the credentials and config files", function()
    local p = script("proc.sh", [[echo '{"Version": 1, "AccessKeyId": "AKIDPROC", "SecretAccessKey": "PROCSECRET",
      "SessionToken": "PROCTOKEN", "Expiration": "2099-01-01T00:00:00Z"}']])
    aws("[default]\ncredential_process = " .. p .. " --flag 'quoted arg'\n"
      .. "aws_access_key_id = AKIDCONFIG\naws_secret_access_key = s\n")
    local r = run({})
    assert.are.equal("process", r.source)
    assert.are.equal("AKIDPROC", r.id)
    assert.are.equal("PROCTOKEN", r.token)
    assert.are.equal(4070908800, r.expiration)
    assert.is_nil(r.str:find("PROCSECRET", 1, true))
    -- the credentials file comes before the process
    aws(nil, "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = s\n")
    assert.are.equal("shared-credentials-file", run({}).source)
  end)

  it("puts the exit status and stderr in the error, never the output", function()
    local p = script("fail.sh", "echo '{\"SecretAccessKey\": \"LEAKED\"}'; echo 'token expired, run login' >&2; exit 3\n")
    aws("[default]\ncredential_process = " .. p .. "\n")
    local r = run({})
    assert.are.equal("CredentialsError", r.err)
    assert.matches("token expired, run login", r.msg)
    assert.matches("exit 3", r.msg)
    assert.is_nil(r.str:find("LEAKED", 1, true))
  end)

  it("refuses other Versions, missing keys and non-JSON", function()
    local cases = {
      { '{"Version": 2, "AccessKeyId": "A", "SecretAccessKey": "B"}', "Version 2" },
      { '{"Version": 1, "AccessKeyId": "A"}', "SecretAccessKey" },
      { 'AccessKeyId=A SECRETVALUE', "not print a JSON object" },
      { '{"Version": 1, "AccessKeyId": "A", "SecretAccessKey": "B", "Expiration": "soon"}', "ISO 8601" },
    }
    for i, case in ipairs(cases) do
      local p = script("p" .. i .. ".sh", "echo '" .. case[1] .. "'\n")
      aws("[default]\ncredential_process = " .. p .. "\n")
      local r = run({})
      assert.are.equal("CredentialsError", r.err, case[1])
      assert.matches(case[2], r.msg, 1, true)
      assert.is_nil(r.msg:find("SECRETVALUE", 1, true))
    end
  end)

  it("lets an async client's other tasks go on while the command runs", function()
    local emu = require("spec.support.emulator").shared()
    local keys = require("spec.support.emulator").credentials
    -- the command prints the emulator's keys once a file appears, which the
    -- other task creates after its invokes: it cannot finish unless they ran
    local gate = dir .. "/gate"
    local p = script("gated.sh", "while [ ! -e '" .. gate .. "' ]; do sleep 0.02; done\n"
      .. "echo '{\"Version\": 1, \"AccessKeyId\": \"" .. keys.access_key_id
      .. "\", \"SecretAccessKey\": \"" .. keys.secret_access_key .. "\"}'\n")
    aws("[default]\ncredential_process = " .. p .. "\n")
    local r = require("spec.support.child").run({ HOME = dir, AWS_CONFIG_FILE = dir .. "/.aws/config",
      AWS_SHARED_CREDENTIALS_FILE = dir .. "/.aws/credentials", AWS_EC2_METADATA_DISABLED = "true" }, [[
      local bedrock = require "bedrock"
      local url, gate = ]] .. string.format("%q, %q", emu.url, gate) .. [[
      local body = { anthropic_version = "bedrock-2023-05-31", max_tokens = 10,
        messages = { { role = "user", content = "hi" } } }
      local model = "anthropic.claude-3-sonnet-20240229-v1:0"
      local order = {}
      local from_process = bedrock.async_client{ region_name = "us-east-1", endpoint_url = url }
      local with_keys = bedrock.async_client{ region_name = "us-east-1", endpoint_url = url,
        access_key_id = "]] .. keys.access_key_id .. [[", secret_access_key = "]] .. keys.secret_access_key .. [[" }
      bedrock.run(function()
        local t = bedrock.spawn(function()
          local b, err = from_process:invoke_model{ model_id = model, body = body }
          order[#order + 1] = b and "process" or ("error " .. tostring(err))
        end)
        for _ = 1, 3 do
          assert(with_keys:invoke_model{ model_id = model, body = body })
          order[#order + 1] = "keys"
        end
        io.open(gate, "w"):close()
        t:wait()
      end)
      print(cjson.encode{ order = order })
    ]])
    assert.are.same({ "keys", "keys", "keys", "process" }, r.order)
  end)

  it("times out", function()
    local p = script("slow.sh", "sleep 10\n")
    aws("[default]\ncredential_process = " .. p .. "\n")
    local t0 = os.time()
    local r = run({}, nil, 'require("bedrock.auth.providers.process").timeout = 1')
    assert.are.equal("CredentialsError", r.err)
    assert.matches("timed out", r.msg)
    assert.is_true(os.time() - t0 < 8)
  end)
end)

describe("Bedrock API keys", function()
  local emu = require("spec.support.emulator").shared()
  local token = require("spec.support.emulator").bearer_token

  it("bearer_token in the config or AWS_BEARER_TOKEN_BEDROCK -> Authorization: Bearer, no SigV4", function()
    emu:reset()
    local r = run({}, '{ bearer_token = "' .. token .. '" }')
    assert.are.same({ "bearer", "bearer-token-config" }, { r.auth, r.source })
    assert.is_nil(r.config_str:find(token, 1, true))
    assert.is_nil(r.client_str:find(token, 1, true))
    r = run({ AWS_BEARER_TOKEN_BEDROCK = token, AWS_ACCESS_KEY_ID = "AKIDENV", AWS_SECRET_ACCESS_KEY = "s" },
      '{ access_key_id = "AKIDCODE", secret_access_key = "x" }')
    -- botocore prefers the token whenever it is set, even over keys in code
    assert.are.same({ "bearer", "bearer-token-env" }, { r.auth, r.source })
    assert.is_nil(r.config_str:find(token, 1, true))
    -- over the wire
    local out = child.run({ HOME = dir, AWS_BEARER_TOKEN_BEDROCK = token }, [[
      local c = require("bedrock").client{ endpoint_url = "]] .. emu.url .. [[", max_retries = 0 }
      local body, meta = c:invoke_model{ model_id = "anthropic.claude-3-haiku-20240307-v1:0",
        body = { anthropic_version = "bedrock-2023-05-31", max_tokens = 10, messages = { { role = "user", content = "hi" } } } }
      print(cjson.encode{ ok = body ~= nil, err = not body and tostring(meta) or nil })
    ]])
    assert.is_true(out.ok, out.err)
    local log = emu:requests()
    assert.are.equal("bearer", log[#log].auth)
    assert.is_nil(log[#log].headers["x-amz-date"])
  end)

  it("a wrong token is the service's error, and never printed", function()
    local out = child.run({ HOME = dir }, [[
      local c = require("bedrock").client{ endpoint_url = "]] .. emu.url .. [[", max_retries = 0,
        bearer_token = "WRONG-SECRET-TOKEN" }
      local body, err = c:invoke_model{ model_id = "m", body = "{}" }
      print(cjson.encode{ code = err.code, str = tostring(err), cl = tostring(c) })
    ]])
    assert.are.equal("UnrecognizedClientException", out.code)
    assert.is_nil(out.str:find("WRONG-SECRET", 1, true))
    assert.is_nil(out.cl:find("WRONG-SECRET", 1, true))
  end)
end)

describe("endpoint resolution", function()
  local function ep(env, cfg) return run(env, cfg).endpoint end

  it("follows code, AWS_ENDPOINT_URL_BEDROCK_RUNTIME, AWS_ENDPOINT_URL, services section, endpoint_url, the rule", function()
    aws("[default]\nregion = eu-west-1\nservices = local\nendpoint_url = http://127.0.0.1:9004\n"
      .. "[services local]\nbedrock_runtime =\n  endpoint_url = http://127.0.0.1:9003/\nsts =\n  endpoint_url = http://127.0.0.1:9999\n"
      .. "[profile plain]\nendpoint_url = http://127.0.0.1:9004\n[profile none]\nregion = ap-northeast-1\n")
    local env = { AWS_ENDPOINT_URL_BEDROCK_RUNTIME = "http://127.0.0.1:9001", AWS_ENDPOINT_URL = "http://127.0.0.1:9002" }
    assert.are.equal("http://127.0.0.1:9000", ep(env, '{ endpoint_url = "http://127.0.0.1:9000/" }'))
    assert.are.equal("http://127.0.0.1:9001", ep(env))
    env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME = nil
    assert.are.equal("http://127.0.0.1:9002", ep(env))
    assert.are.equal("http://127.0.0.1:9003", ep({}))
    assert.are.equal("http://127.0.0.1:9004", ep({ AWS_PROFILE = "plain" }))
    assert.are.equal("https://bedrock-runtime.ap-northeast-1.amazonaws.com", ep({ AWS_PROFILE = "none" }))
    -- AWS_IGNORE_CONFIGURED_ENDPOINT_URLS turns off all but the code's
    local ignore = { AWS_IGNORE_CONFIGURED_ENDPOINT_URLS = "true", AWS_ENDPOINT_URL = "http://127.0.0.1:9002" }
    assert.are.equal("https://bedrock-runtime.eu-west-1.amazonaws.com", ep(ignore))
    assert.are.equal("http://127.0.0.1:9000", ep(ignore, '{ endpoint_url = "http://127.0.0.1:9000" }'))
  end)

  it("FIPS, dual-stack and partitions", function()
    assert.are.equal("https://bedrock-runtime-fips.us-east-1.amazonaws.com",
      ep({ AWS_USE_FIPS_ENDPOINT = "true", AWS_REGION = "us-east-1" }))
    assert.are.equal("https://bedrock-runtime.us-east-1.api.aws",
      ep({ AWS_USE_DUALSTACK_ENDPOINT = "TRUE", AWS_REGION = "us-east-1" }))
    assert.are.equal("https://bedrock-runtime-fips.us-gov-west-1.api.aws",
      ep({ AWS_USE_FIPS_ENDPOINT = "true", AWS_USE_DUALSTACK_ENDPOINT = "true", AWS_REGION = "us-gov-west-1" }))
    assert.are.equal("https://bedrock-runtime.cn-north-1.amazonaws.com.cn", ep({ AWS_REGION = "cn-north-1" }))
    aws("[default]\nuse_fips_endpoint = true\n")
    assert.are.equal("https://bedrock-runtime-fips.us-west-2.amazonaws.com", ep({}))
    assert.are.equal("https://bedrock-runtime.us-west-2.amazonaws.com", ep({}, "{ use_fips_endpoint = false }"))
    assert.are.equal("https://bedrock-runtime.us-west-2.amazonaws.com", ep({ AWS_USE_FIPS_ENDPOINT = "false" }))
  end)

  it("rejects a configured endpoint that is not a URL", function()
    local r = run({ AWS_ENDPOINT_URL = "localhost:4566" })
    assert.are.equal("InvalidParameter", r.err)
    assert.matches("configured endpoint", r.msg)
  end)
end)

describe("retry settings", function()
  it("max_attempts counts attempts, max_retries retries: max_retries = max_attempts - 1", function()
    aws("[default]\nmax_attempts = 2\nretry_mode = legacy\n[profile bare]\n")
    local r = run({ AWS_PROFILE = "bare" })
    assert.are.same({ 3, "standard" }, { r.max_retries, r.retry_mode })         -- the seed's default
    r = run({})
    assert.are.same({ 1, "legacy" }, { r.max_retries, r.retry_mode })           -- profile
    r = run({ AWS_MAX_ATTEMPTS = "5", AWS_RETRY_MODE = "adaptive" })
    assert.are.same({ 4, "adaptive" }, { r.max_retries, r.retry_mode })         -- env over profile
    r = run({ AWS_MAX_ATTEMPTS = "5", AWS_RETRY_MODE = "adaptive" }, '{ max_attempts = 7, retry_mode = "standard" }')
    assert.are.same({ 6, "standard" }, { r.max_retries, r.retry_mode })         -- config over env
    r = run({ AWS_MAX_ATTEMPTS = "5" }, "{ max_retries = 0, max_attempts = 9 }")
    assert.are.equal(0, r.max_retries)                                           -- max_retries wins
    r = run({ AWS_MAX_ATTEMPTS = "1" })
    assert.are.equal(0, r.max_retries)
  end)

  it("refuses values that are not settings", function()
    for _, case in ipairs{ { { AWS_MAX_ATTEMPTS = "0" }, "AWS_MAX_ATTEMPTS" }, { { AWS_MAX_ATTEMPTS = "three" }, "AWS_MAX_ATTEMPTS" },
        { { AWS_RETRY_MODE = "fast" }, "AWS_RETRY_MODE" } } do
      local r = run(case[1])
      assert.are.equal("InvalidParameter", r.err)
      assert.matches(case[2], r.msg)
    end
    local r = run({}, '{ retry_mode = "fast" }')
    assert.are.equal("InvalidParameter", r.err)
    r = run({}, "{ max_attempts = 0 }")
    assert.are.equal("InvalidParameter", r.err)
    assert.is_string(cjson.encode(r))
  end)
end)
