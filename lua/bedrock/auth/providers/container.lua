--- Container credentials (ECS task roles, EKS Pod Identity):
-- AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (under http://169.254.170.2) or
-- AWS_CONTAINER_CREDENTIALS_FULL_URI (https anywhere; http only to a
-- loopback address or the documented hosts 169.254.170.2, 169.254.170.23,
-- fd00:ec2::23, localhost), with the Authorization header from
-- AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (read at every fetch) or
-- AWS_CONTAINER_AUTHORIZATION_TOKEN (sent with either URI, as botocore does). A fetch is tried 3 times, 2 s each.
local cjson = require "cjson"
local credentials = require "bedrock.auth.credentials"
local http = require "bedrock.transport.http"

local provider = { name = "container", timeout = 2, attempts = 3, pause = 1 }

provider.BASE = "http://169.254.170.2"
local ALLOWED = { ["169.254.170.2"] = true, ["169.254.170.23"] = true, ["fd00:ec2::23"] = true,
  ["localhost"] = true }

local function host_of(url)
  local scheme, rest = url:match("^(%a[%w+.-]*)://(.*)$")
  if not scheme then return nil end
  local authority = rest:match("^([^/?#]*)"):gsub("^.*@", "")
  local host = authority:match("^%[(.-)%]") or authority:match("^([^:]*)")
  return scheme:lower(), host and host:lower()
end

local function is_loopback(host)
  if host == "::1" or host == "0:0:0:0:0:0:0:1" then return true end
  local a, b, c, d = host:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then return false end
  for _, n in ipairs{ tonumber(a), tonumber(b), tonumber(c), tonumber(d) } do
    if n > 255 then return false end
  end
  return tonumber(a) == 127
end

--- Whether url may be used as AWS_CONTAINER_CREDENTIALS_FULL_URI.
function provider.allowed(url)
  local scheme, host = host_of(url)
  if scheme == "https" and host and host ~= "" then return true end
  if scheme ~= "http" or not host then return false end
  return is_loopback(host) or ALLOWED[host] == true
end

local function auth_token()
  local path = credentials.nonempty(os.getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"))
  local token
  if path then
    local f, err = io.open(path, "rb")
    if not f then return nil, credentials.error("cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: " .. tostring(err)) end
    token = f:read("*a") or ""
    f:close()
  else
    token = credentials.nonempty(os.getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN"))
  end
  if token and token:find("[\r\n]") then
    return nil, credentials.error("the container authorization token contains a CR or LF")
  end
  return token or false
end

local function fetch_once(ctx, url, token)
  local headers = { Accept = "application/json" }
  if token then headers.Authorization = token end
  -- direct: the token and the keys never pass through a proxy
  local resp, err = http.fetch(ctx.driver, { url = url, headers = headers, timeout = provider.timeout,
    what = "the container credentials endpoint", direct = true })
  if not resp then return nil, err.message end
  if resp.status ~= 200 then
    return nil, "the container credentials endpoint answered HTTP " .. resp.status
  end
  local ok, doc = pcall(cjson.decode, resp.body)
  if not ok or type(doc) ~= "table" then
    return nil, "the container credentials endpoint answered something that is not JSON"
  end
  local id, secret = credentials.nonempty(doc.AccessKeyId), credentials.nonempty(doc.SecretAccessKey)
  local token_v = credentials.nonempty(doc.Token)
  local exp = credentials.parse_time(doc.Expiration)
  if not (id and secret and token_v and exp) then
    return nil, "the container credentials endpoint answered JSON without AccessKeyId, SecretAccessKey, Token and Expiration"
  end
  return credentials.new(id, secret, token_v, provider.name, exp)
end

local function fetch(ctx, url, use_auth)
  local token, terr = false, nil
  if use_auth then
    token, terr = auth_token()
    if token == nil then return nil, terr end
  end
  local why
  for attempt = 1, provider.attempts do
    local creds
    creds, why = fetch_once(ctx, url, token or nil)
    if creds then
      creds.refresh = function(rctx) return fetch(rctx, url, use_auth) end
      return creds
    end
    if attempt < provider.attempts then
      (ctx.driver and ctx.driver.sleep or require("bedrock.core").sleep)(provider.pause)
    end
  end
  return nil, credentials.error(why .. " (" .. provider.attempts .. " attempts)")
end

function provider.load(ctx)
  local rel = credentials.nonempty(os.getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"))
  local full = credentials.nonempty(os.getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI"))
  local url, use_auth
  if rel then
    url, use_auth = provider.BASE .. rel, true
  elseif full then
    if not provider.allowed(full) then
      return nil, nil, credentials.error("AWS_CONTAINER_CREDENTIALS_FULL_URI must use https, or http to a "
        .. "loopback address or one of 169.254.170.2, 169.254.170.23, fd00:ec2::23, localhost: " .. full)
    end
    url, use_auth = full, true
  else
    return nil, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and AWS_CONTAINER_CREDENTIALS_FULL_URI are not set"
  end
  local creds, err = fetch(ctx, url, use_auth)
  if not creds then return nil, nil, err end
  return creds
end

return provider
