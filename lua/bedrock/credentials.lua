--- The credential chain, in botocore's order; the first provider that
-- answers wins (provider protocol: see bedrock.creds). The pieces shared
-- by the providers live in bedrock.creds and are re-exported here.
local base = require "bedrock.creds"
local errors = require "bedrock.errors"

local credentials = {}
for k, v in pairs(base) do credentials[k] = v end

local assume_role = require "bedrock.providers.assume_role"
local web_identity = require "bedrock.providers.web_identity"
local sso = require "bedrock.providers.sso"
local process = require "bedrock.providers.process"
local container = require "bedrock.providers.container"
local imds = require "bedrock.providers.imds"

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
