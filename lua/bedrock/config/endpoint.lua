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
  local name = "AWS_ENDPOINT_URL_" .. env_id
  local v = nonempty(os.getenv(name))
  if v then return v, name end
  v = nonempty(os.getenv("AWS_ENDPOINT_URL"))
  if v then return v, "AWS_ENDPOINT_URL" end
  local p = files and files.profiles[profile_name]
  if not p then return nil end
  local services_name = type(p.services) == "string" and p.services or nil
  if services_name then
    local section = profile.named_sections(files.config, "services")[services_name]
    local key = service_id:lower():gsub("[%s%-]", "_")
    local sub = section and section[key]
    if type(sub) == "table" and nonempty(sub.endpoint_url) then
      return sub.endpoint_url, "the endpoint_url of [services " .. services_name .. "] " .. key
    end
  end
  v = profile.get(files, profile_name, "endpoint_url")
  if v then return v, "the endpoint_url of profile '" .. profile_name .. "'" end
  return nil
end

--- Check an endpoint URL from `field` (a config key, a variable, a
-- profile setting): http:// or https://, a host (a name, an IPv4 address
-- or a bracketed IPv6 one) and an optional port, then an optional path
-- prefix. Refused: whitespace and control characters, userinfo (a
-- password in a URL ends up in logs and tostring), a query and a fragment
-- (the client appends /model/... to the URL: a '?' or '#' would swallow the
-- path). Returns the URL without trailing slashes, or nil and a message
-- that names the field and never repeats the URL.
function endpoint.check(url, field)
  local function bad(why) return nil, field .. " " .. why end
  if url:find("[%c%s]") then return bad("contains whitespace or a control character") end
  local scheme, rest = url:match("^(%a[%w+.-]*)://(.*)$")
  if not scheme or (scheme ~= "http" and scheme ~= "https") then
    return bad("must start with http:// or https:// and name a host")
  end
  local authority = rest:match("^[^/?#]*")
  if authority:find("@", 1, true) then
    return bad("must not hold a user name or password (user:password@host)")
  end
  if url:find("?", 1, true) then return bad("must not hold a query ('?...')") end
  if url:find("#", 1, true) then return bad("must not hold a fragment ('#...')") end
  local host, port = authority:match("^(%[[%x:.]+%])(.*)$")
  if not host then host, port = authority:match("^([%w._~%%-]+)(.*)$") end
  if not host or not (port == "" or port:match("^:%d+$")) then
    return bad("must name a host (and optionally a :port) after " .. scheme .. "://")
  end
  if port ~= "" and (tonumber(port:sub(2)) < 1 or tonumber(port:sub(2)) > 65535) then
    return bad("has a port out of range")
  end
  return (url:gsub("/+$", ""))
end

--- A URL for tostring: any userinfo replaced (config.build refuses it, so
-- this is the second line of defence).
function endpoint.redact(url)
  if type(url) ~= "string" then return tostring(url) end
  return (url:gsub("^(%a[%w+.-]*://)[^/?#]*@", "%1<redacted>@"))
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
-- Returns the URL, or nil and a message when the configured one is bad.
function endpoint.service(files, profile_name, service_id, prefix, region)
  local v, from = endpoint.configured(files, profile_name, service_id)
  if v then return endpoint.check(v, "the configured " .. service_id .. " endpoint URL from " .. from) end
  local fips, dualstack = endpoint.variants(files, profile_name)
  return endpoint.from_rules(prefix, region, fips, dualstack)
end

return endpoint
