--- The engine transport: drivers over the C engine (bedrock.core's
-- engine(): our HTTP/1.1 client, and libcurl once a request needs it). A
-- driver is how a client gets an engine and waits on a transfer:
--   engine()  -> an object with request(opts) -> transfer | nil, message
--   wait(x)   -> returns once transfer x moved (or after a while)
--   poke()    -> moves queued input without waiting (duplex sends), optional
--   sleep(s), close()
-- A sync driver owns an engine and pumps it; the async driver yields its
-- task to the scheduler, which pumps the engine all async clients share.
-- bedrock.transport picks between these and the nginx cosocket transport.
local scheduler = require "bedrock.transport.scheduler"

local engine_transport = {}

local core_module  -- bedrock.core, loaded on first use
local function core()
  core_module = core_module or require("bedrock.core")
  return core_module
end

--- The pool limits of a client config as engine:limits takes them: a
-- count, and whole seconds.
function engine_transport.pool_limits(cfg)
  return cfg.max_pool_connections, math.max(1, math.ceil(cfg.idle_connection_timeout))
end

--- A sync client's driver: an engine of its own, made on first use, with
-- the pool limits of cfg (a client config; none for the providers' HTTP).
function engine_transport.sync_driver(cfg)
  local engine
  local function get()
    if not engine then
      engine = core().engine()
      if cfg then engine:limits(engine_transport.pool_limits(cfg)) end
    end
    return engine
  end
  return {
    engine = get,
    -- one pump: returns once anything moved (or a second passed)
    wait = function() get():pump(1000) end,
    -- move queued input on its way without waiting (a duplex session's send)
    poke = function() get():pump(0) end,
    sleep = function(seconds) return core().sleep(seconds) end,
    close = function() if engine then engine:close() end end,
  }
end

engine_transport.async_driver = {
  engine = function()
    scheduler.current_task("an async client call")
    return scheduler.engine()
  end,
  wait = scheduler.wait_transfer,
  sleep = scheduler.sleep,
  close = function() end,  -- the shared engine outlives any one client
}

--- A driver for code that runs outside any client (the credential
-- providers' own HTTP): inside a bedrock task it waits through the
-- scheduler, elsewhere it pumps a private engine.
function engine_transport.default_driver()
  if scheduler.in_task() then
    return { engine = scheduler.engine, wait = scheduler.wait_transfer, sleep = scheduler.sleep }
  end
  local d = engine_transport.sync_driver()
  d.close = nil
  return d
end

return engine_transport
