--- One small HTTP exchange for the credential providers (STS, IMDS, the
-- container endpoint, the SSO portal), over the caller's transport (the
-- C engine, or nginx's cosockets inside nginx: bedrock.transport).
-- The caller's driver decides how to wait: a sync client pumps its
-- own engine; an async client yields its task to the scheduler, so other
-- tasks keep running while the credentials are fetched.
local errors = require "bedrock.errors"
local transport = require "bedrock.transport"

local http = {}

-- Credential documents are a few hundred bytes: a hostile endpoint cannot
-- make the process hold more than this.
http.MAX_BODY = 1024 * 1024

--- A driver for code that runs outside any client (bedrock.transport picks
-- it: a bedrock task's scheduler, a private libcurl engine, or nginx's
-- cosockets).
function http.default_driver()
  return transport.default_driver()
end

--- fetch(driver, { method, url, headers = { name = value }, body, timeout, direct })
-- -> { status, headers, body } | nil, err (ConnectionError or TimeoutError,
-- with err.phase "connect" or "read"). Any HTTP status is a response.
-- `timeout` (seconds) bounds the connect and the whole exchange. `direct`:
-- never through a proxy, whatever http_proxy / all_proxy say (the
-- instance's and the container's credential endpoints).
function http.fetch(driver, req)
  driver = driver or http.default_driver()
  local lines = {}
  for k, v in pairs(req.headers or {}) do lines[#lines + 1] = k .. ": " .. v end
  -- curl adds "Expect: 100-continue" to larger bodies; STS and the fakes do
  -- not need the extra round trip
  lines[#lines + 1] = "Expect:"
  local ms = math.floor((req.timeout or 5) * 1000 + 0.5)
  local x, xerr = driver.engine():request{
    method = req.method or "GET", url = req.url, headers = lines, body = req.body,
    connect_timeout_ms = ms, total_timeout_ms = ms, idle_timeout_ms = ms,
    no_proxy = req.direct,
    max_body_bytes = http.MAX_BODY,
  }
  if not x then return nil, errors.invalid(tostring(xerr)) end
  while x:state() == "running" do driver.wait(x) end
  if x:state() == "failed" then
    local code, detail, sub = x:error()
    local err = errors.new{ code = code or "ConnectionError",
      message = (req.what or req.url) .. ": " .. tostring(detail or "the transfer failed") }
    if code == "TimeoutError" then err.phase = sub end
    x:close()
    return nil, err
  end
  local resp = { status = (x:status()), headers = x:headers(), body = x:body() }
  x:close()
  return resp
end

return http
