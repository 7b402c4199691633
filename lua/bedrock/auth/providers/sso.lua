--- IAM Identity Center (SSO): a profile with sso_account_id and
-- sso_role_name, and either sso_session (-> [sso-session name] with
-- sso_start_url and sso_region) or the legacy sso_start_url / sso_region.
-- The access token comes from the AWS CLI's cache,
-- ~/.aws/sso/cache/<sha1 of the session name, or of the start URL>.json;
-- the portal's GetRoleCredentials (GET /federation/credentials) turns it
-- into role credentials. A missing or expired token is an error telling
-- the user to run `aws sso login` (lua-bedrock does not refresh tokens
-- through SSO OIDC). The portal endpoint: AWS_ENDPOINT_URL_SSO,
-- AWS_ENDPOINT_URL, the profile, else https://portal.sso.{sso_region}.amazonaws.com.
local cjson = require "cjson"
local credentials = require "bedrock.auth.credentials"
local endpoint = require "bedrock.config.endpoint"
local http = require "bedrock.transport.http"
local profile = require "bedrock.config.profile"
local sha1_hex = require("bedrock.codec").sha1_hex

local provider = { name = "sso", timeout = 10 }

local function encode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

function provider.cache_path(start_url, session_name)
  local home = os.getenv("HOME") or ""
  return home .. "/.aws/sso/cache/" .. sha1_hex(session_name or start_url) .. ".json"
end

local function login_hint(cfg)
  return "run `aws sso login" .. (cfg.sso_session and (" --sso-session " .. cfg.sso_session)
    or (" --profile " .. cfg.profile)) .. "`"
end

local function load_token(cfg)
  local path = provider.cache_path(cfg.sso_start_url, cfg.sso_session)
  local f = io.open(path, "rb")
  if not f then
    return nil, credentials.error("no SSO token for " .. (cfg.sso_session and ("sso-session '" .. cfg.sso_session .. "'")
      or cfg.sso_start_url) .. " in " .. path .. ": " .. login_hint(cfg))
  end
  local text = f:read("*a") or ""
  f:close()
  local ok, doc = pcall(cjson.decode, text)
  if not ok or type(doc) ~= "table" or type(doc.accessToken) ~= "string" then
    return nil, credentials.error("the SSO token cache " .. path .. " holds no accessToken: " .. login_hint(cfg))
  end
  local exp = credentials.parse_time(doc.expiresAt)
  if not exp or exp <= os.time() then
    return nil, credentials.error("the SSO token in " .. path .. " has expired: " .. login_hint(cfg))
  end
  return doc.accessToken
end

local function fetch(ctx, cfg)
  local token, err = load_token(cfg)
  if not token then return nil, err end
  local files = credentials.files(ctx)
  local base, bad = endpoint.service(files, ctx.profile_name, "SSO", "portal.sso", cfg.sso_region)
  if not base then return nil, credentials.error(bad) end
  local url = base .. "/federation/credentials?account_id=" .. encode(cfg.sso_account_id)
    .. "&role_name=" .. encode(cfg.sso_role_name)
  local resp
  resp, err = http.fetch(ctx.driver, { url = url, headers = { ["x-amz-sso_bearer_token"] = token },
    timeout = provider.timeout, what = "SSO GetRoleCredentials" })
  if not resp then
    err.code = "CredentialsError"
    return nil, err
  end
  if resp.status == 401 or resp.status == 403 then
    return nil, credentials.error("the SSO portal refused the cached token (HTTP " .. resp.status
      .. "): the session expired or is invalid; " .. login_hint(cfg))
  end
  local ok, doc = pcall(cjson.decode, resp.body)
  if resp.status ~= 200 then
    local msg = ok and type(doc) == "table" and (doc.message or doc.Message) or ""
    return nil, credentials.error("SSO GetRoleCredentials answered HTTP " .. resp.status .. " " .. tostring(msg))
  end
  local rc = ok and type(doc) == "table" and doc.roleCredentials
  if type(rc) ~= "table" or not credentials.nonempty(rc.accessKeyId) or not credentials.nonempty(rc.secretAccessKey)
      or not credentials.nonempty(rc.sessionToken) or type(rc.expiration) ~= "number" then
    return nil, credentials.error("SSO GetRoleCredentials answered without complete roleCredentials")
  end
  local creds = credentials.new(rc.accessKeyId, rc.secretAccessKey, rc.sessionToken, provider.name,
    math.floor(rc.expiration / 1000))
  creds.refresh = function(rctx) return fetch(rctx, cfg) end
  return creds
end

function provider.load(ctx)
  local files, err = credentials.files(ctx)
  if not files then return nil, nil, err end
  local p = files.profiles[ctx.profile_name]
  if not p or (p.sso_role_name == nil and p.sso_account_id == nil) then
    return nil, "no sso_account_id / sso_role_name in profile '" .. ctx.profile_name .. "'"
  end
  local cfg = { profile = ctx.profile_name }
  for k, v in pairs(p) do cfg[k] = v end
  local required = { "sso_role_name", "sso_account_id", "sso_start_url", "sso_region" }
  if p.sso_session then
    local session = profile.named_sections(files.config, "sso-session")[p.sso_session]
    if not session then
      return nil, nil, credentials.error("the sso-session '" .. p.sso_session .. "' of profile '"
        .. ctx.profile_name .. "' does not exist")
    end
    for k, v in pairs(session) do
      if cfg[k] ~= nil and cfg[k] ~= v then
        return nil, nil, credentials.error("the value of " .. k .. " differs between profile '"
          .. ctx.profile_name .. "' and sso-session '" .. p.sso_session .. "'")
      end
      cfg[k] = v
    end
  end
  local missing = {}
  for _, k in ipairs(required) do
    if type(cfg[k]) ~= "string" or cfg[k] == "" then missing[#missing + 1] = k end
  end
  if #missing > 0 then
    return nil, nil, credentials.error("the profile '" .. ctx.profile_name
      .. "' is configured for SSO but lacks " .. table.concat(missing, ", "))
  end
  local creds
  creds, err = fetch(ctx, cfg)
  if not creds then return nil, nil, err end
  return creds
end

return provider
