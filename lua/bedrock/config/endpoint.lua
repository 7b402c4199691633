--- Endpoints as the AWS SDKs resolve them: a configured endpoint (code,
-- AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, the profile's services
-- section, the profile's endpoint_url), unless
-- AWS_IGNORE_CONFIGURED_ENDPOINT_URLS / ignore_configured_endpoint_urls;
-- else the service's rule: FIPS and dual-stack variants over the region's
-- partition (botocore's partitions.json and the endpoint rule sets).
local profile = require "bedrock.config.profile"

local endpoint = {}

-- Partitions in the order their region patterns are tried; "aws" catches
-- the rest, as botocore's aws.partition does for unknown regions.
local partitions = {
  { pattern = "^cn%-%w+%-%d+$", dns = "amazonaws.com.cn", dualstack = "api.amazonwebservices.com.cn" },
  { pattern = "^eusc%-de%-%w+%-%d+$", dns = "amazonaws.eu", dualstack = "api.amazonwebservices.eu" },
  { pattern = "^us%-iso%-%w+%-%d+$", dns = "c2s.ic.gov", dualstack = "api.aws.ic.gov" },
  { pattern = "^us%-isob%-%w+%-%d+$", dns = "sc2s.sgov.gov", dualstack = "api.aws.scloud" },
  { pattern = "^eu%-isoe%-%w+%-%d+$", dns = "cloud.adc-e.uk", dualstack = "api.cloud-aws.adc-e.uk" },
  { pattern = "^us%-isof%-%w+%-%d+$", dns = "csp.hci.ic.gov", dualstack = "api.aws.hci.ic.gov" },
  { pattern = "^us%-gov%-%w+%-%d+$", dns = "amazonaws.com", dualstack = "api.aws" },
}
local aws = { dns = "amazonaws.com", dualstack = "api.aws" }

function endpoint.partition(region)
  for _, p in ipairs(partitions) do
    if region:match(p.pattern) then return p end
  end
  return aws
end

local function nonempty(s) return type(s) == "string" and s ~= "" and s or nil end

--- botocore's ensure_boolean: true, or the string "true" in any case.
function endpoint.boolean(v)
  if v == true then return true end
  return type(v) == "string" and v:lower() == "true"
end

--- A setting from the environment, then the profile (nil when neither).
function endpoint.setting(files, profile_name, env_name, key)
  local v = nonempty(os.getenv(env_name))
  if v then return v end
  return profile.get(files, profile_name, key)
end

--- The endpoint configured outside code for a service, or nil.
-- service_id is the SDK's service id ("Bedrock Runtime", "STS", "SSO").
function endpoint.configured(files, profile_name, service_id)
  local ignore = endpoint.setting(files, profile_name, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "ignore_configured_endpoint_urls")
  if endpoint.boolean(ignore) then return nil end
  local env_id = service_id:upper():gsub("[%s%-]", "_")
  local v = nonempty(os.getenv("AWS_ENDPOINT_URL_" .. env_id)) or nonempty(os.getenv("AWS_ENDPOINT_URL"))
  if v then return v end
  local p = files and files.profiles[profile_name]
  if not p then return nil end
  local services_name = type(p.services) == "string" and p.services or nil
  if services_name then
    local section = profile.named_sections(files.config, "services")[services_name]
    local key = service_id:lower():gsub("[%s%-]", "_")
    local sub = section and section[key]
    if type(sub) == "table" and nonempty(sub.endpoint_url) then return sub.endpoint_url end
  end
  return profile.get(files, profile_name, "endpoint_url")
end

--- FIPS and dual-stack flags: environment, then profile.
function endpoint.variants(files, profile_name)
  return endpoint.boolean(endpoint.setting(files, profile_name, "AWS_USE_FIPS_ENDPOINT", "use_fips_endpoint")),
    endpoint.boolean(endpoint.setting(files, profile_name, "AWS_USE_DUALSTACK_ENDPOINT", "use_dualstack_endpoint"))
end

--- The rule-set endpoint of `prefix` ("bedrock-runtime", "sts", "portal.sso")
-- in region, with FIPS and dual-stack variants.
function endpoint.from_rules(prefix, region, fips, dualstack)
  local p = endpoint.partition(region)
  local host = prefix
  if fips then
    -- only the first label takes the suffix: bedrock-runtime-fips, sts-fips
    host = prefix:gsub("^([^.]+)", "%1-fips")
  end
  return "https://" .. host .. "." .. region .. "." .. (dualstack and p.dualstack or p.dns)
end

--- Endpoint of an AWS service the credential providers call (STS, the SSO
-- portal): configured, else the rule.
function endpoint.service(files, profile_name, service_id, prefix, region)
  local v = endpoint.configured(files, profile_name, service_id)
  if v then return (v:gsub("/+$", "")) end
  local fips, dualstack = endpoint.variants(files, profile_name)
  return endpoint.from_rules(prefix, region, fips, dualstack)
end

return endpoint
