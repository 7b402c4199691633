--- AWS STS, the two calls the credential chain needs: AssumeRole (signed
-- with the source credentials, service "sts") and
-- AssumeRoleWithWebIdentity (unsigned). STS is a query API: a form-encoded
-- POST, an XML reply. The endpoint follows the SDKs: AWS_ENDPOINT_URL_STS,
-- AWS_ENDPOINT_URL, the profile's services section or endpoint_url, else
-- the regional https://sts.{region}.amazonaws.com.
local core = require "bedrock.core"
local compat = require "bedrock.compat"
local credentials = require "bedrock.auth.credentials"
local endpoint = require "bedrock.config.endpoint"
local errors = require "bedrock.errors"
local http = require "bedrock.transport.http"

local sts = {}

sts.TIMEOUT = 10

local function form_encode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

local entities = { amp = "&", lt = "<", gt = ">", quot = '"', apos = "'" }

--- Decode the five XML entities and numeric character references.
function sts.xml_unescape(s)
  return (s:gsub("&(#?[xX]?)(%w+);", function(kind, name)
    if kind == "" then return entities[name] end
    local n = kind == "#" and tonumber(name) or tonumber(name, 16)
    if n and n < 0x110000 then return compat.utf8_char(n) end
  end))
end

--- Text of the first <tag>...</tag> in xml (entities decoded), or nil.
function sts.xml_field(xml, tag)
  local v = xml:match("<" .. tag .. ">(.-)</" .. tag .. ">")
  if v == nil and xml:find("<" .. tag .. "%s*/>") then return "" end
  return v and sts.xml_unescape(v)
end

--- The STS endpoint for ctx (its profile and region).
function sts.endpoint(ctx)
  local files = credentials.files(ctx)
  return endpoint.service(files, ctx.profile_name, "STS", "sts", ctx.config.region_name)
end

local function call(ctx, action, params, source_creds)
  local parts = { "Action=" .. action, "Version=2011-06-15" }
  for _, kv in ipairs(params) do
    if kv[2] ~= nil then parts[#parts + 1] = kv[1] .. "=" .. form_encode(kv[2]) end
  end
  local body = table.concat(parts, "&")
  local base, bad = sts.endpoint(ctx)
  if not base then return nil, errors.new{ code = "CredentialsError", message = bad } end
  local url = base .. "/"
  local headers = { ["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8" }
  if source_creds then
    local signed = core.sigv4_sign{ method = "POST", url = url, headers = headers, body = body,
      region = ctx.config.region_name, service = "sts", credentials = source_creds }
    for k, v in pairs(signed) do headers[k] = v end
  end
  local resp, err = http.fetch(ctx.driver, { method = "POST", url = url, headers = headers, body = body,
    timeout = sts.TIMEOUT, what = "STS " .. action })
  if not resp then
    err.code = "CredentialsError"
    return nil, err
  end
  local xml = resp.body
  if resp.status < 200 or resp.status > 299 then
    local code = sts.xml_field(xml, "Code") or ("HTTP " .. resp.status)
    local message = sts.xml_field(xml, "Message") or xml:sub(1, 200):gsub("%s+", " ")
    return nil, errors.new{ code = "CredentialsError", status = resp.status,
      request_id = sts.xml_field(xml, "RequestId") or resp.headers["x-amzn-requestid"],
      message = "STS " .. action .. " failed: " .. code .. ": " .. message, sts_code = code }
  end
  local block = xml:match("<Credentials>(.-)</Credentials>")
  local id = block and sts.xml_field(block, "AccessKeyId")
  local secret = block and sts.xml_field(block, "SecretAccessKey")
  local token = block and sts.xml_field(block, "SessionToken")
  local exp = block and credentials.parse_time(sts.xml_field(block, "Expiration"))
  if not (id and secret and token and exp) then
    return nil, credentials.error("STS " .. action .. " answered without complete credentials (HTTP "
      .. resp.status .. ")")
  end
  local creds = credentials.new(id, secret, token, nil, exp)
  creds.assumed_role_arn = sts.xml_field(xml, "Arn")
  return creds
end

--- AssumeRole: { role_arn, session_name, external_id, duration_seconds,
-- source = credentials } -> creds | nil, err.
function sts.assume_role(ctx, o)
  return call(ctx, "AssumeRole", {
    { "RoleArn", o.role_arn },
    { "RoleSessionName", o.session_name or ("botocore-session-" .. os.time()) },
    { "ExternalId", o.external_id },
    { "DurationSeconds", o.duration_seconds },
  }, o.source)
end

--- AssumeRoleWithWebIdentity: { role_arn, session_name, token } -> creds | nil, err.
function sts.assume_role_with_web_identity(ctx, o)
  return call(ctx, "AssumeRoleWithWebIdentity", {
    { "RoleArn", o.role_arn },
    { "RoleSessionName", o.session_name or ("botocore-session-" .. os.time()) },
    { "WebIdentityToken", o.token },
  })
end

return sts
