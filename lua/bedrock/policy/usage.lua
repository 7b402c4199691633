--- The usage ledger of a client, its budget and the on_usage hook.
--
-- Every call that reports tokens adds them here, per model id: invoke_model
-- (the X-Amzn-Bedrock-*-Token-Count response headers), its stream (the last
-- chunk's amazon-bedrock-invocationMetrics), converse (the body's usage) and
-- converse_stream (the metadata event's usage).
--
-- A budget is checked before a model is called: when any of its limits is
-- reached, the call fails before sending with code "BudgetExceeded". A
-- stream that crosses a limit while it runs is allowed to finish; the next
-- call fails. Checking and recording never yield, so under the async client
-- (coroutines on one thread) tasks cannot interleave inside either, and the
-- totals stay exact however many calls run at once.
--
-- A client's ledger is `client.ledger`; `Client:usage` and `Client:reset_usage` are its
-- snapshot and reset. `Ledger:*` are its methods.
-- @module bedrock.policy.usage
local compat = require "bedrock.compat"
local errors = require "bedrock.errors"

--- The config key `budget` (all keys optional).
-- @table budget
-- @field max_input_tokens a non-negative integer
-- @field max_output_tokens a non-negative integer
-- @field max_total_tokens a non-negative integer (input, output and cache tokens added up)
-- @field max_cost a non-negative number (in the currency of `prices`)
-- @field prices `{ [model_id] = { input, output, cache_read, cache_write } }`, per 1000 tokens;
-- `input` and `output` are required, cache tokens cost the input price unless given

--- What `on_usage(u)` receives after each recorded call (also `Ledger:record`'s result).
-- @table record
-- @field model_id
-- @field operation `InvokeModel`, `Converse`, `ConverseStream`, ...
-- @field input_tokens
-- @field output_tokens
-- @field cache_read_input_tokens
-- @field cache_write_input_tokens
-- @field total_tokens all four added up
-- @field cost when the model is priced
-- @field request_id
-- @field latency_ms


local usage = {}

--- The token counts a ledger keeps, in order.
usage.TOKEN_FIELDS = { "input_tokens", "output_tokens", "cache_read_input_tokens",
  "cache_write_input_tokens", "total_tokens" }

local function zero()
  return { input_tokens = 0, output_tokens = 0, cache_read_input_tokens = 0,
    cache_write_input_tokens = 0, total_tokens = 0, requests = 0, cost = 0 }
end

local Ledger = { __name = "bedrock.usage" }
Ledger.__index = Ledger

--- A new ledger. budget and on_usage come from the validated config.
function usage.new(budget, on_usage)
  return setmetatable({ budget = budget, on_usage = on_usage, models = {}, total = zero() }, Ledger)
end

local limits = {
  { "max_input_tokens", "input_tokens", "input tokens" },
  { "max_output_tokens", "output_tokens", "output tokens" },
  { "max_total_tokens", "total_tokens", "tokens in all" },
  { "max_cost", "cost", "spent" },
}

--- Whether a call to model_id may start: true, or nil, err (BudgetExceeded;
-- InvalidParameter when max_cost is set and the model has no price).
function Ledger:admit(model_id)
  local b = self.budget
  if not b then return true end
  if b.max_cost and not (b.prices and b.prices[model_id]) then
    return nil, errors.new{ code = "InvalidParameter", message = "budget.max_cost is set but budget.prices has no "
      .. "price for model '" .. tostring(model_id) .. "'" }
  end
  local t = self.total
  for _, l in ipairs(limits) do
    local max = b[l[1]]
    if max and t[l[2]] >= max then
      return nil, errors.new{ code = "BudgetExceeded", limit = l[1], max = max, used = t[l[2]],
        model_id = model_id,
        message = string.format("budget.%s (%s) is spent: %s %s; the call to %s was not sent",
          l[1], tostring(max), tostring(t[l[2]]), l[3], tostring(model_id)) }
    end
  end
  return true
end

local function count(v)
  if v == nil then return 0 end  -- an absent count, the usual cache fields
  v = tonumber(v)
  if not v or v ~= v or v < 0 or v == math.huge then return 0 end
  return compat.tointeger(v) or v
end

--- Cost of one call's tokens at prices p (per 1000 tokens); cache tokens at
-- their own price when given, else at the input price.
local function cost_of(p, input_tokens, output_tokens, cache_read, cache_write)
  if not p then return nil end
  local input = p.input or 0
  return (input_tokens * input + output_tokens * (p.output or 0)
    + cache_read * (p.cache_read or input)
    + cache_write * (p.cache_write or input)) / 1000
end

--- The cost of usage u at prices p (per 1000 tokens); cache tokens at their own price when
-- given, else at the input price.
-- @tparam table p `{ input, output, cache_read, cache_write }`
-- @tparam table u token counts, as a `record`
-- @treturn number
function usage.cost(p, u)
  if not p then return nil end
  return cost_of(p, u.input_tokens, u.output_tokens, u.cache_read_input_tokens, u.cache_write_input_tokens)
end

-- acc += one call, field by field (usage.TOKEN_FIELDS, requests, cost):
-- unrolled, since every call that reports usage comes through here.
local function add(acc, input, output, cache_read, cache_write, total, cost)
  acc.input_tokens = acc.input_tokens + input
  acc.output_tokens = acc.output_tokens + output
  acc.cache_read_input_tokens = acc.cache_read_input_tokens + cache_read
  acc.cache_write_input_tokens = acc.cache_write_input_tokens + cache_write
  acc.total_tokens = acc.total_tokens + total
  acc.requests = acc.requests + 1
  acc.cost = acc.cost + (cost or 0)
end

-- Add the counts to the model's and the total accumulators: the cost.
local function tally(self, model_id, input, output, cache_read, cache_write, total)
  local prices = self.budget and self.budget.prices
  local cost = cost_of(prices and prices[model_id], input, output, cache_read, cache_write)
  local m = self.models[model_id]
  if not m then
    m = zero()
    self.models[model_id] = m
  end
  add(m, input, output, cache_read, cache_write, total, cost)
  add(self.total, input, output, cache_read, cache_write, total, cost)
  return cost
end

--- Add one call's usage. u: { input_tokens, output_tokens,
-- cache_read_input_tokens, cache_write_input_tokens } (missing = 0).
-- info: { operation, request_id, latency_ms } for the hook. Returns the
-- entry given to on_usage (which runs last; an error it raises propagates).
function Ledger:record(model_id, u, info)
  u = u or {}
  local input, output = count(u.input_tokens), count(u.output_tokens)
  local cache_read, cache_write = count(u.cache_read_input_tokens), count(u.cache_write_input_tokens)
  -- one constructor with every field (the table is sized once, no rehash)
  local e = {
    model_id = model_id,
    input_tokens = input,
    output_tokens = output,
    cache_read_input_tokens = cache_read,
    cache_write_input_tokens = cache_write,
    total_tokens = input + output + cache_read + cache_write,
    operation = info and info.operation,
    request_id = info and info.request_id,
    latency_ms = info and info.latency_ms,
  }
  e.cost = tally(self, model_id, input, output, cache_read, cache_write, e.total_tokens)
  if self.on_usage then self.on_usage(e) end
  return e
end

--- record() for a caller that does not need the entry: with no on_usage
-- hook, the counts are added and no entry is built.
function Ledger:add(model_id, u, info)
  if self.on_usage then return self:record(model_id, u, info) end
  u = u or {}
  local input, output = count(u.input_tokens), count(u.output_tokens)
  local cache_read, cache_write = count(u.cache_read_input_tokens), count(u.cache_write_input_tokens)
  tally(self, model_id, input, output, cache_read, cache_write, input + output + cache_read + cache_write)
end

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

--- A copy of the ledger: { total = {...}, models = { [model_id] = {...} } },
-- each with input_tokens, output_tokens, cache_read_input_tokens,
-- cache_write_input_tokens, total_tokens, requests and cost.
function Ledger:snapshot()
  local models = {}
  for id, m in pairs(self.models) do models[id] = copy(m) end
  return { total = copy(self.total), models = models }
end

--- Start again from nothing (so does the budget).
function Ledger:reset()
  self.models = {}
  self.total = zero()
end

-- lua-cjson decodes every number as a float: counts become integers again
local function int(v)
  if type(v) ~= "number" then return nil end
  return compat.tointeger(v) or v
end

--- Usage of a decoded Converse `usage` table (camelCase) in ledger names.
function usage.from_converse(u)
  if type(u) ~= "table" then return nil end
  return { input_tokens = int(u.inputTokens), output_tokens = int(u.outputTokens),
    cache_read_input_tokens = int(u.cacheReadInputTokens), cache_write_input_tokens = int(u.cacheWriteInputTokens),
    total_tokens = int(u.totalTokens) }
end

--- Usage of amazon-bedrock-invocationMetrics.
function usage.from_metrics(m)
  return { input_tokens = int(m.inputTokenCount), output_tokens = int(m.outputTokenCount),
    cache_read_input_tokens = int(m.cacheReadInputTokenCount),
    cache_write_input_tokens = int(m.cacheWriteInputTokenCount) }
end

-- ------------------------------------------------------------------ config

local budget_keys = {
  max_input_tokens = "integer", max_output_tokens = "integer", max_total_tokens = "integer",
  max_cost = "number", prices = "prices",
}
local price_keys = { input = true, output = true, cache_read = true, cache_write = true }
usage.budget_keys, usage.price_keys = budget_keys, price_keys   -- the docs' check reads them

local function nonneg(v) return type(v) == "number" and v == v and v >= 0 and v ~= math.huge end

--- Check a config's budget: a copy of it, or nil and the message naming the key.
function usage.check_budget(b)
  if type(b) ~= "table" then return nil, "config key 'budget' must be a table, got " .. type(b) end
  local out = {}
  for k, v in pairs(b) do
    local kind = budget_keys[k]
    local name = "budget." .. tostring(k)
    if not kind then return nil, "unknown config key '" .. name .. "'" end
    if kind == "integer" then
      if not compat.isinteger(v) or v < 0 then
        return nil, "config key '" .. name .. "' must be a non-negative integer, got " .. type(v) .. " " .. tostring(v)
      end
      out[k] = v
    elseif kind == "number" then
      if not nonneg(v) then
        return nil, "config key '" .. name .. "' must be a non-negative number, got " .. type(v) .. " " .. tostring(v)
      end
      out[k] = v
    else
      if type(v) ~= "table" then return nil, "config key 'budget.prices' must be a table, got " .. type(v) end
      local prices = {}
      for id, p in pairs(v) do
        local pname = "budget.prices[" .. tostring(id) .. "]"
        if type(id) ~= "string" then return nil, "config key '" .. pname .. "': model ids must be strings" end
        if type(p) ~= "table" then return nil, "config key '" .. pname .. "' must be a table, got " .. type(p) end
        local copy_p = {}
        for pk, pv in pairs(p) do
          if not price_keys[pk] then return nil, "unknown config key '" .. pname .. "." .. tostring(pk) .. "'" end
          if not nonneg(pv) then
            return nil, "config key '" .. pname .. "." .. pk .. "' must be a non-negative number (per 1000 tokens)"
          end
          copy_p[pk] = pv
        end
        if copy_p.input == nil or copy_p.output == nil then
          return nil, "config key '" .. pname .. "' needs both 'input' and 'output' (per 1000 tokens)"
        end
        prices[id] = copy_p
      end
      out.prices = prices
    end
  end
  return out
end

return usage
