-- The differential spec: for each environment/file setup, botocore (the
-- reference; boto3's session is botocore's) and lua-bedrock, each in a
-- child process with exactly that environment and a temporary HOME, must
-- resolve the same credential provider, region and endpoint. IMDS is off
-- in both (AWS_EC2_METADATA_DISABLED=true); STS is moto, the container
-- endpoint and the SSO portal are the local fake.
local child = require "spec.support.child"
local resolve = require "spec.support.resolve"
local fakes = require "spec.support.fakes"
local sha1_hex = require("bedrock.codec").sha1_hex
local cjson = require "cjson"

local moto = fakes.moto()
local fake = fakes.start()

-- botocore's Credentials.method -> our provider names
local METHODS = {
  env = "environment", ["assume-role"] = "assume-role", ["assume-role-with-web-identity"] = "web-identity",
  sso = "sso", ["shared-credentials-file"] = "shared-credentials-file", ["custom-process"] = "process",
  ["config-file"] = "config-file", ["container-role"] = "container", ["iam-role"] = "imds",
}

local PY = [[
import json, botocore.session
out = {}
s = botocore.session.get_session()
try:
    c = s.get_credentials()
    out["method"] = c.method if c else None
except Exception as e:
    out["cred_error"] = type(e).__name__
try:
    cl = s.create_client("bedrock-runtime")
    out["region"] = cl.meta.region_name
    out["endpoint"] = cl.meta.endpoint_url
except Exception as e:
    out["client_error"] = type(e).__name__ + ": " + str(e)
print(json.dumps(out))
]]

local function boto(env)
  local parts = { "env -i", "PATH=" .. child.quote(os.getenv("PATH")) }
  for k, v in pairs(env) do parts[#parts + 1] = k .. "=" .. child.quote(v) end
  local script = os.tmpname()
  child.write(script, PY)
  -- not under the sanitizer runtimes: CPython is not ours to sanitize
  parts[#parts + 1] = "env -u LD_PRELOAD python3 " .. script .. " 2>&1"
  local p = assert(io.popen(table.concat(parts, " ")))
  local text = p:read("*a")
  p:close()
  os.remove(script)
  local ok, doc = pcall(cjson.decode, text)
  if not ok then error("botocore printed no JSON:\n" .. text) end
  return doc
end

local T = "arn:aws:iam::123456789012:role/t"

-- name, env, files = { [relative path] = text }, executable files
local setups = {
  { "environment keys", { AWS_ACCESS_KEY_ID = "AKIDENV", AWS_SECRET_ACCESS_KEY = "s", AWS_DEFAULT_REGION = "eu-west-1" } },
  { "credentials file and config region", {}, {
    [".aws/credentials"] = "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = s\n",
    [".aws/config"] = "# c\n[default]\nregion = ap-southeast-2\n" } },
  { "AWS_PROFILE, keys in the config file", { AWS_PROFILE = "dev" }, {
    [".aws/credentials"] = "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = s\n",
    [".aws/config"] = "[profile dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = s\nregion = sa-east-1\n" } },
  { "AWS_DEFAULT_PROFILE over AWS_PROFILE", { AWS_DEFAULT_PROFILE = "a", AWS_PROFILE = "b" }, {
    [".aws/credentials"] = "[a]\naws_access_key_id = A\naws_secret_access_key = s\n",
    [".aws/config"] = "[profile a]\nregion = eu-north-1\n[profile b]\nregion = us-east-2\n"
      .. "aws_access_key_id = B\naws_secret_access_key = s\n" } },
  { "credentials-file keys over the config file's region profile", { AWS_PROFILE = "both" }, {
    [".aws/credentials"] = "[both]\naws_access_key_id = K\naws_secret_access_key = s\nregion = eu-south-1\n",
    [".aws/config"] = "[profile both]\nregion = eu-west-2\n" } },
  { "assume role chain, services section endpoint", { AWS_PROFILE = "top", ENDPOINT_STS = true }, {
    [".aws/credentials"] = "[root]\naws_access_key_id = AKIDROOT\naws_secret_access_key = s\n",
    [".aws/config"] = "[profile top]\nrole_arn = " .. T .. "\nsource_profile = mid\nregion = us-east-1\nservices = loc\n"
      .. "[profile mid]\nrole_arn = " .. T .. "2\nsource_profile = root\n"
      .. "[services loc]\nbedrock_runtime =\n  endpoint_url = http://127.0.0.1:4566\n" } },
  { "assume role from the environment, profile named", { AWS_PROFILE = "r", AWS_ACCESS_KEY_ID = "E",
      AWS_SECRET_ACCESS_KEY = "s", AWS_DEFAULT_REGION = "ca-central-1", ENDPOINT_STS = true }, {
    [".aws/config"] = "[profile r]\nrole_arn = " .. T .. "\ncredential_source = Environment\n" } },
  { "web identity from the environment", { AWS_ROLE_ARN = T, TOKEN_FILE = true, AWS_DEFAULT_REGION = "us-west-1",
      ENDPOINT_STS = true } },
  { "credential_process before config-file keys", {}, {
    [".aws/config"] = "[default]\ncredential_process = PROC\naws_access_key_id = C\naws_secret_access_key = s\n"
      .. "region = me-south-1\nuse_fips_endpoint = true\n" } },
  { "container full URI", { CONTAINER = true, AWS_DEFAULT_REGION = "af-south-1" } },
  { "SSO session with a cached token", { AWS_PROFILE = "sso", ENDPOINT_SSO = true, SSO_CACHE = true }, {
    [".aws/config"] = "[profile sso]\nsso_session = s1\nsso_account_id = 111122223333\nsso_role_name = R\nregion = eu-west-3\n"
      .. "[sso-session s1]\nsso_start_url = https://example.awsapps.com/start\nsso_region = us-east-1\n" } },
  { "AWS_ENDPOINT_URL_BEDROCK_RUNTIME over AWS_ENDPOINT_URL", { AWS_ENDPOINT_URL_BEDROCK_RUNTIME = "http://127.0.0.1:1111",
      AWS_ENDPOINT_URL = "http://127.0.0.1:2222", AWS_DEFAULT_REGION = "us-east-1" } },
  { "AWS_ENDPOINT_URL over the profile's endpoint_url", { AWS_ENDPOINT_URL = "http://127.0.0.1:2222" }, {
    [".aws/config"] = "[default]\nregion = eu-central-1\nendpoint_url = http://127.0.0.1:3333\n" } },
  { "the profile's endpoint_url", {}, { [".aws/config"] = "[default]\nregion = eu-central-1\nendpoint_url = http://127.0.0.1:3333\n" } },
  { "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", { AWS_IGNORE_CONFIGURED_ENDPOINT_URLS = "true",
      AWS_ENDPOINT_URL = "http://127.0.0.1:2222" }, {
    [".aws/config"] = "[default]\nregion = eu-central-1\nendpoint_url = http://127.0.0.1:3333\n" } },
  { "FIPS from the environment", { AWS_USE_FIPS_ENDPOINT = "true", AWS_DEFAULT_REGION = "us-gov-west-1" } },
  { "dual-stack from the profile, China", {}, { [".aws/config"] = "[default]\nregion = cn-north-1\nuse_dualstack_endpoint = true\n" } },
  { "FIPS and dual-stack", { AWS_USE_FIPS_ENDPOINT = "TRUE", AWS_USE_DUALSTACK_ENDPOINT = "true", AWS_DEFAULT_REGION = "us-east-2" } },
  { "no credentials anywhere", { AWS_DEFAULT_REGION = "us-east-1" } },
}

describe("boto3 differential", function()
  for _, setup in ipairs(setups) do
    local name, spec_env, files = setup[1], setup[2], setup[3] or {}
    it(name, function()
      local dir = child.tmpdir()
      local env = { HOME = dir, AWS_EC2_METADATA_DISABLED = "true" }
      for k, v in pairs(spec_env) do if type(v) == "string" then env[k] = v end end
      if spec_env.ENDPOINT_STS then env.AWS_ENDPOINT_URL_STS = moto.url end
      if spec_env.ENDPOINT_SSO then env.AWS_ENDPOINT_URL_SSO = fake.url end
      if spec_env.CONTAINER then env.AWS_CONTAINER_CREDENTIALS_FULL_URI = fake.url .. "/container/c" end
      if spec_env.TOKEN_FILE then
        child.write(dir .. "/jwt", "a-jwt")
        env.AWS_WEB_IDENTITY_TOKEN_FILE = dir .. "/jwt"
      end
      if spec_env.SSO_CACHE then
        os.execute("mkdir -p " .. dir .. "/.aws/sso/cache")
        child.write(dir .. "/.aws/sso/cache/" .. sha1_hex("s1") .. ".json", cjson.encode{
          startUrl = "https://example.awsapps.com/start", region = "us-east-1",
          accessToken = "fake-sso-access-token", expiresAt = "2099-01-01T00:00:00Z" })
      end
      local proc = dir .. "/proc.sh"
      child.write(proc, "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"P\", \"SecretAccessKey\": \"s\"}'\n")
      os.execute("chmod +x " .. proc)
      for path, text in pairs(files) do
        os.execute("mkdir -p " .. dir .. "/" .. path:match("^(.*)/"))
        child.write(dir .. "/" .. path, (text:gsub("PROC", proc)))
      end

      local b = boto(env)
      local l = resolve.run(dir, env)
      child.rmdir(dir)
      assert.is_nil(b.client_error)
      assert.is_nil(b.cred_error)
      local expected = b.method and METHODS[b.method] or "none"
      local got = l.source or (l.err == "CredentialsError" and l.msg:find("^no credentials found") and "none") or l.msg
      assert.are.same({ source = expected, region = b.region, endpoint = b.endpoint },
        { source = got, region = l.region, endpoint = l.endpoint })
    end)
  end
end)
