-- Run the client's credential/region/endpoint resolution in a child Lua
-- with exactly the given environment (spec/support/child.lua) and return
-- what it found: { source, id, token, expiration, region, endpoint,
-- max_retries, retry_mode, err, msg, str }. `pre` is Lua code run first
-- in the child (to tune a provider, say); cfg is a Lua table literal.
local child = require "spec.support.child"

local resolve = {}

local code = [[
local bedrock = require "bedrock"
local ok, c = pcall(bedrock.client, CFG)
if not ok then
  print(cjson.encode{ err = c.code or "raised", msg = c.message or tostring(c), str = tostring(c) })
  return
end
local out = { region = c.config.region_name, endpoint = c.config.endpoint_url,
  max_retries = c.config.max_retries, retry_mode = c.config.retry_mode, auth = c.config.auth,
  client_str = tostring(c), config_str = tostring(c.config) }
local src, err = c:credentials_source()
if src then
  out.source = src
  local creds = c.config.auth == "sigv4" and c:credentials() or nil
  if creds then
    out.id = creds.access_key_id
    out.token = creds.session_token
    out.expiration = creds.expiration
    out.str = tostring(creds)
  end
else
  out.err, out.msg, out.str = err.code, err.message, tostring(err)
end
print(cjson.encode(out))
]]

--- env: the child's whole environment (HOME defaults to `home`, and IMDS
-- is off unless env sets AWS_EC2_METADATA_DISABLED or an IMDS endpoint).
function resolve.run(home, env, cfg, pre)
  local e = {}
  for k, v in pairs(env or {}) do e[k] = v end
  e.HOME = e.HOME or home
  if e.AWS_EC2_METADATA_DISABLED == nil and e.AWS_EC2_METADATA_SERVICE_ENDPOINT == nil then
    e.AWS_EC2_METADATA_DISABLED = "true"
  end
  if e.AWS_EC2_METADATA_DISABLED == false then e.AWS_EC2_METADATA_DISABLED = nil end
  return child.run(e, (pre or "") .. "\nlocal CFG = " .. (cfg or "{}") .. "\n" .. code)
end

return resolve
