--- The credentials a client signs with, resolved on first use and
-- refreshed ahead of expiry as botocore does: in the advisory window (15
-- min before expiry) one caller refreshes while the others keep signing
-- with the current keys, and a failed refresh keeps them; in the mandatory
-- window (10 min before) everyone waits for the refresh and its failure is
-- an error. Single-flight: in an async client a refresh runs as one
-- scheduler task that every caller who needs it waits on, so 100 tasks
-- needing fresh keys at once cause one STS or IMDS call, and none of them
-- signs with keys in the mandatory window. Inside nginx the same holds for
-- the requests of a worker (nginx_flight).
local compat = require "bedrock.compat"
local credentials = require "bedrock.auth.chain"
local scheduler = require "bedrock.transport.scheduler"
local transport = require "bedrock.transport"

local credcache = {}

credcache.ADVISORY = 15 * 60
credcache.MANDATORY = 10 * 60

local Cache = { __name = "bedrock.credcache" }
Cache.__index = Cache

--- A cache for one client. make_ctx() gives a fresh resolution context.
function credcache.new(make_ctx)
  return setmetatable({ make_ctx = make_ctx, refreshes = 0 }, Cache)
end

local function remaining(c, now)
  if not c.expiration then return math.huge end
  return c.expiration - now
end

-- Resolve or refresh (in the caller, or in the flight task): creds | nil, err.
function Cache:work(current, mandatory)
  local ctx = self.make_ctx()
  local fresh, err
  if current and current.refresh then
    fresh, err = current.refresh(ctx)
    if fresh then fresh.source = fresh.source or current.source end
  else
    fresh, err = credentials.resolve(ctx)
  end
  if fresh and fresh.expiration and fresh.expiration <= os.time() then
    fresh, err = nil, credentials.error("the credentials from " .. tostring(fresh.source)
      .. " are already expired (" .. os.date("!%Y-%m-%dT%H:%M:%SZ", fresh.expiration) .. ")")
  end
  if current then self.refreshes = self.refreshes + 1 end
  if fresh then
    self.creds = fresh
    return fresh
  end
  if current and not mandatory then return current end  -- advisory: keep the keys we have
  return nil, err
end

local function in_task()
  return (pcall(scheduler.current_task))
end

-- Inside nginx the requests a worker serves share its clients: the request
-- that needs a refresh first runs it, the others wait for its result (each
-- wait is an ngx.sleep, so the worker goes on serving).
local function nginx_flight(self, c, mandatory)
  local flight = { done = false }
  function flight.wait()
    while not flight.done do ngx.sleep(0.005) end
    return flight.creds, flight.err
  end
  self.flight = flight
  local ok, fresh, err = pcall(self.work, self, c, mandatory)
  if not ok then fresh, err = nil, credentials.error(tostring(fresh)) end
  flight.creds, flight.err, flight.done = fresh, err, true
  if self.flight == flight then self.flight = nil end
  return fresh, err
end

--- creds | nil, err
function Cache:get()
  local c = self.creds
  local now = os.time()
  if c and remaining(c, now) > credcache.ADVISORY then return c end
  if self.flight then
    if c and remaining(c, now) > credcache.MANDATORY then return c end
    return self.flight:wait()
  end
  local mandatory = not c or remaining(c, now) <= credcache.MANDATORY
  if not in_task() then
    if transport.kind() == "ngx" then return nginx_flight(self, c, mandatory) end
    return self:work(c, mandatory)
  end
  local flight
  flight = scheduler.spawn(function()
    local ok, fresh, err = compat.pcall(self.work, self, c, mandatory)   -- it may wait (HTTP, a process)
    if self.flight == flight then self.flight = nil end
    if not ok then return nil, credentials.error(tostring(fresh)) end
    return fresh, err
  end)
  self.flight = flight
  return flight:wait()
end

return credcache
