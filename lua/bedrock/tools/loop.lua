--- Tools that run themselves: conv:add_tool, conv:add_mcp and conv:run,
-- installed into bedrock.conversation.
--
-- conv:run(client, opts) sends the history, runs every tool use the reply
-- asks for, answers each in the next user turn and sends again, until a
-- reply asks for no tool, max_turns replies have come, or a call fails (a
-- budget, the network...). Every turn is an ordinary send (or stream), so
-- the client's usage ledger and budget see each one. A tool use never
-- raises: an unknown tool, input that fails the tool's input_schema, a
-- handler that raises or a timeout each become an is_error result whose
-- text says what went wrong, and the model sees it.
local compat = require "bedrock.compat"
local core = require "bedrock.core"
local errors = require "bedrock.errors"
local scheduler = require "bedrock.transport.scheduler"

local loop = {}

loop.MAX_TURNS = 10

local function invalid(msg) return errors.invalid(msg) end

local function valid_name(name)
  return type(name) == "string" and #name >= 1 and #name <= 64 and not name:find("[^%w_%-]")
end

-- ------------------------------------------------------------ declaring

--- Check a tool declaration: the tool, or nil, err.
function loop.tool(spec)
  if type(spec) ~= "table" then return nil, invalid("a tool must be a table") end
  for k in pairs(spec) do
    if k ~= "name" and k ~= "description" and k ~= "input_schema" and k ~= "handler" and k ~= "timeout" then
      return nil, invalid("unknown tool field '" .. tostring(k) .. "'")
    end
  end
  if not valid_name(spec.name) then
    return nil, invalid("a tool name must be 1 to 64 letters, digits, '_' or '-', got " .. tostring(spec.name))
  end
  if type(spec.handler) ~= "function" and not (type(spec.handler) == "table"
      and getmetatable(spec.handler) and getmetatable(spec.handler).__call) then
    return nil, invalid("tool '" .. spec.name .. "' needs a handler function")
  end
  if spec.description ~= nil and type(spec.description) ~= "string" then
    return nil, invalid("tool '" .. spec.name .. "': description must be a string")
  end
  local s = spec.input_schema
  if s == nil then s = { type = "object", properties = {} } end
  if type(s) ~= "table" then
    return nil, invalid("tool '" .. spec.name .. "': input_schema must be a JSON Schema table")
  end
  if spec.timeout ~= nil and (type(spec.timeout) ~= "number" or spec.timeout <= 0) then
    return nil, invalid("tool '" .. spec.name .. "': timeout must be a positive number of seconds")
  end
  return { name = spec.name, description = spec.description, input_schema = s, handler = spec.handler,
    timeout = spec.timeout }
end

local function add(conv, tool)
  if conv.tool_index[tool.name] then
    return nil, invalid("the conversation already has a tool named '" .. tool.name .. "'")
  end
  conv.tools[#conv.tools + 1] = tool
  conv.tool_index[tool.name] = tool
  return conv
end

--- The tools as the API in use declares them (a copy each time).
function loop.wire_tools(conv)
  local out = {}
  for i, t in ipairs(conv.tools) do
    if conv.api == "invoke" then
      out[i] = { name = t.name, description = t.description, input_schema = t.input_schema }
    else
      out[i] = { toolSpec = { name = t.name, description = t.description, inputSchema = { json = t.input_schema } } }
    end
  end
  return out
end

--- Put the declared tools into a request built by conv:request (after any
-- the params carry).
function loop.attach(conv, req)
  if #conv.tools == 0 then return end
  local ours = loop.wire_tools(conv)
  local function append(list)
    local out = {}
    for _, t in ipairs(type(list) == "table" and list or {}) do out[#out + 1] = t end
    for _, t in ipairs(ours) do out[#out + 1] = t end
    return out
  end
  if conv.api == "invoke" then
    req.body.tools = append(req.body.tools)
  else
    local key = req.toolConfig and "toolConfig" or "tool_config"
    local tc = {}
    for k, v in pairs(req[key] or {}) do tc[k] = v end
    tc.tools = append(tc.tools)
    req[key] = tc
  end
end

-- ------------------------------------------------------------- running

-- A copy of the model's input (the step's, and the handler's own); JSON numbers without a fraction
-- (lua-cjson decodes every number as a float) become integers.
local function deep_copy(v)
  if type(v) == "number" then return compat.tointeger(v) or v end
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = deep_copy(x) end
  return setmetatable(out, getmetatable(v))
end

local function message_of(e)
  if type(e) == "string" then return e end
  if errors.is(e) then return tostring(e) end
  if type(e) == "table" and type(e.message) == "string" then return e.message end
  return tostring(e)
end

local function notify(on_tool, phase, step)
  if not on_tool then return end
  local ok, err = pcall(on_tool, phase, step)
  if not ok then step.on_tool_error = message_of(err) end   -- kept, not raised: the loop must go on
end

-- Run one tool use to its step record: { id, name, input, turn, result |
-- error, is_error, started, elapsed }. Never raises.
local function run_one(conv, use, ctx, on_tool)
  local step = { id = use.id, name = use.name, input = deep_copy(use.input), turn = ctx.turn, started = core.now() }
  notify(on_tool, "start", step)
  local tool = conv.tool_index[use.name]
  if not tool then
    step.error = "unknown tool '" .. tostring(use.name) .. "'"
  else
    local input = step.input
    if input == nil then input = {} end
    local ok, why = require("bedrock.tools.schema").check(tool.input_schema, input)
    if not ok then
      step.error = "invalid input for tool '" .. tool.name .. "': " .. why
    else
      local tctx = setmetatable({ id = use.id, name = use.name, timeout = ctx.timeout or tool.timeout },
        { __index = ctx })
      local res = compat.pack(pcall(tool.handler, deep_copy(input), tctx))
      if not res[1] then
        step.error = message_of(res[2])
      elseif type(res[3]) == "table" and res[3].is_error then
        step.error = type(res[2]) == "string" and res[2] or nil
        step.result, step.is_error = res[2], true
      else
        step.result = res[2]
      end
    end
  end
  if step.error then step.is_error = true end
  step.elapsed = core.now() - step.started
  notify(on_tool, "done", step)
  return step
end

-- Run the tool uses of one reply. In a task of bedrock.run each runs as its
-- own task, and a tool that has not answered within its timeout gets an
-- error result (its task runs on to its end; what it returns is dropped).
local function run_all(conv, uses, ctx, opts)
  local steps = {}
  if not scheduler.in_task() or (#uses < 2 and not (opts.timeout or (conv.tool_index[uses[1].name] or {}).timeout)) then
    for i, use in ipairs(uses) do steps[i] = run_one(conv, use, ctx, opts.on_tool) end
    return steps
  end
  local tasks = {}
  for i, use in ipairs(uses) do
    local tool = conv.tool_index[use.name]
    local limit = opts.timeout or (tool and tool.timeout)
    tasks[i] = { limit = limit, started = core.now(), use = use,
      task = scheduler.spawn(run_one, conv, use, ctx, opts.on_tool) }
  end
  for i, t in ipairs(tasks) do
    if not t.limit then
      t.task:wait()
    else
      while not t.task:is_done() and core.now() - t.started < t.limit do scheduler.sleep(0.002) end
    end
    if t.task:is_done() then
      steps[i] = t.task:wait()
    else
      t.task.joined = true   -- abandoned: nothing it does later may fail the run
      steps[i] = { id = t.use.id, name = t.use.name, input = deep_copy(t.use.input), turn = ctx.turn, started = t.started,
        elapsed = core.now() - t.started, is_error = true, timed_out = true,
        error = string.format("tool '%s' timed out after %g s", tostring(t.use.name), t.limit) }
      notify(opts.on_tool, "done", steps[i])
    end
  end
  return steps
end

local function answer(conv, steps)
  for _, step in ipairs(steps) do
    local content = step.result
    if step.error and (step.result == nil or type(step.result) == "string") then
      content = "error: " .. step.error
    elseif content == nil or content == "" then
      content = "(no output)"
    elseif type(content) ~= "string" and type(content) ~= "table" then
      content = tostring(content)
    end
    -- a model that repeats a tool use id gets one answer for it: the first
    pcall(conv.tool_result, conv, step.id, content, { is_error = step.is_error })
  end
end

-- One model turn: the reply, or nil, err.
local function turn(conv, client, opts)
  if not (opts.stream or opts.on_event) then return conv:send(client, opts.send) end
  local s = conv:stream(client, opts.send)
  while true do
    local ev, err = s:next()
    if ev == nil then
      if err then return nil, err end
      return s:reply(), s:get_meta()
    end
    if opts.on_event then
      local ok, cerr = pcall(opts.on_event, ev)
      if not ok then
        s:close()
        return nil, errors.new{ code = "CallbackError", cause = cerr, message = "on_event raised: " .. message_of(cerr) }
      end
    end
  end
end

local run_keys = { max_turns = true, stream = true, on_event = true, on_tool = true, timeout = true,
  max_tokens = true, params = true, validate = true }

--- conv:run(client, opts) -> reply, run | nil, err, run.
-- opts: max_turns (replies, default 10), stream (or on_event(ev): each
-- model event), on_tool(phase, step) ("start" and "done"), timeout (seconds
-- per tool call; async client), max_tokens, params, validate (as send).
-- run = { steps = { {turn, id, name, input, result | error, is_error,
-- started, elapsed} }, turns, stop_reason ("end_turn"... or "max_turns"),
-- usage = { input_tokens, output_tokens } }.
function loop.run(conv, client, opts)
  opts = opts or {}
  if type(opts) ~= "table" then return nil, invalid("run options must be a table") end
  for k in pairs(opts) do
    if not run_keys[k] then return nil, invalid("unknown run option '" .. tostring(k) .. "'") end
  end
  local max_turns = opts.max_turns or loop.MAX_TURNS
  if not compat.isinteger(max_turns) or max_turns < 1 then
    return nil, invalid("run option 'max_turns' must be a positive integer")
  end
  if opts.timeout ~= nil and (type(opts.timeout) ~= "number" or opts.timeout <= 0) then
    return nil, invalid("run option 'timeout' must be a positive number of seconds")
  end
  local o = { stream = opts.stream, on_event = opts.on_event, on_tool = opts.on_tool, timeout = opts.timeout,
    send = { max_tokens = opts.max_tokens, params = opts.params, validate = opts.validate } }
  local run = { steps = {}, turns = 0, usage = { input_tokens = 0, output_tokens = 0 } }
  local ctx = { conversation = conv, client = client, api = conv.api, timeout = opts.timeout, turn = 0 }

  local function take(steps)
    for _, s in ipairs(steps) do run.steps[#run.steps + 1] = s end
    answer(conv, steps)
  end

  -- tool uses left pending by an earlier send are run first
  local pending = conv:pending_tool_uses()
  if #pending > 0 then take(run_all(conv, pending, ctx, o)) end

  local reply
  while true do
    local err
    reply, err = turn(conv, client, o)
    if not reply then return nil, err, run end
    run.turns = run.turns + 1
    ctx.turn = run.turns
    local u = reply.usage or {}
    run.usage.input_tokens = run.usage.input_tokens + (u.input_tokens or 0)
    run.usage.output_tokens = run.usage.output_tokens + (u.output_tokens or 0)
    if #reply.tool_uses == 0 then
      run.stop_reason = reply.stop_reason
      return reply, run
    end
    take(run_all(conv, reply.tool_uses, ctx, o))
    if run.turns >= max_turns then
      -- the results are in the history: another run goes on from here
      run.stop_reason = "max_turns"
      return reply, run
    end
  end
end

-- ------------------------------------------------------------------ MCP

local image_formats = { ["image/png"] = "png", ["image/jpeg"] = "jpeg", ["image/jpg"] = "jpeg",
  ["image/gif"] = "gif", ["image/webp"] = "webp" }

--- An MCP tool result's content as the API's tool result blocks: text as
-- text, images as images, an embedded text resource as text; what the API
-- cannot take (audio, binary resources) as a line saying what it was.
function loop.mcp_blocks(api, result)
  local out = {}
  local function text(s)
    out[#out + 1] = api == "invoke" and { type = "text", text = s } or { text = s }
  end
  for _, c in ipairs(type(result.content) == "table" and result.content or {}) do
    if type(c) == "table" then
      if c.type == "text" and type(c.text) == "string" then
        text(c.text)
      elseif c.type == "image" and type(c.data) == "string" and image_formats[c.mimeType] then
        if api == "invoke" then
          out[#out + 1] = { type = "image", source = { type = "base64", media_type = c.mimeType, data = c.data } }
        else
          out[#out + 1] = { image = { format = image_formats[c.mimeType], source = { bytes = c.data } } }
        end
      elseif c.type == "resource" and type(c.resource) == "table" then
        local r = c.resource
        if type(r.text) == "string" then
          text("resource " .. tostring(r.uri) .. ":\n" .. r.text)
        else
          text(string.format("[resource %s (%s), binary, not shown]", tostring(r.uri), tostring(r.mimeType)))
        end
      elseif c.type == "resource_link" then
        text(string.format("[resource link %s: %s]", tostring(c.name), tostring(c.uri)))
      else
        text(string.format("[%s content (%s), not shown]", tostring(c.type), tostring(c.mimeType)))
      end
    end
  end
  if #out == 0 and type(result.structuredContent) == "table" then
    text(require("cjson").encode(result.structuredContent))
  end
  if #out == 0 then text("(no output)") end
  return out
end

local function sanitize(s)
  s = tostring(s):gsub("[^%w_%-]", "_")
  return s
end

--- conv:add_mcp(server [, { prefix = true | "name", only = { tool names } }]):
-- the server's tools become the conversation's. A name another tool has
-- already is prefixed with the server's name ("everything_echo"), as are
-- all with prefix = true (or the given prefix). Returns conv, or nil, err.
function loop.add_mcp(conv, server, opts)
  opts = opts or {}
  if type(server) ~= "table" or type(server.tools) ~= "function" or type(server.call) ~= "function" then
    return nil, invalid("add_mcp needs a server from bedrock.mcp.connect")
  end
  local list, err = server:tools()
  if not list then return nil, err end
  local only
  if opts.only then
    only = {}
    for _, n in ipairs(opts.only) do only[n] = true end
  end
  local prefix = type(opts.prefix) == "string" and opts.prefix or sanitize(server.name)
  local added = {}
  for _, t in ipairs(list) do
    if type(t) == "table" and type(t.name) == "string" and (not only or only[t.name]) then
      local name = t.name
      if opts.prefix or conv.tool_index[name] or not valid_name(name) then
        name = (prefix .. "_" .. sanitize(t.name)):sub(1, 64)
      end
      local remote = t.name
      local tool, terr = loop.tool{ name = name, description = t.description,
        input_schema = type(t.inputSchema) == "table" and t.inputSchema or nil,
        handler = function(input, ctx)
          local res, cerr = server:call(remote, input, { timeout = ctx.timeout })
          if not res then error(cerr, 0) end
          local blocks = loop.mcp_blocks(ctx.api, res)
          if res.isError then return blocks, { is_error = true } end
          return blocks
        end }
      if not tool then return nil, terr end
      local ok, aerr = add(conv, tool)
      if not ok then return nil, aerr end
      tool.mcp = { server = server, name = remote }
      added[#added + 1] = name
    end
  end
  return conv, added
end

--- Install the methods into the conversation class.
function loop.install(Conversation)
  --- conv:add_tool{ name, description, input_schema, handler, timeout }.
  -- Raises an InvalidParameter error on a bad declaration, as conv:user does.
  function Conversation:add_tool(spec)
    local tool, err = loop.tool(spec)
    if tool then tool, err = add(self, tool) end
    if not tool then error(err, 2) end
    return self
  end
  --- The declared tools: a list of { name, description, input_schema }.
  function Conversation:tool_list()
    local out = {}
    for i, t in ipairs(self.tools) do
      out[i] = { name = t.name, description = t.description, input_schema = t.input_schema }
    end
    return out
  end
  Conversation.add_mcp = loop.add_mcp
  Conversation.run = loop.run
end

return loop
