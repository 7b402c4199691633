--- The operations of Bedrock Runtime beyond invoke_model, on both clients:
-- converse, converse_stream, count_tokens, apply_guardrail,
-- invoke_guardrail_checks, start_async_invoke, get_async_invoke and
-- list_async_invokes. Routes, methods, headers, query strings and body
-- members all come from the service model (bedrock.api.model, through
-- bedrock.api.shapes); this file adds only what the model cannot say: which
-- calls spend tokens (budget and ledger), which one streams, which one pages.
--
-- Conventions as invoke_model: calls return body, meta | nil, err; the
-- stream and the pager are for-loop iterators returning x, nil, nil, x that
-- raise the error object, with :next() returning nil, err instead.
-- The methods themselves are documented with the client (`bedrock.api.client.Client`).
-- @module bedrock.api.operations
local cjson = require "cjson"
local compat = require "bedrock.compat"
local errors = require "bedrock.errors"
local model = require "bedrock.api.model"
local shapes = require "bedrock.api.shapes"
local usage = require "bedrock.policy.usage"

local operations = {}

-- operations that run a model: the budget admits them before sending
local BUDGETED = { Converse = true, ConverseStream = true, StartAsyncInvoke = true }

-- ------------------------------------------------------------------ pager

-- The pager's own settings, named after botocore's PaginationConfig
-- (MaxItems, PageSize; botocore/paginate.py): max_items stops the pager after
-- that many items in all, without fetching a page it no longer needs;
-- page_size is sent as the operation's limit member (maxResults).
local PAGE_SIZE_MAX = 1000      -- ListAsyncInvokes' maxResults: 1-1000

--- The pager of `Client:list_async_invokes`: a for loop over the items of every page
-- (fetched as the loop needs them), raising the error object on failure.
-- @type Pager
local Pager = { __name = "bedrock.pager" }
Pager.__index = Pager

--- The next item across pages, nil at the end, or nil, err.
-- @return the item (an `asyncInvokeSummaries` entry), or nil at the end, or nil, err
function Pager:next()
  while true do
    if self.err then return nil, self.err end
    if self.max_items and self.count >= self.max_items then
      self.done, self.items = true, nil
      return nil
    end
    if self.items and self.i < #self.items then
      self.i = self.i + 1
      self.count = self.count + 1
      return self.items[self.i]
    end
    if self.done then return nil end
    local params = {}
    for k, v in pairs(self.params) do params[k] = v end
    params.next_token = self.token
    local body, meta = self.client:call_operation(self.operation, params)
    if body == nil then
      self.err = meta
      return nil, meta
    end
    if type(body) ~= "table" then
      self.err = errors.new{ code = "SerializationError", message = "a page that is not a JSON object",
        request_id = meta.request_id }
      return nil, self.err
    end
    self.pages = self.pages + 1
    self.meta = meta
    local items = body[self.result_key]
    if items == nil or items == cjson.null then items = {} end
    local token = body.nextToken
    if token == nil or token == cjson.null or token == "" then
      self.done = true
    elseif self.seen[token] then
      -- botocore's PaginationError: a token seen before would loop forever
      self.err = errors.new{ code = "PaginationError", message = "the service returned the same nextToken twice",
        request_id = meta.request_id }
      return nil, self.err
    end
    if token ~= nil and token ~= cjson.null then self.seen[token] = true end
    self.items, self.i, self.token = items, 0, token
  end
end

function Pager:__call()
  local item, err = self:next()
  if item == nil and err then error(err, 0) end
  return item
end

--- Stop paging (idempotent); a loop's closing value calls it.
function Pager:close() self.done, self.items = true, nil end
Pager.__close = Pager.close

--- The meta of the last page fetched (nil before the first).
-- @treturn ?table meta
function Pager:get_meta() return self.meta end

function Pager:__tostring()
  return "bedrock.pager(" .. self.operation .. ", " .. self.pages .. " pages)"
end

-- ------------------------------------------------------------------ install

--- Install the operations' methods on the client class.
-- @local
function operations.install(Client)
  --- Build the request of an operation: req or nil, err (budget included).
  -- @local
  function Client:_prepare_operation(op_name, params)
    local req, err = shapes.request(op_name, params)
    if not req then return nil, err end
    req.model_id = req.labels.modelId
    if BUDGETED[op_name] then
      local admitted, berr = self.ledger:admit(req.model_id)
      if not admitted then return nil, berr end
    end
    return req
  end

  --- Any non-streaming operation by its model name: body, meta | nil, err
  -- (documented with the client).
  -- @local
  function Client:call_operation(op_name, params)
    if not model.operations[op_name] then
      return nil, errors.invalid("unknown operation '" .. tostring(op_name) .. "'")
    end
    local req, err = self:_prepare_operation(op_name, params)
    if not req then return nil, err end
    return self:_call(req)
  end

  local special = {}

  function special.Converse(self, params)
    local req, err = self:_prepare_operation("Converse", params)
    if not req then return nil, err end
    local body, meta = self:_call(req)
    if body ~= nil then
      local u = type(body) == "table" and usage.from_converse(body.usage)
      if u then meta.usage = u end
      self:_record_usage(req, meta.usage, meta)
    end
    return body, meta
  end

  function special.ConverseStream(self, params)
    local stream = require "bedrock.api.stream"
    local req, err = self:_prepare_operation("ConverseStream", params)
    if req then
      req.stream = true
      req.events = model.shapes[model.operations.ConverseStream.stream]
    end
    local s = stream.new(self, req, err)
    return s, nil, nil, s
  end

  --- A pager setting: nil, or an integer from lo to hi (hi nil: no upper
  -- bound); else nil, an InvalidParameter error naming it.
  local function pager_int(params, name, lo, hi)
    local given = params[name]
    if given == nil then return nil end
    local v = given
    if type(v) == "number" and v == math.floor(v) and v >= lo and v <= (hi or math.huge) then
      v = compat.tointeger(v)                 -- nil beyond the integers
    end
    if not compat.isinteger(v) or v < lo or (hi and v > hi) then
      local want = hi and ("an integer from " .. lo .. " to " .. hi) or ("an integer of at least " .. lo)
      local got = type(given) == "string" and string.format("%q", given) or tostring(given)
      return nil, errors.new{ code = "InvalidParameter", path = name,
        message = "'" .. name .. "' must be " .. want .. ", got " .. got }
    end
    return v
  end

  function special.ListAsyncInvokes(self, params)
    if params == nil then params = {} end
    local p = setmetatable({ client = self, operation = "ListAsyncInvokes", pages = 0, seen = {}, count = 0,
      result_key = "asyncInvokeSummaries", params = {} }, Pager)
    if type(params) ~= "table" then
      p.err = errors.invalid("parameters must be a table, got " .. type(params))
      return p, nil, nil, p
    end
    for k, v in pairs(params) do
      if k == "next_token" or k == "nextToken" then
        p.token = v
      elseif k ~= "max_items" and k ~= "page_size" then
        p.params[k] = v
      end
    end
    if p.token ~= nil and type(p.token) ~= "string" then
      p.err = errors.invalid("'next_token' must be a string, got " .. type(p.token))
      return p, nil, nil, p
    end
    local err
    p.max_items, err = pager_int(params, "max_items", 1)
    if err then p.err = err; return p, nil, nil, p end
    local page_size
    page_size, err = pager_int(params, "page_size", 1, PAGE_SIZE_MAX)
    if err then p.err = err; return p, nil, nil, p end
    if page_size then
      if p.params.max_results ~= nil or p.params.maxResults ~= nil then
        p.err = errors.new{ code = "InvalidParameter", path = "page_size",
          message = "'page_size' and 'max_results' are the same setting (the page size): give one" }
        return p, nil, nil, p
      end
      p.params.max_results = page_size
    end
    return p, nil, nil, p
  end

  for op_name, op in pairs(model.operations) do
    if op_name ~= "InvokeModel" and op_name ~= "InvokeModelWithResponseStream" then
      Client[op.name] = special[op_name] or function(self, params)
        return self:call_operation(op_name, params)
      end
    end
  end
end

return operations
