--- EC2 instance metadata (IMDSv2): PUT /latest/api/token, GET the role
-- name under /latest/meta-data/iam/security-credentials/, GET its
-- credentials. AWS_EC2_METADATA_DISABLED=true turns it off;
-- AWS_EC2_METADATA_SERVICE_ENDPOINT (or ec2_metadata_service_endpoint, or
-- endpoint mode IPv6) moves it. Timeouts are short: 1 s per request
-- (AWS_METADATA_SERVICE_TIMEOUT) and one retry
-- (AWS_METADATA_SERVICE_NUM_ATTEMPTS = 2), except that a failure to
-- connect is not retried: a machine without IMDS falls through in about
-- a second. A 401 (the token expired or went missing) fetches a new token
-- once; a token endpoint answering 403, 404 or 405 means IMDSv1, which is
-- used unless AWS_EC2_METADATA_V1_DISABLED is true.
local cjson = require "cjson"
local compat = require "bedrock.compat"
local credentials = require "bedrock.auth.credentials"
local endpoint = require "bedrock.config.endpoint"
local http = require "bedrock.transport.http"

local provider = { name = "imds" }

provider.TOKEN_PATH = "/latest/api/token"
provider.ROLE_PATH = "/latest/meta-data/iam/security-credentials/"

local function settings(ctx)
  local files = credentials.files(ctx)
  local function get(env, key)
    return endpoint.setting(files, ctx.profile_name, env, key)
  end
  local base = get("AWS_EC2_METADATA_SERVICE_ENDPOINT", "ec2_metadata_service_endpoint")
  if not base then
    local mode = get("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "ec2_metadata_service_endpoint_mode")
    base = (mode and mode:lower() == "ipv6") and "http://[fd00:ec2::254]" or "http://169.254.169.254"
  end
  return {
    base = base:gsub("/+$", ""),
    timeout = tonumber(get("AWS_METADATA_SERVICE_TIMEOUT", "metadata_service_timeout")) or 1,
    attempts = compat.tointeger(tonumber(get("AWS_METADATA_SERVICE_NUM_ATTEMPTS", "metadata_service_num_attempts"))) or 2,
    v1_disabled = endpoint.boolean(get("AWS_EC2_METADATA_V1_DISABLED", "ec2_metadata_v1_disabled")),
  }
end

-- One request with the retry policy: resp | nil, why, connect_failed.
local function request(ctx, s, method, path, headers)
  local why, connect_failed
  for attempt = 1, math.max(1, s.attempts) do
    local resp, err = http.fetch(ctx.driver, { method = method, url = s.base .. path,
      headers = headers, timeout = s.timeout, what = "IMDS " .. method .. " " .. path,
      direct = true })   -- link-local: never through a proxy
    if resp and resp.status < 500 then return resp end
    if resp then
      why = "IMDS " .. method .. " " .. path .. " answered HTTP " .. resp.status
    else
      why = err.message
      connect_failed = err.code == "ConnectionError" or err.phase == "connect"
      if connect_failed then break end
    end
    if attempt == s.attempts then break end
  end
  return nil, why, connect_failed
end

local function fetch_token(ctx, s)
  local resp, why, connect_failed = request(ctx, s, "PUT", provider.TOKEN_PATH,
    { ["X-aws-ec2-metadata-token-ttl-seconds"] = "21600" })
  if not resp then return nil, why, connect_failed end
  if resp.status == 200 and resp.body ~= "" then return resp.body end
  if resp.status == 403 or resp.status == 404 or resp.status == 405 then
    if s.v1_disabled then
      return nil, "the IMDS token endpoint answered HTTP " .. resp.status
        .. " and IMDSv1 is disabled (AWS_EC2_METADATA_V1_DISABLED)"
    end
    return false  -- IMDSv1
  end
  return nil, "the IMDS token endpoint answered HTTP " .. resp.status
end

-- GET path with the token, fetching a new token once on a 401.
local function get(ctx, s, state, path)
  for _ = 1, 2 do
    local headers = {}
    if state.token then headers["X-aws-ec2-metadata-token"] = state.token end
    local resp, why = request(ctx, s, "GET", path, headers)
    if not resp then return nil, why end
    if resp.status ~= 401 then return resp end
    local token, twhy = fetch_token(ctx, s)
    if token == nil then return nil, twhy end
    state.token = token
  end
  return nil, "IMDS GET " .. path .. " answered HTTP 401 with a fresh token"
end

--- Fetch credentials: creds | nil, why (IMDS absent or without a role:
-- the chain passes) | nil, nil, err (IMDS answered nonsense).
local function fetch(ctx)
  local s = settings(ctx)
  local token, why = fetch_token(ctx, s)
  if token == nil then return nil, why end
  local state = { token = token or nil }
  local resp
  resp, why = get(ctx, s, state, provider.ROLE_PATH)
  if not resp then return nil, why end
  if resp.status == 404 then return nil, "no IAM role is attached to this instance (IMDS 404)" end
  if resp.status ~= 200 then return nil, "IMDS answered HTTP " .. resp.status .. " for the role name" end
  local role = resp.body:match("^%s*([^\r\n]+)")
  if not role or role:find("[/%s]") then return nil, "IMDS answered no role name" end
  resp, why = get(ctx, s, state, provider.ROLE_PATH .. role)
  if not resp then return nil, why end
  if resp.status ~= 200 then
    return nil, "IMDS answered HTTP " .. resp.status .. " for the credentials of role " .. role
  end
  local ok, doc = pcall(cjson.decode, resp.body)
  if not ok or type(doc) ~= "table" then
    return nil, nil, credentials.error("IMDS answered something that is not JSON for the credentials of role " .. role)
  end
  local id, secret = credentials.nonempty(doc.AccessKeyId), credentials.nonempty(doc.SecretAccessKey)
  local tok, exp = credentials.nonempty(doc.Token), credentials.parse_time(doc.Expiration)
  if doc.Code ~= nil and doc.Code ~= "Success" then
    return nil, nil, credentials.error("IMDS answered Code " .. tostring(doc.Code) .. " for role " .. role)
  end
  if not (id and secret and tok and exp) then
    return nil, nil, credentials.error("IMDS credentials of role " .. role
      .. " lack AccessKeyId, SecretAccessKey, Token or Expiration")
  end
  local creds = credentials.new(id, secret, tok, provider.name, exp)
  creds.role = role
  creds.refresh = function(rctx)
    local fresh, fwhy, ferr = fetch(rctx)
    return fresh, ferr or (not fresh and credentials.error("IMDS refresh failed: " .. tostring(fwhy))) or nil
  end
  return creds
end

function provider.load(ctx)
  local disabled = os.getenv("AWS_EC2_METADATA_DISABLED")
  if disabled and disabled:lower() == "true" then
    return nil, "AWS_EC2_METADATA_DISABLED is true"
  end
  return fetch(ctx)
end

return provider
