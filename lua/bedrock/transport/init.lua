--- The transport seam: the one place that decides how a client does HTTP.
-- Inside nginx (OpenResty, or nginx with lua-nginx-module) in a phase where
-- cosockets work, requests go over ngx.socket.tcp (bedrock.transport.ngx)
-- and waiting yields to nginx; everywhere else they go through the C
-- engine of bedrock.core (bedrock.transport.engine). Clients, streams and the credential
-- providers only ever see a driver (see bedrock.transport.engine for its
-- shape), so retries, credentials, errors and validation are the same code
-- on both.
--
-- The choice is made at each request, not when a client is made: a client
-- built at module load or in init_by_lua* still uses cosockets in the
-- content phase.
local engine = require "bedrock.transport.engine"

local transport = {}

-- Phases of lua-nginx-module whose code may use cosockets.
local cosocket_phases = {
  rewrite = true, server_rewrite = true, access = true, content = true, timer = true,
  ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true, preread = true,
}

--- "ngx" when the calling code can use nginx cosockets, else "engine".
function transport.kind()
  local n = rawget(_G, "ngx")
  if type(n) == "table" and type(n.get_phase) == "function" and type(n.socket) == "table"
      and cosocket_phases[n.get_phase()] then
    return "ngx"
  end
  return "engine"
end

--- Whether the process is an nginx worker at all (whatever the phase).
function transport.in_nginx()
  local n = rawget(_G, "ngx")
  return type(n) == "table" and type(n.get_phase) == "function"
end

-- A driver that asks, at every request, which transport the caller can use.
-- fallback() makes the engine driver for phases without cosockets (init_by_lua*,
-- init_worker_by_lua*, set_by_lua*, log_by_lua*...), where nginx cannot yield.
local function switching(fallback)
  local ngx_transport = require "bedrock.transport.ngx"
  local engine_driver
  local function other()
    engine_driver = engine_driver or fallback()
    return engine_driver
  end
  return {
    engine = function()
      if transport.kind() == "ngx" then return ngx_transport.engine end
      return other().engine()
    end,
    wait = function(x)
      if ngx_transport.owns(x) then return x:wait() end
      return other().wait(x)
    end,
    poke = function()
      if engine_driver and engine_driver.poke then engine_driver.poke() end
    end,
    sleep = function(seconds)
      if transport.kind() == "ngx" then return ngx.sleep(seconds) end
      return other().sleep(seconds)
    end,
    close = function()
      if engine_driver and engine_driver.close then engine_driver.close() end
    end,
    yields = true,   -- waiting lets other work run (nginx requests, or bedrock tasks)
  }
end

--- The driver of a sync client (bedrock.client); cfg: its config (the
-- engine's pool limits).
function transport.sync_driver(cfg)
  if transport.in_nginx() then return switching(function() return engine.sync_driver(cfg) end) end
  return engine.sync_driver(cfg)
end

--- The driver of an async client (bedrock.async_client). Inside nginx an
-- async client is a sync one: every call already yields to nginx, and
-- bedrock.run / bedrock.spawn map onto ngx.thread (bedrock.transport.scheduler).
function transport.async_driver()
  if transport.in_nginx() then return switching(engine.sync_driver) end
  return engine.async_driver
end

--- The driver for HTTP made outside any client (credential providers).
function transport.default_driver()
  if transport.in_nginx() then return switching(engine.sync_driver) end
  return engine.default_driver()
end

return transport
