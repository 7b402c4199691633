-- Tools that run themselves: conv:add_tool and conv:run over the real wire
-- to the emulator, whose scenario field tool_rounds scripts the model's tool
-- uses (Messages tool_use and Converse toolUse, streamed and not); MCP
-- servers' tools through conv:add_mcp (server-everything and the fake server).
local bedrock = require "bedrock"
local cjson = require "cjson"
local mcp = require "bedrock.mcp"
local schema = require "bedrock.tools.schema"
local emulator = require "spec.support.emulator"
local support = require "spec.support.mcp"

local CLAUDE = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"

local function add_tool(calls)
  return { name = "add", description = "Add two numbers",
    input_schema = { type = "object", properties = { a = { type = "number" }, b = { type = "number" } },
      required = { "a", "b" }, additionalProperties = false },
    handler = function(input)
      if calls then calls[#calls + 1] = input end
      return tostring(input.a + input.b)
    end }
end

local function bodies(emu)
  local out = {}
  for _, r in ipairs(emu:requests()) do
    if r.body then out[#out + 1] = cjson.decode(r.body) end
  end
  return out
end

describe("tool input schemas", function()
  local s = { type = "object", required = { "q" }, additionalProperties = false, properties = {
    q = { type = "string", minLength = 2 }, n = { type = "integer", minimum = 1, maximum = 5 },
    tags = { type = "array", items = { type = "string" }, maxItems = 2 },
    mode = { enum = { "fast", "slow" } }, x = { anyOf = { { type = "string" }, { type = "null" } } } } }

  it("accepts what fits and says where what does not", function()
    assert.is_true(schema.check(s, { q = "hi", n = 3, tags = { "a" }, mode = "fast", x = cjson.null }))
    assert.is_true(schema.check(s, { q = "hi", n = 3.0 }))   -- JSON numbers decode as floats
    local cases = {
      { {}, "input: 'q' is required" },
      { { q = 1 }, "input.q: expected string, got number" },
      { { q = "h" }, "input.q: must be at least 2 characters" },
      { { q = "hi", n = 2.5 }, "input.n: expected integer, got number" },
      { { q = "hi", n = 9 }, "input.n: must be <= 5" },
      { { q = "hi", tags = { "a", 2 } }, "input.tags[1]: expected string, got number" },
      { { q = "hi", tags = { "a", "b", "c" } }, "input.tags: takes at most 2 items" },
      { { q = "hi", mode = "medium" }, 'input.mode: "medium" is not one of ["fast","slow"]' },
      { { q = "hi", other = 1 }, "input: unexpected property 'other'" },
      { { q = "hi", x = 5 }, "input.x: matches none of anyOf" },
      { { "a list" }, "input: expected object, got array" },
    }
    for _, c in ipairs(cases) do
      local ok, err = schema.check(s, c[1])
      assert.is_nil(ok)
      assert.are.equal(c[2], err:sub(1, #c[2]))
    end
  end)
end)

describe("conv:add_tool", function()
  it("declares tools, and refuses bad declarations with InvalidParameter", function()
    local conv = bedrock.conversation{ model_id = CLAUDE, tools = { add_tool() } }
    conv:add_tool{ name = "noop", handler = function() end }
    assert.are.same({ "add", "noop" }, { conv:tool_list()[1].name, conv:tool_list()[2].name })
    assert.are.same({ type = "object", properties = {} }, conv:tool_list()[2].input_schema)
    local bad = {
      { { name = "add", handler = print }, "already has a tool named 'add'" },
      { { name = "has space", handler = print }, "a tool name must be" },
      { { name = "x" }, "needs a handler function" },
      { { name = "x", handler = print, input_schema = "{}" }, "input_schema must be a JSON Schema table" },
      { { name = "x", handler = print, colour = 1 }, "unknown tool field 'colour'" },
    }
    for _, b in ipairs(bad) do
      local ok, err = pcall(conv.add_tool, conv, b[1])
      assert.is_false(ok)
      assert.are.equal("InvalidParameter", err.code)
      assert.matches(b[2], err.message, 1, true)
    end
    local ok, err = pcall(bedrock.conversation, { model_id = CLAUDE, tools = { { name = "x" } } })
    assert.is_false(ok)
    assert.are.equal("InvalidParameter", err.code)
  end)

  it("puts the tools in the request as each API expects", function()
    local conv = bedrock.conversation{ model_id = CLAUDE, tools = { add_tool() } }
    conv:user("hi")
    local req = assert(conv:request())
    assert.are.same({ { name = "add", description = "Add two numbers", input_schema = add_tool().input_schema } },
      req.body.tools)
    local c2 = bedrock.conversation{ model_id = CLAUDE, api = "converse", tools = { add_tool() },
      params = { tool_config = { tool_choice = { auto = {} } } } }
    c2:user("hi")
    req = assert(c2:request())
    assert.are.same({ { toolSpec = { name = "add", description = "Add two numbers",
      inputSchema = { json = add_tool().input_schema } } } }, req.tool_config.tools)
    assert.are.same({ auto = {} }, req.tool_config.tool_choice)
  end)
end)

describe("conv:run against the emulator", function()
  local emu, client
  setup(function() emu = emulator.shared() end)
  before_each(function()
    emu:reset()
    client = bedrock.client(emu:config())
  end)
  after_each(function() client:close() end)

  for _, api in ipairs{ "invoke", "converse" } do
    for _, stream in ipairs{ false, true } do
      it("runs a Lua tool and ends (" .. api .. (stream and ", streamed" or "") .. ")", function()
        emu:scenario(CLAUDE, { log_body = true, tool_rounds = { { name = "add", input = { a = 2, b = 3 } } } })
        local calls, events, around = {}, 0, {}
        local conv = bedrock.conversation{ model_id = CLAUDE, api = api, tools = { add_tool(calls) } }
        conv:user("What is 2 + 3?")
        local reply, run = conv:run(client, { stream = stream,
          on_event = stream and function() events = events + 1 end or nil,
          on_tool = function(phase, step) around[#around + 1] = phase .. " " .. step.name end })
        assert.is_table(reply, tostring(run))
        assert.are.equal("Tool results: 5", reply.text)
        assert.are.equal("end_turn", run.stop_reason)
        assert.are.equal(2, run.turns)
        assert.are.same({ { a = 2, b = 3 } }, calls)
        assert.is_true(require("bedrock.compat").isinteger(calls[1].a))
        assert.are.equal(1, #run.steps)
        local step = run.steps[1]
        assert.are.same({ "add", 1, "5", false }, { step.name, step.turn, step.result, step.is_error or false })
        assert.is_number(step.elapsed)
        assert.are.same({ "start add", "done add" }, around)
        if stream then assert.is_true(events > 5) else assert.are.equal(0, events) end
        -- user, assistant (tool use), user (result), assistant
        assert.are.equal(4, #conv:messages())
        assert.are.same({}, conv:pending_tool_uses())
        -- both requests declared the tool; the second carried the result
        local sent = bodies(emu)
        assert.are.equal(2, #sent)
        local declared = api == "invoke" and sent[1].tools[1].name or sent[1].toolConfig.tools[1].toolSpec.name
        assert.are.equal("add", declared)
        -- the ledger saw both turns
        assert.are.equal(2, client:usage().total.requests)
        assert.are.equal(client:usage().total.output_tokens, run.usage.output_tokens)
      end)
    end
  end

  for _, api in ipairs{ "invoke", "converse" } do
    it("turns a handler error, an unknown tool and invalid input into error results (" .. api .. ")", function()
      emu:scenario(CLAUDE, { tool_rounds = { { uses = {
        { name = "boom", input = {} },
        { name = "nope", input = { x = 1 } },
        { name = "add", input = { a = 1, b = "two" } },
      } } } })
      local calls = {}
      local conv = bedrock.conversation{ model_id = CLAUDE, api = api, tools = { add_tool(calls),
        { name = "boom", handler = function() error("the boom tool broke", 0) end } } }
      conv:user("try them")
      local reply, run = assert(conv:run(client))
      assert.are.equal("Tool results: error: the boom tool broke | error: unknown tool 'nope' | "
        .. "error: invalid input for tool 'add': input.b: expected number, got string", reply.text)
      assert.are.same({}, calls)                 -- the handler never saw the bad input
      for _, s in ipairs(run.steps) do assert.is_true(s.is_error) end
      assert.are.equal("the boom tool broke", run.steps[1].error)
      -- the results went back marked as errors
      local results = conv:messages()[3].content
      if api == "invoke" then
        assert.is_true(results[1].is_error)
      else
        assert.are.equal("error", results[1].toolResult.status)
      end
      -- and the conversation goes on
      conv:user("thanks")
      local after = assert(conv:send(client))
      assert.are.equal("Using a tool.", after.text)   -- the script starts again at a new question
    end)
  end

  it("stops at max_turns with the results in the history, and a second run goes on", function()
    local rounds = {}
    for i = 1, 3 do rounds[i] = { name = "add", input = { a = i, b = i } } end
    emu:scenario(CLAUDE, { tool_rounds = rounds })
    local conv = bedrock.conversation{ model_id = CLAUDE, tools = { add_tool() } }
    conv:user("add a lot")
    local reply, run = assert(conv:run(client, { max_turns = 2 }))
    assert.are.equal("max_turns", run.stop_reason)
    assert.are.equal(2, run.turns)
    assert.are.equal("tool_use", reply.stop_reason)
    assert.are.same({ "2", "4" }, { run.steps[1].result, run.steps[2].result })
    assert.are.equal("user", conv:messages()[#conv:messages()].role)
    reply, run = assert(conv:run(client))
    assert.are.equal("Tool results: 6", reply.text)
    assert.are.equal(2, run.turns)
  end)

  it("keeps an on_tool error in the step, and an on_event error ends the run with the history intact", function()
    emu:scenario(CLAUDE, { tool_rounds = { { name = "add", input = { a = 1, b = 2 } } } })
    local conv = bedrock.conversation{ model_id = CLAUDE, tools = { add_tool() } }
    conv:user("one and two")
    local reply, run = assert(conv:run(client, { on_tool = function() error("on_tool broke", 0) end }))
    assert.are.equal("Tool results: 3", reply.text)
    assert.are.equal("on_tool broke", run.steps[1].on_tool_error)
    conv:user("again")
    local before = #conv:messages()
    local none, err, run2 = conv:run(client, { on_event = function() error("on_event broke", 0) end })
    assert.is_nil(none)
    assert.are.equal("CallbackError", err.code)
    assert.matches("on_event broke", err.message)
    assert.are.equal(0, run2.turns)
    assert.are.equal(before, #conv:messages())
    assert.are.equal("Tool results: 3", assert(conv:run(client)).text)
  end)

  it("runs tool uses left pending by a plain send first", function()
    emu:scenario(CLAUDE, { tool_rounds = { { name = "add", input = { a = 1, b = 1 } } } })
    local conv = bedrock.conversation{ model_id = CLAUDE, tools = { add_tool() } }
    conv:user("one plus one")
    local first = assert(conv:send(client))
    assert.are.equal(1, #first.tool_uses)
    local reply, run = assert(conv:run(client))
    assert.are.equal("Tool results: 2", reply.text)
    assert.are.equal(1, run.turns)
  end)

  it("is stopped by the budget between turns, and the conversation stays usable", function()
    emu:scenario(CLAUDE, { tool_rounds = { { name = "add", input = { a = 2, b = 2 } } } })
    local tight = bedrock.client(emu:config{ budget = { max_output_tokens = 1 } })
    local conv = bedrock.conversation{ model_id = CLAUDE, tools = { add_tool() } }
    conv:user("two and two")
    local reply, err, run = conv:run(tight)
    assert.is_nil(reply)
    assert.are.equal("BudgetExceeded", err.code)
    assert.are.equal(1, run.turns)
    assert.are.equal("4", run.steps[1].result)
    assert.are.equal(1, tight:usage().total.requests)
    tight:close()
    -- another client (or a reset ledger) finishes the same conversation
    local done = assert(conv:run(client))
    assert.are.equal("Tool results: 4", done.text)
  end)

  it("runs one reply's tool uses concurrently as tasks in the async client, with a timeout per call", function()
    emu:scenario(CLAUDE, { tool_rounds = { { uses = {
      { name = "wait", input = { s = 0.05, tag = "a" } },
      { name = "wait", input = { s = 0.05, tag = "b" } },
      { name = "wait", input = { s = 1.5, tag = "slow" } },
    } } } })
    local log = {}
    local aclient = bedrock.async_client(emu:config())
    local reply, run = bedrock.run(function()
      local conv = bedrock.conversation{ model_id = CLAUDE, tools = { { name = "wait",
        input_schema = { type = "object", properties = { s = { type = "number" }, tag = { type = "string" } } },
        handler = function(input)
          log[#log + 1] = "start " .. input.tag
          bedrock.sleep(input.s)
          log[#log + 1] = "end " .. input.tag
          return input.tag .. " done"
        end } } }
      conv:user("wait for it")
      return conv:run(aclient, { timeout = 1 })
    end)
    assert.is_table(reply, tostring(run))
    -- all three started before any ended: they ran side by side
    assert.are.same({ "start a", "start b", "start slow" }, { log[1], log[2], log[3] })
    assert.are.equal("Tool results: a done | b done | error: tool 'wait' timed out after 1 s", reply.text)
    assert.is_true(run.steps[3].timed_out)
    assert.are.equal(2, aclient:usage().total.requests)
  end)
end)

describe("conv:add_mcp", function()
  local emu, client, server, everything
  setup(function()
    assert(support.installed(), "server-everything is not installed: run `make deps`")
    emu = emulator.shared()
    everything = assert(mcp.connect(support.everything))
    server = everything
  end)
  teardown(function() everything:close() end)
  before_each(function()
    emu:reset()
    client = bedrock.client(emu:config())
  end)
  after_each(function() client:close() end)

  for _, api in ipairs{ "invoke", "converse" } do
    for _, stream in ipairs{ false, true } do
      it("lets the model call server-everything's echo and ends (" .. api .. (stream and ", streamed" or "") .. ")",
        function()
          emu:scenario(CLAUDE, { log_body = true,
            tool_rounds = { { name = "echo", input = { message = "hello from the model" } } } })
          local conv = bedrock.conversation{ model_id = CLAUDE, api = api }
          assert(conv:add_mcp(server))
          conv:user("Echo something")
          local reply, run = conv:run(client, { stream = stream })
          assert.is_table(reply, tostring(run))
          assert.are.equal("Tool results: Echo: hello from the model", reply.text)
          assert.are.equal("echo", run.steps[1].name)
          local sent = bodies(emu)
          local tools = api == "invoke" and sent[1].tools or sent[1].toolConfig.tools
          local found
          for _, t in ipairs(tools) do
            local spec = t.toolSpec or t
            if spec.name == "echo" then found = spec end
          end
          assert.is_table(found)
          local schema_sent = found.input_schema or found.inputSchema.json
          assert.are.equal("string", schema_sent.properties.message.type)
        end)
    end
  end

  for _, api in ipairs{ "invoke", "converse" } do
    it("passes an image result on as the API's image block (" .. api .. ")", function()
      emu:scenario(CLAUDE, { tool_rounds = { { name = "get-tiny-image", input = {} } } })
      local conv = bedrock.conversation{ model_id = CLAUDE, api = api }
      assert(conv:add_mcp(server, { only = { "get-tiny-image" } }))
      conv:user("show me")
      local reply = assert(conv:run(client))
      assert.matches("%[image%]", reply.text)
      local content = conv:messages()[3].content[1]
      local blocks = api == "invoke" and content.content or content.toolResult.content
      local image
      for _, b in ipairs(blocks) do image = image or b.image or (b.type == "image" and b) end
      if api == "invoke" then
        assert.are.same("image/png", image.source.media_type)
      else
        assert.are.equal("png", image.format)
      end
    end)
  end

  it("calls MCP tools of one reply concurrently from an async client", function()
    emu:scenario(CLAUDE, { tool_rounds = { { uses = {
      { name = "echo", input = { message = "first" } },
      { name = "get-sum", input = { a = 1, b = 41 } },
    } } } })
    local aclient = bedrock.async_client(emu:config())
    local reply, run = bedrock.run(function()
      local conv = bedrock.conversation{ model_id = CLAUDE, api = "converse" }
      assert(conv:add_mcp(server, { only = { "echo", "get-sum" } }))
      conv:user("both at once")
      return conv:run(aclient, { timeout = 30 })
    end)
    assert.is_table(reply, tostring(run))
    assert.are.equal("Tool results: Echo: first | The sum of 1 and 41 is 42.", reply.text)
    assert.are.equal(2, #run.steps)
  end)

  it("prefixes the names of a second server's tools that collide", function()
    local fake = assert(mcp.connect(support.fake()))
    emu:scenario(CLAUDE, { tool_rounds = { { uses = {
      { name = "echo", input = { message = "one" } },
      { name = "fake_echo", input = { message = "two" } },
    } } } })
    local conv = bedrock.conversation{ model_id = CLAUDE }
    assert(conv:add_mcp(everything, { only = { "echo" } }))
    local _, added = assert(conv:add_mcp(fake, { only = { "echo", "fail" } }))
    assert.are.same({ "fake_echo", "fail" }, added)
    conv:user("both")
    local reply = assert(conv:run(client))
    assert.are.equal("Tool results: Echo: one | fake echo: two", reply.text)
    fake:close()
  end)

  it("gives a JSON-RPC error and a server that exits mid-call as error results; the conversation goes on", function()
    local fake = assert(mcp.connect(support.fake()))
    emu:scenario(CLAUDE, { tool_rounds = { { name = "fail", input = {} }, { name = "die", input = {} },
      { name = "echo", input = { message = "after" } } } })
    local conv = bedrock.conversation{ model_id = CLAUDE, api = "converse" }
    assert(conv:add_mcp(fake))
    conv:user("break things")
    local reply, run = assert(conv:run(client))
    assert.are.equal(3, #run.steps)
    assert.matches("McpError: fake: tools/call failed (-32602): fail always fails", run.steps[1].error, 1, true)
    assert.matches("McpClosed: fake: the server has gone (exit status 3)", run.steps[2].error, 1, true)
    assert.matches("McpClosed", run.steps[3].error, 1, true)   -- it stays gone
    assert.matches("^Tool results: error: McpClosed", reply.text)
    conv:user("and now?")
    assert.are.equal("Using a tool.", assert(conv:send(client)).text)
    fake:close()
  end)
end)
