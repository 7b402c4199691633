--- The credential providers, tried in order; the first that answers wins.
-- Each provider is { name = ..., load = function(ctx) -> creds | nil, why | nil, nil, err }:
--   creds            this provider answered
--   nil, why         not configured here (the chain moves on, and says why)
--   nil, nil, err    configured but broken (the chain stops: boto3 does too)
-- ctx = { config = validated client config, profile_name = ... }.
-- A later provider (assume role, web identity, SSO, process, container,
-- IMDS) slots into `credentials.chain` at its place.
local errors = require "bedrock.errors"
local profile = require "bedrock.profile"

local credentials = {}

local Creds = { __name = "bedrock.credentials" }
Creds.__index = Creds
function Creds:__tostring()
  -- the key id is not a secret (AWS logs it); the secret and token are
  return string.format("credentials(%s, source=%s%s)", self.access_key_id,
    self.source, self.session_token and ", with session token" or "")
end

function credentials.new(access_key_id, secret_access_key, session_token, source)
  return setmetatable({
    access_key_id = access_key_id,
    secret_access_key = secret_access_key,
    session_token = session_token,
    source = source,
  }, Creds)
end

local function nonempty(s) return type(s) == "string" and s ~= "" and s or nil end

credentials.explicit = {
  name = "explicit",
  load = function(ctx)
    local c = ctx.config
    if c.access_key_id then
      -- explicit keys never pick up a stray AWS_SESSION_TOKEN: only the
      -- session_token given with them
      return credentials.new(c.access_key_id, c.secret_access_key, c.session_token, "explicit")
    end
    return nil, "no access_key_id in the client config"
  end,
}

credentials.environment = {
  name = "environment",
  load = function()
    local id = nonempty(os.getenv("AWS_ACCESS_KEY_ID"))
    local secret = nonempty(os.getenv("AWS_SECRET_ACCESS_KEY"))
    if not id and not secret then
      return nil, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set"
    end
    if not id or not secret then
      return nil, nil, errors.new{ code = "CredentialsError", message =
        "the environment has " .. (id and "AWS_ACCESS_KEY_ID" or "AWS_SECRET_ACCESS_KEY")
        .. " but not " .. (id and "AWS_SECRET_ACCESS_KEY" or "AWS_ACCESS_KEY_ID") }
    end
    local token = nonempty(os.getenv("AWS_SESSION_TOKEN")) or nonempty(os.getenv("AWS_SECURITY_TOKEN"))
    return credentials.new(id, secret, token, "environment")
  end,
}

local function static_keys(section, source, where)
  if not section then return nil, "no profile section in " .. where end
  local id, secret = nonempty(section.aws_access_key_id), nonempty(section.aws_secret_access_key)
  if not id and not secret then return nil, "the profile in " .. where .. " has no static keys" end
  if not id or not secret then
    return nil, nil, errors.new{ code = "CredentialsError", message = "the profile in " .. where
      .. " has " .. (id and "aws_access_key_id" or "aws_secret_access_key") .. " without its pair" }
  end
  return credentials.new(id, secret, nonempty(section.aws_session_token) or nonempty(section.aws_security_token), source)
end

credentials.shared_credentials_file = {
  name = "shared-credentials-file",
  load = function(ctx)
    local path = profile.credentials_path()
    local sections, err = profile.load(path)
    if not sections then return nil, nil, errors.new{ code = "CredentialsError", message = err } end
    return static_keys(sections[ctx.profile_name], "shared-credentials-file",
      path .. " [" .. ctx.profile_name .. "]")
  end,
}

credentials.config_file = {
  name = "config-file",
  load = function(ctx)
    local path = profile.config_path()
    local sections, err = profile.load(path)
    if not sections then return nil, nil, errors.new{ code = "CredentialsError", message = err } end
    return static_keys(profile.config_section(sections, ctx.profile_name), "config-file",
      path .. " [profile " .. ctx.profile_name .. "]")
  end,
}

credentials.chain = {
  credentials.explicit,
  credentials.environment,
  credentials.shared_credentials_file,
  credentials.config_file,
}

--- Walk the chain. Returns creds, or nil, err (CredentialsError naming every
-- provider tried and why it passed).
function credentials.resolve(ctx, chain)
  local passed = {}
  for _, provider in ipairs(chain or credentials.chain) do
    local creds, why, err = provider.load(ctx)
    if creds then return creds end
    if err then return nil, err end
    passed[#passed + 1] = provider.name .. ": " .. tostring(why)
  end
  return nil, errors.new{ code = "CredentialsError",
    message = "no credentials found; tried " .. table.concat(passed, "; ") }
end

return credentials
