--- Assume role from a profile: role_arn with source_profile (chains of
-- profiles, each resolved with the profile providers) or credential_source
-- (Environment, Ec2InstanceMetadata, EcsContainer); external_id,
-- role_session_name, duration_seconds. STS AssumeRole is signed with the
-- source credentials. mfa_serial needs a prompt, which a library cannot
-- show: it is a clear error. A cycle of source profiles is an error; a
-- profile naming itself as source_profile uses its own static keys, as in
-- botocore.
local compat = require "bedrock.compat"
local credentials = require "bedrock.auth.credentials"
local sts = require "bedrock.auth.sts"

local provider = { name = "assume-role" }

local function has_static(p)
  return p.aws_access_key_id ~= nil or p.aws_secret_access_key ~= nil
end

local function is_role_profile(p)
  return p.role_arn ~= nil and p.web_identity_token_file == nil
end

local sources = {
  Environment = function()
    local creds, why, err = credentials.load_environment()
    return creds, err or (why and credentials.error("credential_source Environment: " .. why))
  end,
  Ec2InstanceMetadata = function(ctx)
    local creds, why, err = require("bedrock.auth.providers.imds").load(ctx)
    return creds, err or (why and credentials.error("credential_source Ec2InstanceMetadata: " .. why))
  end,
  EcsContainer = function(ctx)
    local creds, why, err = require("bedrock.auth.providers.container").load(ctx)
    return creds, err or (why and credentials.error("credential_source EcsContainer: " .. why))
  end,
}

local assume

-- Credentials of source profile `name` (reached from `parent`).
local function from_profile(ctx, files, name, visited)
  local p = files.profiles[name]
  if has_static(p) or not is_role_profile(p) then
    local sub = credentials.for_profile(ctx, name)
    local chain = require "bedrock.auth.chain"  -- the chain module requires this one
    local creds, err = chain.resolve(sub, chain.profile_chain)
    if not creds then
      if err and err.message:find("^no credentials found") then
        return nil, credentials.error("the source profile '" .. name .. "' has no credentials ("
          .. err.message:gsub("^no credentials found; ", "") .. ")")
      end
      return nil, err
    end
    return creds
  end
  return assume(ctx, files, name, visited)
end

assume = function(ctx, files, name, visited)
  local p = files.profiles[name]
  local src, csrc = p.source_profile, p.credential_source
  if src and csrc then
    return nil, credentials.error("the profile '" .. name .. "' has both source_profile and credential_source")
  end
  if not src and not csrc then
    return nil, credentials.error("the profile '" .. name .. "' has role_arn but neither source_profile nor credential_source")
  end
  if p.mfa_serial then
    return nil, credentials.error("the profile '" .. name .. "' needs an MFA code (mfa_serial); "
      .. "lua-bedrock cannot prompt for it: get session credentials first (aws sts get-session-token) "
      .. "or use a profile without mfa_serial")
  end
  local duration
  if p.duration_seconds then
    duration = compat.tointeger(tonumber(p.duration_seconds))
  end
  local source, err
  if csrc then
    local fn = sources[csrc]
    if not fn then
      return nil, credentials.error("the credential_source '" .. csrc .. "' of profile '" .. name
        .. "' is not one of Environment, Ec2InstanceMetadata, EcsContainer")
    end
    source, err = fn(ctx)
  else
    if not files.profiles[src] then
      return nil, credentials.error("the source_profile '" .. src .. "' of profile '" .. name .. "' does not exist")
    end
    if visited[src] and not (src == name and has_static(files.profiles[src])) then
      local path = {}
      for _, v in ipairs(visited) do path[#path + 1] = v end
      path[#path + 1] = src
      return nil, credentials.error("the source_profile chain loops: " .. table.concat(path, " -> "))
    end
    visited[src] = true
    visited[#visited + 1] = src
    if src == name then
      local why
      source, why, err = credentials.static_keys(p, "shared-credentials-file", "profile " .. name)
      err = err or (why and credentials.error(why))
    else
      source, err = from_profile(ctx, files, src, visited)
    end
  end
  if not source then return nil, err end
  local creds
  creds, err = sts.assume_role(ctx, { role_arn = p.role_arn, session_name = p.role_session_name,
    external_id = p.external_id, duration_seconds = duration, source = source })
  if not creds then return nil, err end
  return creds
end

local function load(ctx)
  local files, err = credentials.files(ctx)
  if not files then return nil, nil, err end
  local p = files.profiles[ctx.profile_name]
  if not p or not is_role_profile(p) then
    return nil, "no role_arn in profile '" .. ctx.profile_name .. "'"
  end
  local name = ctx.profile_name
  local creds
  creds, err = assume(ctx, files, name, { [name] = true, name })
  if not creds then return nil, nil, err end
  creds.source = provider.name
  creds.refresh = function(rctx)
    local sub = credentials.for_profile(rctx, name)
    sub.env_disabled = rctx.env_disabled
    sub.files = nil
    local fresh, why, ferr = load(sub)
    return fresh, ferr or (not fresh and credentials.error(tostring(why))) or nil
  end
  return creds
end
provider.load = load

return provider
