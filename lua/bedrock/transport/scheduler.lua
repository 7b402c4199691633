--- The coroutine scheduler behind bedrock.run, bedrock.spawn and the async
-- client. One thread, one engine (bedrock.core's): a task that waits on a
-- transfer yields; the loop pumps the engine and resumes the tasks whose
-- transfers moved, or whose timers fell due.
local compat = require "bedrock.compat"
local core = require "bedrock.core"
local errors = require "bedrock.errors"

local scheduler = {}

local pack, unpack = compat.pack, compat.unpack

local current        -- the loop state while bedrock.run is running
local shared_engine  -- async clients' keep-alive pool, kept across runs

local YIELD = {}     -- what our tasks yield, so a stray yield is recognised

local Task = { __name = "bedrock.task" }
Task.__index = Task

local function ready(S, t) S.ready[#S.ready + 1] = t end

-- PUC-Rio Lua 5.1 cannot suspend a coroutine inside a for loop's iterator,
-- a pcall or a metamethod (LuaJIT and 5.2+ can): say so instead of its
-- "attempt to yield across metamethod/C-call boundary".
local YIELD_LIMITED = _VERSION == "Lua 5.1" and not rawget(_G, "jit")

local function task_error(err)
  if YIELD_LIMITED and type(err) == "string" and err:find("attempt to yield across", 1, true) then
    return errors.new{ code = "InvalidParameter", message = "an async call inside a for loop's iterator, "
      .. "a pcall or a metamethod: PUC-Rio Lua 5.1 cannot suspend a task there (LuaJIT and Lua 5.2+ can; "
      .. "on 5.1 read a stream with stream:next() in a while loop) (" .. err .. ")" }
  end
  return err
end

local function finish(S, t, ok, ...)
  t.done = true
  S.alive = S.alive - 1
  S.by_co[t.co] = nil
  if ok then
    t.results = pack(...)
  else
    t.err = task_error((...))
    S.failed[#S.failed + 1] = t
  end
  for _, j in ipairs(t.joiners) do ready(S, j) end
  t.joiners = {}
end

local function resume(S, t)
  local co = t.co
  local prev = S.running
  S.running = t
  local res = pack(coroutine.resume(co))
  S.running = prev
  if coroutine.status(co) == "dead" then
    finish(S, t, unpack(res, 1, res.n))
  elseif res[2] ~= YIELD then
    -- user code yielded across our task (a coroutine.wrap iterator that
    -- called the async client, say): it cannot be resumed meaningfully
    finish(S, t, false, errors.new{ code = "InvalidParameter", message =
      "a bedrock task yielded a value of its own; async calls must run in the task itself" })
  end
end

local function new_task(S, fn, ...)
  local args = pack(...)
  local t = setmetatable({ joiners = {}, done = false }, Task)
  t.co = coroutine.create(function() return fn(unpack(args, 1, args.n)) end)
  S.by_co[t.co] = t
  S.alive = S.alive + 1
  ready(S, t)
  return t
end

--- The task running now, or raise: async calls need bedrock.run.
function scheduler.current_task(what)
  local co = compat.running()
  local t = current and current.by_co[co]
  if not t then
    error(errors.new{ code = "InvalidParameter", message = (what or "an async call")
      .. " must run inside bedrock.run (in its function or a task it spawned)" }, 3)
  end
  return current, t
end

--- Whether the caller runs as a task of bedrock.run (and so may yield).
function scheduler.in_task()
  local co = compat.running()
  return current ~= nil and current.by_co[co] ~= nil
end

-- The open async clients' pool limits, by a token each client holds (not
-- the client itself, which must stay collectable): the shared engine keeps
-- the largest pool and the shortest idle timeout among them.
local pool_owners, pool_owner_count = {}, 0

local function apply_pool_limits()
  if not shared_engine or pool_owner_count == 0 then return end
  local n, idle = 0, nil
  for _, l in pairs(pool_owners) do
    if l[1] > n then n = l[1] end
    if not idle or l[2] < idle then idle = l[2] end
  end
  shared_engine:limits(n, idle)
end

function scheduler.engine()
  if not shared_engine then
    shared_engine = core.engine()
    apply_pool_limits()
  end
  return shared_engine
end

--- An async client opens: its pool limits join the shared engine's.
function scheduler.attach(token, max_connections, idle_timeout_s)
  if not pool_owners[token] then pool_owner_count = pool_owner_count + 1 end
  pool_owners[token] = { max_connections, idle_timeout_s }
  apply_pool_limits()
end

--- An async client closes (or is collected). The last one releases the
-- shared engine's connections: at once, or as its last transfer ends.
function scheduler.detach(token)
  if not pool_owners[token] then return end
  pool_owners[token] = nil
  pool_owner_count = pool_owner_count - 1
  if pool_owner_count == 0 then
    if shared_engine then shared_engine:release() end
  else
    apply_pool_limits()
  end
end

--- Yield the current task until transfer x changes (an event, headers, end,
-- room for input). Two tasks may wait on one transfer (a duplex session's
-- reader and sender): then the entry is a list.
function scheduler.wait_transfer(x)
  local S, t = scheduler.current_task("waiting on a transfer")
  local id = x:id()
  local w = S.waiters[id]
  if w == nil or w == t then
    S.waiters[id] = t
  elseif getmetatable(w) == Task then
    S.waiters[id] = { w, t }
  else
    local known = false
    for _, o in ipairs(w) do known = known or o == t end
    if not known then w[#w + 1] = t end
  end
  coroutine.yield(YIELD)
end

function scheduler.sleep(seconds)
  local S, t = scheduler.current_task("bedrock sleep")
  if seconds <= 0 then
    ready(S, t)
  else
    S.timers[#S.timers + 1] = { at = core.now() + seconds, task = t }
  end
  coroutine.yield(YIELD)
end

function scheduler.spawn(fn, ...)
  if type(fn) ~= "function" then
    error(errors.invalid("bedrock.spawn needs a function"), 2)
  end
  local S = scheduler.current_task("bedrock.spawn")
  return new_task(S, fn, ...)
end

--- Wait for a task: its results, or its error raised here.
function Task:wait()
  local S, me = scheduler.current_task("task:wait")
  self.joined = true
  while not self.done do
    self.joiners[#self.joiners + 1] = me
    coroutine.yield(YIELD)
  end
  if self.err ~= nil then error(self.err, 0) end
  return unpack(self.results, 1, self.results.n)
end

--- Whether the task has ended (returned or raised).
function Task:is_done() return self.done end

local function loop(S, engine)
  local ids = {}
  while true do
    while #S.ready > 0 do
      local q = S.ready
      S.ready = {}
      for i = 1, #q do
        if not q[i].done then resume(S, q[i]) end
      end
    end
    if S.alive == 0 then return end

    local now = core.now()
    local wait_ms = 1000
    for _, tm in ipairs(S.timers) do
      local ms = math.ceil((tm.at - now) * 1000)
      if ms < wait_ms then wait_ms = ms end
    end
    if wait_ms < 0 then wait_ms = 0 end

    if next(S.waiters) ~= nil then
      local _, n = engine:pump(wait_ms, ids)
      for i = 1, n do
        local t = S.waiters[ids[i]]
        if t then
          S.waiters[ids[i]] = nil
          if getmetatable(t) == Task then
            ready(S, t)
          else
            for _, w in ipairs(t) do ready(S, w) end
          end
        end
      end
    elseif #S.timers > 0 then
      core.sleep(wait_ms / 1000)
    else
      error(errors.new{ code = "InvalidParameter", message =
        "every task is waiting on another task and nothing is in flight (deadlock)" }, 0)
    end

    if #S.timers > 0 then
      now = core.now()
      local keep = {}
      for _, tm in ipairs(S.timers) do
        if tm.at <= now then ready(S, tm.task) else keep[#keep + 1] = tm end
      end
      S.timers = keep
    end
  end
end

--- Run fn as a task, with every task it spawns, to the end. Returns fn's
-- results; raises fn's error, or the error of a spawned task that nobody
-- waited for (no failure passes silently).
function scheduler.run(fn, ...)
  if type(fn) ~= "function" then
    error(errors.invalid("bedrock.run needs a function"), 2)
  end
  if current then
    error(errors.invalid("bedrock.run cannot be nested"), 2)
  end
  local S = { ready = {}, timers = {}, waiters = {}, by_co = {}, alive = 0, failed = {} }
  current = S
  local main = new_task(S, fn, ...)
  local ok, err = pcall(loop, S, scheduler.engine())
  current = nil
  if not ok then error(err, 0) end
  if main.err ~= nil then error(main.err, 0) end
  for _, t in ipairs(S.failed) do
    if not t.joined and t ~= main then error(t.err, 0) end
  end
  return unpack(main.results, 1, main.results.n)
end

return scheduler
