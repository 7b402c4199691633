--- A conversation: the history of a chat, sent with any client.
--
--   local conv = bedrock.conversation{ model_id = ..., system = ..., max_context_tokens = ... }
--   conv:user("Hello")
--   local reply, meta = conv:send(client)      -- the reply is appended to the history
--   for ev in conv:stream(client) do ... end   -- appended when the stream ends cleanly
--
-- The history is kept in the wire form of the API it is sent with:
-- api = "invoke" sends Anthropic Messages bodies with invoke_model (Claude
-- models: blocks such as { type = "text", text = ... }); api = "converse"
-- sends Converse requests (blocks such as { text = ... }, { toolUse = ... }).
-- The default is "invoke" for Anthropic Claude model ids, "converse" for the
-- others. Blocks are kept exactly as the model returned them, so Claude's
-- thinking blocks keep their signatures.
--
-- Tool use: a reply that asks for tools leaves tool uses pending; answer
-- each with conv:tool_result(id, result) before the next send. Or declare
-- tools (conv:add_tool, conv:add_mcp, or tools = {...}) and let conv:run
-- answer them (bedrock.tools.loop). Trimming
-- (max_context_tokens) drops the oldest turns, only ever starting the kept
-- history at a user turn that carries no tool results, so a tool use and
-- its result are dropped together and the system prompt is always kept.
--
-- Token counts: each turn's count comes from the usage the service
-- returned (a reply's output tokens; the input tokens of a request less the
-- turns already counted, spread over the new turns) and, until then, from a
-- heuristic: ceil(bytes / 4) of its text, tool inputs and results as JSON,
-- 1600 per image or document, plus 4 per turn.
--
-- `Conversation:*` are the methods of a conversation (`new`, `bedrock.conversation{...}`,
-- `from_json`); `ConvStream:*` those of the stream `Conversation:stream` returns.
-- @module bedrock.conversation
local cjson = require "cjson"
local compat = require "bedrock.compat"
local errors = require "bedrock.errors"
local tools_loop = require "bedrock.tools.loop"

local conversation = {}

-- A conversation of conversation.new (bedrock.conversation{...}): its methods are Conversation:*.
local Conversation = { __name = "bedrock.conversation" }
Conversation.__index = Conversation

local null = cjson.null
local ceil = math.ceil

--- The `format` of a saved conversation (`Conversation:to_json`).
conversation.FORMAT = "lua-bedrock.conversation"
--- The `version` of a saved conversation that `from_json` reads.
conversation.VERSION = 1
--- `max_tokens` of a request when none is given.
conversation.DEFAULT_MAX_TOKENS = 1024
--- `anthropic_version` of an invoke request when none is given.
conversation.ANTHROPIC_VERSION = "bedrock-2023-05-31"
--- Estimated tokens of an image or a document block.
conversation.MEDIA_TOKENS = 1600
--- Estimated tokens a turn adds beyond its content.
conversation.TURN_TOKENS = 4

local function invalid(msg) return errors.invalid(msg) end

-- lua-cjson decodes every JSON number as a float: take 12.0 as 12
local function int(v)
  return compat.tointeger(v)
end

local function copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end

local function is_list(t)
  return type(t) == "table" and (t[1] ~= nil or next(t) == nil)
end

-- --------------------------------------------------------- wire forms

-- Each API's block shapes, behind one small interface.
local wire = {}

wire.invoke = {
  text = function(s) return { type = "text", text = s } end,
  is_tool_result = function(b) return b.type == "tool_result" end,
  tool_use = function(b)
    if b.type == "tool_use" then return { id = b.id, name = b.name, input = b.input } end
  end,
  tool_result = function(id, content, is_error)
    local b = { type = "tool_result", tool_use_id = id }
    if type(content) == "string" then
      b.content = content
    elseif is_list(content) then
      b.content = content
    else
      b.content = { { type = "text", text = cjson.encode(content) } }
    end
    if is_error then b.is_error = true end
    return b
  end,
  result_id = function(b) return b.tool_use_id end,
  block_text = function(b) if b.type == "text" then return b.text end end,
}

wire.converse = {
  text = function(s) return { text = s } end,
  is_tool_result = function(b) return b.toolResult ~= nil end,
  tool_use = function(b)
    local u = b.toolUse
    if u then return { id = u.toolUseId, name = u.name, input = u.input } end
  end,
  tool_result = function(id, content, is_error)
    local items
    if type(content) == "string" then
      items = { { text = content } }
    elseif is_list(content) then
      items = content
    else
      items = { { json = content } }
    end
    return { toolResult = { toolUseId = id, content = items, status = is_error and "error" or "success" } }
  end,
  result_id = function(b) return b.toolResult.toolUseId end,
  block_text = function(b) return b.text end,
}

-- ------------------------------------------------------------- tokens

local function json_len(v)
  local ok, s = pcall(cjson.encode, v)
  return ok and #s or 0
end

local estimate_value

--- Heuristic byte count of one content block (either wire form).
local function block_bytes(b)
  if type(b) == "string" then return #b end
  if type(b) ~= "table" then return 0 end
  local n = 0
  if type(b.text) == "string" then n = n + #b.text end
  if type(b.thinking) == "string" then n = n + #b.thinking end
  if b.type == "image" or b.type == "document" or b.image or b.document or b.video then
    n = n + conversation.MEDIA_TOKENS * 4
  end
  if b.type == "tool_use" then n = n + #tostring(b.name) + json_len(b.input) end
  if b.toolUse then n = n + #tostring(b.toolUse.name) + json_len(b.toolUse.input) end
  if b.type == "tool_result" then n = n + estimate_value(b.content) end
  if b.toolResult then n = n + estimate_value(b.toolResult.content) end
  if b.json ~= nil then n = n + json_len(b.json) end
  if b.reasoningContent then
    local r = b.reasoningContent.reasoningText
    if type(r) == "table" and type(r.text) == "string" then n = n + #r.text end
  end
  return n
end

function estimate_value(v)
  if type(v) == "string" then return #v end
  if type(v) ~= "table" then return 0 end
  local n = 0
  for _, b in ipairs(v) do n = n + block_bytes(b) end
  return n
end

--- Heuristic token count of one message.
function conversation.estimate_message(m)
  return ceil(estimate_value(m.content) / 4) + conversation.TURN_TOKENS
end

local function estimate_text(s)
  if type(s) ~= "string" or s == "" then return 0 end
  return ceil(#s / 4)
end

-- ------------------------------------------------------------ building

local function default_api(model_id)
  local ok, validate = pcall(require, "bedrock.policy.validate")
  if ok and validate.family(model_id) == "anthropic" then return "invoke" end
  return "converse"
end

local new_keys = { model_id = true, system = true, max_context_tokens = true, api = true, max_tokens = true,
  params = true, anthropic_version = true, tools = true }

--- bedrock.conversation{ model_id, system, max_context_tokens, api, max_tokens, params, anthropic_version,
-- tools = { {name, description, input_schema, handler}, ... } }
-- params: fields added to every request (invoke: body fields such as
-- temperature, tools, thinking; converse: call parameters such as
-- inference_config, tool_config, additional_model_request_fields).
-- Raises an InvalidParameter error object on bad options.
-- @tparam table opts `model_id` (required), `system` (a string), `max_context_tokens`
-- (trim the oldest turns past it), `api` (`"invoke"` or `"converse"`; default: invoke for
-- Anthropic Claude ids), `max_tokens`, `params`, `anthropic_version`
-- @treturn Conversation
function conversation.new(opts)
  if type(opts) ~= "table" then error(invalid("conversation options must be a table"), 2) end
  for k in pairs(opts) do
    if not new_keys[k] then error(invalid("unknown conversation option '" .. tostring(k) .. "'"), 2) end
  end
  if type(opts.model_id) ~= "string" or opts.model_id == "" then
    error(invalid("conversation option 'model_id' must be a non-empty string"), 2)
  end
  if opts.system ~= nil and type(opts.system) ~= "string" then
    error(invalid("conversation option 'system' must be a string"), 2)
  end
  local api = opts.api or default_api(opts.model_id)
  if not wire[api] then error(invalid("conversation option 'api' must be \"invoke\" or \"converse\""), 2) end
  local mct = opts.max_context_tokens
  if mct ~= nil and (not compat.isinteger(mct) or mct <= 0) then
    error(invalid("conversation option 'max_context_tokens' must be a positive integer"), 2)
  end
  local mt = opts.max_tokens
  if mt ~= nil and (not compat.isinteger(mt) or mt <= 0) then
    error(invalid("conversation option 'max_tokens' must be a positive integer"), 2)
  end
  if opts.params ~= nil and type(opts.params) ~= "table" then
    error(invalid("conversation option 'params' must be a table"), 2)
  end
  if opts.tools ~= nil and type(opts.tools) ~= "table" then
    error(invalid("conversation option 'tools' must be a list of tools"), 2)
  end
  local conv = setmetatable({
    model_id = opts.model_id,
    system = opts.system,
    api = api,
    max_context_tokens = mct,
    max_tokens = mt or conversation.DEFAULT_MAX_TOKENS,
    anthropic_version = opts.anthropic_version or conversation.ANTHROPIC_VERSION,
    params = opts.params and copy(opts.params) or {},
    history = {},          -- the messages, in the API's wire form
    tokens = {},           -- tokens[i]: the count of history[i]
    exact = {},            -- exact[i]: tokens[i] came from the service's usage
    system_tokens = estimate_text(opts.system),
    usage = { input_tokens = 0, output_tokens = 0, calls = 0 },
    trimmed = 0,           -- messages dropped by trimming so far
    tools = {},            -- declared tools (conv:add_tool), in order
    tool_index = {},       -- tool_index[name]: the tool
  }, Conversation)
  for _, t in ipairs(opts.tools or {}) do
    local ok, err = pcall(conv.add_tool, conv, t)
    if not ok then error(err, 2) end
  end
  return conv
end

function Conversation:__tostring()
  return string.format("bedrock.conversation(%s, %s, %d messages)", self.model_id, self.api, #self.history)
end

--- The messages, in wire form (the table itself: treat it as read-only).
function Conversation:messages() return self.history end

local function push(self, msg)
  local n = #self.history + 1
  self.history[n] = msg
  self.tokens[n] = conversation.estimate_message(msg)
  self.exact[n] = false
end

local function last(self)
  return self.history[#self.history]
end

--- Tool uses of the last assistant turn that have no result yet: a list of
-- { id, name, input }.
function Conversation:pending_tool_uses()
  local w = wire[self.api]
  local n = #self.history
  local a, u = self.history[n], nil
  if a and a.role == "user" then u = a; a = self.history[n - 1] end
  if not a or a.role ~= "assistant" or type(a.content) ~= "table" then return {} end
  local answered = {}
  if u and type(u.content) == "table" then
    for _, b in ipairs(u.content) do
      if type(b) == "table" and w.is_tool_result(b) then answered[w.result_id(b)] = true end
    end
  end
  local out = {}
  for _, b in ipairs(a.content) do
    local use = type(b) == "table" and w.tool_use(b)
    if use and not answered[use.id] then out[#out + 1] = use end
  end
  return out
end

--- Append to the user turn being built (a new one after an assistant turn).
-- tool results go before other blocks, as the APIs require.
local function add_user_blocks(self, blocks, results_first)
  local m = last(self)
  if not m or m.role ~= "user" then
    push(self, { role = "user", content = {} })
    m = last(self)
  elseif type(m.content) == "string" then
    m.content = { wire[self.api].text(m.content) }
  end
  local content = m.content
  if results_first then
    local w = wire[self.api]
    local at = 1
    while content[at] and w.is_tool_result(content[at]) do at = at + 1 end
    for i = #blocks, 1, -1 do table.insert(content, at, blocks[i]) end
  else
    for _, b in ipairs(blocks) do content[#content + 1] = b end
  end
  local n = #self.history
  self.tokens[n] = conversation.estimate_message(m)
  self.exact[n] = false
  return self
end

--- Add a user turn: a string, or a list of content blocks in the API's wire
-- form. Consecutive user additions go into one turn. Returns the conversation.
function Conversation:user(content)
  if type(content) == "string" then
    return add_user_blocks(self, { wire[self.api].text(content) })
  elseif is_list(content) and content[1] ~= nil then
    for i, b in ipairs(content) do
      if type(b) ~= "table" then
        error(invalid("user content block " .. i .. " must be a table, got " .. type(b)), 2)
      end
    end
    return add_user_blocks(self, content)
  end
  error(invalid("user content must be a string or a non-empty list of content blocks"), 2)
end

--- Answer a pending tool use. content: a string, a list of result content
-- blocks (wire form), or any other table (sent as JSON). opts.is_error
-- marks a failed tool run. Raises on an id that is not pending.
function Conversation:tool_result(tool_use_id, content, opts)
  if type(tool_use_id) ~= "string" then error(invalid("tool_result needs the tool use id (a string)"), 2) end
  local pending = false
  for _, use in ipairs(self:pending_tool_uses()) do
    if use.id == tool_use_id then pending = true; break end
  end
  if not pending then
    error(invalid("no pending tool use with id '" .. tool_use_id .. "'"), 2)
  end
  if content == nil or (type(content) ~= "string" and type(content) ~= "table") then
    error(invalid("tool_result content must be a string or a table"), 2)
  end
  local block = wire[self.api].tool_result(tool_use_id, content, opts and opts.is_error)
  return add_user_blocks(self, { block }, true)
end

--- Append an assistant turn yourself (a prefill, or imported history).
function Conversation:assistant(content)
  if type(content) == "string" then content = { wire[self.api].text(content) } end
  if not is_list(content) or content[1] == nil then
    error(invalid("assistant content must be a string or a non-empty list of content blocks"), 2)
  end
  local m = last(self)
  if m and m.role == "assistant" then
    for _, b in ipairs(content) do m.content[#m.content + 1] = b end
    local n = #self.history
    self.tokens[n] = conversation.estimate_message(m)
    self.exact[n] = false
  else
    push(self, { role = "assistant", content = content })
  end
  return self
end

-- ------------------------------------------------------------ trimming

--- Estimated tokens of the system prompt and history[from..].
function Conversation:estimate_tokens(from)
  local total = self.system_tokens
  for i = from or 1, #self.history do total = total + self.tokens[i] end
  return total
end

-- A turn the kept history may start with: a user turn without tool results.
local function safe_start(self, i)
  local m = self.history[i]
  if not m or m.role ~= "user" then return false end
  if type(m.content) == "table" then
    local w = wire[self.api]
    for _, b in ipairs(m.content) do
      if type(b) == "table" and w.is_tool_result(b) then return false end
    end
  end
  return true
end

--- Drop the oldest turns while the estimate passes max_context_tokens.
-- Returns the number of messages dropped. The kept history starts at a
-- user turn without tool results (so tool pairs stay whole); when even the
-- latest such start is over the limit, the history from there is kept.
function Conversation:trim(limit)
  limit = limit or self.max_context_tokens
  if not limit or self:estimate_tokens() <= limit then return 0 end
  local n = #self.history
  local cut
  for i = 2, n do
    if safe_start(self, i) then
      cut = i
      if self:estimate_tokens(i) <= limit then break end
    end
  end
  if not cut then return 0 end
  local drop = cut - 1
  compat.move(self.history, cut, n, 1)
  compat.move(self.tokens, cut, n, 1)
  compat.move(self.exact, cut, n, 1)
  for i = n - drop + 1, n do self.history[i], self.tokens[i], self.exact[i] = nil, nil, nil end
  self.trimmed = self.trimmed + drop
  return drop
end

-- ------------------------------------------------------------- sending

local function ready(self)
  local m = last(self)
  if not m or m.role ~= "user" then
    return nil, invalid("nothing to send: add a user turn first (conv:user(...))")
  end
  local pending = self:pending_tool_uses()
  if #pending > 0 then
    local ids = {}
    for i, u in ipairs(pending) do ids[i] = u.id end
    return nil, invalid("tool use " .. table.concat(ids, ", ") .. " has no tool_result yet (conv:tool_result(id, ...))")
  end
  return true
end

local function merge(into, from)
  if from then for k, v in pairs(from) do into[k] = v end end
  return into
end

--- The request send() would make now (after trimming): the invoke_model
-- parameters for api = "invoke", the converse parameters for "converse".
function Conversation:request(opts)
  opts = opts or {}
  local ok, err = ready(self)
  if not ok then return nil, err end
  self:trim()
  local max_tokens = opts.max_tokens or self.max_tokens
  if self.api == "invoke" then
    local body = merge(merge({ anthropic_version = self.anthropic_version, max_tokens = max_tokens },
      self.params), opts.params)
    if self.system and self.system ~= "" then body.system = self.system end
    body.messages = self.history
    local req = { model_id = self.model_id, body = body, validate = opts.validate }
    tools_loop.attach(self, req)
    return req
  end
  local req = merge(merge({}, self.params), opts.params)
  local ic = merge({}, req.inference_config)
  if ic.maxTokens == nil then ic.maxTokens = max_tokens end
  req.inference_config = ic
  req.model_id = self.model_id
  req.messages = self.history
  if self.system and self.system ~= "" then req.system = { { text = self.system } } end
  tools_loop.attach(self, req)
  return req
end

--- Account for a reply: append it and update the token counts.
-- sent: the number of messages sent; usage: { input_tokens, output_tokens }.
local function record(self, sent, content, usage)
  local w = wire[self.api]
  local input, output = int(usage.input_tokens), int(usage.output_tokens)
  if input then
    local known, fresh, weight = self.system_tokens, {}, 0
    for i = 1, sent do
      if self.exact[i] then known = known + self.tokens[i]
      else fresh[#fresh + 1] = i; weight = weight + self.tokens[i] end
    end
    local rest = input - known
    if #fresh > 0 and rest >= #fresh then
      local given = 0
      for k, i in ipairs(fresh) do
        local share = k == #fresh and rest - given or math.max(1, math.floor(rest * self.tokens[i] / weight))
        given = given + share
        self.tokens[i], self.exact[i] = share, true
      end
    end
    self.usage.input_tokens = self.usage.input_tokens + input
  end
  push(self, { role = "assistant", content = content })
  local n = #self.history
  if output then
    self.tokens[n], self.exact[n] = output, true
    self.usage.output_tokens = self.usage.output_tokens + output
  end
  self.usage.calls = self.usage.calls + 1
  local text, uses = {}, {}
  for _, b in ipairs(content) do
    local t = w.block_text(b)
    if type(t) == "string" then text[#text + 1] = t end
    local u = w.tool_use(b)
    if u then uses[#uses + 1] = u end
  end
  return { role = "assistant", content = content, text = table.concat(text), tool_uses = uses,
    usage = { input_tokens = input, output_tokens = output } }
end

local function bad_reply(what)
  return errors.new{ code = "UnexpectedResponse", message = "the reply is not " .. what }
end

--- Send the history with client (sync, or async inside bedrock.run) and
-- append the reply. opts: max_tokens, params (merged over the
-- conversation's), validate. Returns reply, meta or nil, err; on failure
-- the history is as it was, ready to be sent again.
-- reply = { role, content (wire form), text, tool_uses = { {id, name, input} },
--           stop_reason, usage = { input_tokens, output_tokens } }
function Conversation:send(client, opts)
  local req, err = self:request(opts)
  if not req then return nil, err end
  local sent = #self.history
  if self.api == "invoke" then
    local body, meta = client:invoke_model(req)
    if not body then return nil, meta end
    if type(body) ~= "table" or type(body.content) ~= "table" then
      return nil, bad_reply("an Anthropic message (no content)")
    end
    local u = type(body.usage) == "table" and body.usage or (meta and meta.usage) or {}
    local reply = record(self, sent, body.content, { input_tokens = u.input_tokens, output_tokens = u.output_tokens })
    reply.stop_reason = body.stop_reason
    return reply, meta
  end
  local body, meta = client:converse(req)
  if not body then return nil, meta end
  local msg = type(body) == "table" and type(body.output) == "table" and body.output.message
  if type(msg) ~= "table" or type(msg.content) ~= "table" then
    return nil, bad_reply("a Converse response (no output.message)")
  end
  local u = type(body.usage) == "table" and body.usage or {}
  local reply = record(self, sent, msg.content, { input_tokens = u.inputTokens, output_tokens = u.outputTokens })
  reply.stop_reason = body.stopReason
  return reply, meta
end

-- ----------------------------------------------------------- streaming

-- Assemblers: fold a stream's events into the reply's content blocks.

local function invoke_assembler()
  local blocks, json, usage, state = {}, {}, {}, {}
  return function(ev)
    local t = ev.type
    if t == "message_start" then
      local u = type(ev.message) == "table" and ev.message.usage
      if type(u) == "table" then usage.input_tokens = u.input_tokens end
    elseif t == "content_block_start" then
      local i = ev.index + 1
      blocks[i] = copy(ev.content_block)
      if blocks[i].type == "tool_use" then json[i] = {} end
    elseif t == "content_block_delta" then
      local b, d = blocks[ev.index + 1], ev.delta
      if d.type == "text_delta" then
        b.text = (b.text or "") .. d.text
      elseif d.type == "thinking_delta" then
        b.thinking = (b.thinking or "") .. d.thinking
      elseif d.type == "signature_delta" then
        b.signature = (b.signature or "") .. d.signature
      elseif d.type == "input_json_delta" then
        local parts = json[ev.index + 1]
        parts[#parts + 1] = d.partial_json
      end
    elseif t == "content_block_stop" then
      local i = ev.index + 1
      if json[i] then
        local s = table.concat(json[i])
        blocks[i].input = s == "" and {} or cjson.decode(s)
        json[i] = nil
      end
    elseif t == "message_delta" then
      if type(ev.delta) == "table" then state.stop_reason = ev.delta.stop_reason end
      if type(ev.usage) == "table" then usage.output_tokens = ev.usage.output_tokens end
    elseif t == "message_stop" then
      local m = ev["amazon-bedrock-invocationMetrics"]
      if type(m) == "table" then
        usage.input_tokens = m.inputTokenCount or usage.input_tokens
        usage.output_tokens = m.outputTokenCount or usage.output_tokens
      end
    end
  end, function() return blocks, usage, state.stop_reason end
end

local function converse_assembler()
  local blocks, json, usage, state = {}, {}, {}, {}
  local function at(i)
    local b = blocks[i + 1]
    if not b then b = {}; blocks[i + 1] = b end
    return b
  end
  return function(ev)
    local t = ev.type
    if t == "contentBlockStart" then
      local start = ev.start or {}
      if start.toolUse then
        at(ev.contentBlockIndex).toolUse = { toolUseId = start.toolUse.toolUseId, name = start.toolUse.name }
        json[ev.contentBlockIndex + 1] = {}
      end
    elseif t == "contentBlockDelta" then
      local b, d = at(ev.contentBlockIndex), ev.delta or {}
      if d.text then
        b.text = (b.text or "") .. d.text
      elseif d.toolUse then
        local parts = json[ev.contentBlockIndex + 1]
        if not parts then parts = {}; json[ev.contentBlockIndex + 1] = parts end
        parts[#parts + 1] = d.toolUse.input
      elseif d.reasoningContent then
        local r = d.reasoningContent
        if r.redactedContent then
          b.reasoningContent = { redactedContent = r.redactedContent }
        else
          b.reasoningContent = b.reasoningContent or { reasoningText = {} }
          local rt = b.reasoningContent.reasoningText
          if r.text then rt.text = (rt.text or "") .. r.text end
          if r.signature then rt.signature = (rt.signature or "") .. r.signature end
        end
      end
    elseif t == "contentBlockStop" then
      local i = ev.contentBlockIndex + 1
      if json[i] then
        local s = table.concat(json[i])
        local b = at(ev.contentBlockIndex)
        b.toolUse = b.toolUse or {}
        b.toolUse.input = s == "" and {} or cjson.decode(s)
        json[i] = nil
      end
    elseif t == "messageStop" then
      state.stop_reason = ev.stopReason
    elseif t == "metadata" then
      local u = ev.usage
      if type(u) == "table" then
        usage.input_tokens, usage.output_tokens = u.inputTokens, u.outputTokens
      end
    end
  end, function() return blocks, usage, state.stop_reason end
end

-- The stream of Conversation:stream, a for loop over the reply's events: its methods are ConvStream:*.
local ConvStream = { __name = "bedrock.conversation.stream" }
ConvStream.__index = ConvStream

local function inner_next(inner)
  if type(inner) == "table" and inner.next then return inner:next() end
  local ok, ev = compat.pcall(inner)   -- it may wait (the async client)
  if ok then return ev end
  return nil, ev
end

--- The next event, nil at the clean end (the reply is then in the
-- history: stream:reply()), or nil, err.
function ConvStream:next()
  if self.err then return nil, self.err end
  if self.closed then return nil end
  local ev, err = inner_next(self.inner)
  if ev ~= nil then
    if type(ev) == "table" then
      local ok, perr = pcall(self.feed, ev)
      if not ok then
        self.err = bad_reply("a well-formed event stream: " .. tostring(perr))
        self:close()
        return nil, self.err
      end
    end
    return ev
  end
  if err then
    self.err = err
    self:close()
    return nil, err
  end
  -- clean end: the reply joins the history
  local blocks, usage, stop_reason = self.result()
  local conv = self.conv
  local content = {}
  for i = 1, #blocks do content[#content + 1] = blocks[i] end
  self.closed = true
  if #content == 0 then
    self.err = bad_reply("a message (the stream carried no content)")
    return nil, self.err
  end
  if usage.input_tokens == nil and type(self.inner) == "table" and self.inner.get_meta then
    local meta = self.inner:get_meta()
    if meta and meta.usage then
      usage.input_tokens = meta.usage.input_tokens
      usage.output_tokens = usage.output_tokens or meta.usage.output_tokens
    end
  end
  self.result_reply = record(conv, self.sent, content, usage)
  self.result_reply.stop_reason = stop_reason
  return nil
end

function ConvStream:__call()
  local ev, err = self:next()
  if ev == nil and err then error(err, 0) end
  return ev
end

--- Abort the stream (idempotent); the history is left without the reply.
function ConvStream:close()
  self.closed = true
  local inner = self.inner
  if type(inner) == "table" and inner.close then inner:close() end
end
ConvStream.__close = ConvStream.close
ConvStream.__gc = ConvStream.close

--- The reply appended at the end of the stream (nil before the end).
function ConvStream:reply() return self.result_reply end

--- The underlying stream's meta (status, request id, usage...).
function ConvStream:get_meta()
  local inner = self.inner
  if type(inner) == "table" and inner.get_meta then return inner:get_meta() end
end

--- Stream the reply: a generic-for iterator of the API's events (invoke:
-- Anthropic's message_start, content_block_delta, ...; converse:
-- { type = "contentBlockDelta", ... }). When the stream ends cleanly the
-- reply is appended; an error is raised from the loop (stream:next()
-- returns nil, err instead) and leaves the history as it was, as does a
-- break. Returns stream, nil, nil, stream.
function Conversation:stream(client, opts)
  local s = compat.setmetatable({ conv = self }, ConvStream)
  local req, err = self:request(opts)
  if not req then
    s.err = err
    return s, nil, nil, s
  end
  s.sent = #self.history
  if self.api == "invoke" then
    s.feed, s.result = invoke_assembler()
    s.inner = client:invoke_model_with_response_stream(req)
  else
    s.feed, s.result = converse_assembler()
    s.inner = client:converse_stream(req)
  end
  return s, nil, nil, s
end

-- ------------------------------------------------------- serialisation

--- The conversation as JSON text, to save and resume it with
-- bedrock.conversation.from_json.
function Conversation:to_json()
  local exact = {}
  for i = 1, #self.history do exact[i] = self.exact[i] and true or false end
  local doc = {
    format = conversation.FORMAT, version = conversation.VERSION,
    model_id = self.model_id, api = self.api, system = self.system,
    max_context_tokens = self.max_context_tokens, max_tokens = self.max_tokens,
    anthropic_version = self.anthropic_version,
    params = next(self.params) and self.params or nil,
    messages = #self.history > 0 and self.history or nil,
    tokens = #self.history > 0 and self.tokens or nil,
    exact = #self.history > 0 and exact or nil,
    system_tokens = self.system_tokens,
    usage = self.usage, trimmed = self.trimmed,
  }
  return cjson.encode(doc)
end

local function denull(v)
  if v == null then return nil end
  return v
end

--- Resume a conversation saved with conv:to_json(). Returns it, or nil and
-- an InvalidParameter error.
function conversation.from_json(s)
  if type(s) ~= "string" then return nil, invalid("from_json needs a string, got " .. type(s)) end
  local ok, doc = pcall(cjson.decode, s)
  if not ok or type(doc) ~= "table" then
    return nil, invalid("not a saved conversation: the text is not a JSON object")
  end
  if doc.format ~= conversation.FORMAT then
    return nil, invalid("not a saved conversation: format is " .. tostring(doc.format))
  end
  if doc.version ~= conversation.VERSION then
    return nil, invalid("saved conversation version " .. tostring(doc.version) .. " is not supported")
  end
  local okn, conv = pcall(conversation.new, {
    model_id = denull(doc.model_id), system = denull(doc.system), api = denull(doc.api),
    max_context_tokens = int(doc.max_context_tokens), max_tokens = int(doc.max_tokens),
    anthropic_version = denull(doc.anthropic_version), params = denull(doc.params),
  })
  if not okn then return nil, conv end
  local messages = denull(doc.messages) or {}
  if type(messages) ~= "table" then return nil, invalid("saved conversation: messages is not a list") end
  local tokens, exact = denull(doc.tokens) or {}, denull(doc.exact) or {}
  for i, m in ipairs(messages) do
    if type(m) ~= "table" or (m.role ~= "user" and m.role ~= "assistant") or type(m.content) ~= "table" then
      return nil, invalid("saved conversation: message " .. i .. " is not a user or assistant turn")
    end
    conv.history[i] = m
    local t = int(tokens[i])
    if t and t >= 0 then
      conv.tokens[i], conv.exact[i] = t, exact[i] == true
    else
      conv.tokens[i], conv.exact[i] = conversation.estimate_message(m), false
    end
  end
  conv.system_tokens = int(doc.system_tokens) or conv.system_tokens
  if type(doc.usage) == "table" then
    for _, k in ipairs{ "input_tokens", "output_tokens", "calls" } do
      conv.usage[k] = int(doc.usage[k]) or conv.usage[k]
    end
  end
  conv.trimmed = int(doc.trimmed) or conv.trimmed
  return conv
end

--- Declare a tool the model may call: `{ name, description, input_schema, handler, timeout }`.
-- `handler(input, ctx)` returns the result (a string, or a table sent as JSON); what it raises
-- becomes an `is_error` result the model sees. Raises InvalidParameter on a bad declaration.
-- @function Conversation:add_tool
-- @tparam table spec
-- @return the conversation

--- The declared tools: a list of `{ name, description, input_schema }`.
-- @function Conversation:tool_list
-- @treturn table

--- An MCP server's tools become the conversation's (`bedrock.mcp`): a name another tool has
-- already is prefixed with the server's name, as are all with `prefix = true`.
-- @function Conversation:add_mcp
-- @param server a server from `bedrock.mcp.connect`
-- @tparam[opt] table opts `prefix` (true or a string), `only` (a list of tool names)
-- @return the conversation, or nil, err

--- Send, run every tool use the reply asks for, answer them in the next user turn and send
-- again, until a reply asks for no tool, `max_turns` replies came, or a call fails (a budget).
-- In a task of `bedrock.run` one reply's tool uses run at once, each bounded by `timeout`.
-- @function Conversation:run
-- @param client a client or an async client
-- @tparam[opt] table opts `max_turns` (default 10), `stream`, `on_event(ev)`,
-- `on_tool(phase, step)`, `timeout` (seconds per tool call), `max_tokens`, `params`, `validate`
-- @return the last reply and the run `{ steps, turns, stop_reason, usage }`, or nil, err, run

tools_loop.install(Conversation)
conversation.Conversation = Conversation

return setmetatable(conversation, {
  -- bedrock.conversation{...} is conversation.new{...}
  __call = function(_, opts) return conversation.new(opts) end,
})
