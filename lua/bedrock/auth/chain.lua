--- The credential chain, in botocore's order; the first provider that
-- answers wins (provider protocol: see bedrock.auth.credentials). The pieces shared
-- by the providers live in bedrock.auth.credentials and are re-exported here.
local base = require "bedrock.auth.credentials"
local errors = require "bedrock.errors"

local credentials = {}
for k, v in pairs(base) do credentials[k] = v end

-- The providers past the environment are loaded when the chain first
-- reaches one (most programs stop at explicit keys or the environment, and
-- these modules, with STS and the HTTP helper behind them, are ~85 KiB of
-- Lua heap). Each stands in for its module: any field read or written goes
-- to the module, loaded then.
local function lazy(modname)
  return setmetatable({}, {
    __index = function(_, k) return require(modname)[k] end,
    __newindex = function(_, k, v) require(modname)[k] = v end,
  })
end

local assume_role = lazy "bedrock.auth.providers.assume_role"
local web_identity = lazy "bedrock.auth.providers.web_identity"
local sso = lazy "bedrock.auth.providers.sso"
local process = lazy "bedrock.auth.providers.process"
local container = lazy "bedrock.auth.providers.container"
local imds = lazy "bedrock.auth.providers.imds"

credentials.assume_role = assume_role
credentials.web_identity = web_identity
credentials.sso = sso
credentials.process = process
credentials.container = container
credentials.imds = imds

--- The providers that read one profile, in botocore's order (the chain's
-- middle, and the chain a source_profile is resolved with).
credentials.profile_chain = {
  web_identity,
  sso,
  credentials.shared_credentials_file,
  process,
  credentials.config_file,
}

credentials.chain = {
  credentials.explicit,
  credentials.environment,
  assume_role,
  web_identity,
  sso,
  credentials.shared_credentials_file,
  process,
  credentials.config_file,
  container,
  imds,
}

--- Walk a chain. Returns creds, or nil, err (CredentialsError naming every
-- provider tried and why it passed).
function credentials.resolve(ctx, chain)
  local passed = {}
  for _, provider in ipairs(chain or credentials.chain) do
    local creds, why, err = provider.load(ctx)
    if creds then return creds end
    if err then
      if not errors.is(err) then err = credentials.error(tostring(err)) end
      err.provider = err.provider or provider.name
      return nil, err
    end
    passed[#passed + 1] = provider.name .. ": " .. tostring(why)
  end
  if ctx.profile_name ~= "default" and (chain == nil or chain == credentials.chain) then
    local files = credentials.files(ctx)
    if files and not files.profiles[ctx.profile_name] then
      table.insert(passed, 1, "the profile '" .. ctx.profile_name .. "' is in neither "
        .. files.config_path .. " nor " .. files.credentials_path)
    end
  end
  return nil, credentials.error("no credentials found; tried " .. table.concat(passed, "; "))
end

return credentials
