--- Web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (+
-- AWS_ROLE_SESSION_NAME), or web_identity_token_file / role_arn /
-- role_session_name in the profile (each variable wins over its profile
-- key, as in botocore) -> STS AssumeRoleWithWebIdentity, unsigned. The
-- token file is read again at every refresh: on EKS it rotates.
local credentials = require "bedrock.auth.credentials"
local sts = require "bedrock.auth.sts"

local provider = { name = "web-identity" }

local ENV = {
  web_identity_token_file = "AWS_WEB_IDENTITY_TOKEN_FILE",
  role_arn = "AWS_ROLE_ARN",
  role_session_name = "AWS_ROLE_SESSION_NAME",
}

local function read_token(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, credentials.error("cannot read the web identity token file: " .. tostring(err)) end
  local token = f:read("*a")
  f:close()
  token = token and token:gsub("%s+$", "")
  if not token or token == "" then
    return nil, credentials.error("the web identity token file " .. path .. " is empty")
  end
  return token
end

local function load(ctx)
  local files, err = credentials.files(ctx)
  if not files then return nil, nil, err end
  local p = files.profiles[ctx.profile_name] or {}
  local function get(key)
    if not ctx.env_disabled then
      local v = credentials.nonempty(os.getenv(ENV[key]))
      if v then return v end
    end
    return credentials.nonempty(p[key])
  end
  local token_file = get("web_identity_token_file")
  if not token_file then
    return nil, "no AWS_WEB_IDENTITY_TOKEN_FILE, no web_identity_token_file in profile '" .. ctx.profile_name .. "'"
  end
  local role_arn = get("role_arn")
  if not role_arn then
    return nil, nil, credentials.error("a web identity token file is configured but no role ARN "
      .. "(set AWS_ROLE_ARN or role_arn in the profile)")
  end
  local session_name = get("role_session_name")
  local function fetch(rctx)
    local token, terr = read_token(token_file)
    if not token then return nil, terr end
    local sub = {}
    for k, v in pairs(rctx) do sub[k] = v end
    sub.profile_name = ctx.profile_name
    local creds, serr = sts.assume_role_with_web_identity(sub,
      { role_arn = role_arn, session_name = session_name, token = token })
    if not creds then return nil, serr end
    creds.source = provider.name
    creds.refresh = fetch
    return creds
  end
  local creds
  creds, err = fetch(ctx)
  if not creds then return nil, nil, err end
  return creds
end
provider.load = load

return provider
