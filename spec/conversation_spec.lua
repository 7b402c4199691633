-- Conversations: the invoke path (Anthropic Messages) over the real wire to
-- the emulator, sync and async; the Converse path's message assembly with a
-- fake client table (exact event sequences), then over the wire.
local bedrock = require "bedrock"
local cjson = require "cjson"
local emulator = require "spec.support.emulator"

local CLAUDE37 = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
local NOVA = "us.amazon.nova-lite-v1:0"

-- the bodies an emulator received (scenarios with log_body), decoded
local function bodies_sent_to(emu)
  local out = {}
  for _, r in ipairs(emu:requests()) do
    if r.body then out[#out + 1] = cjson.decode(r.body) end
  end
  return out
end

describe("conversation over invoke_model", function()
  local emu, client

  local function new_client(extra) return bedrock.client(emu:config(extra)) end


  setup(function() emu = emulator.shared() end)
  before_each(function()
    emu:reset()
    emu:scenario(CLAUDE37, { log_body = true })
    client = new_client()
  end)
  after_each(function() client:close() end)

  it("chooses the invoke API for Claude and Converse for other models", function()
    assert.are.equal("invoke", bedrock.conversation{ model_id = CLAUDE37 }.api)
    assert.are.equal("invoke", bedrock.conversation{ model_id = "anthropic.claude-3-haiku-20240307-v1:0" }.api)
    assert.are.equal("converse", bedrock.conversation{ model_id = NOVA }.api)
    assert.are.equal("converse", bedrock.conversation{ model_id = CLAUDE37, api = "converse" }.api)
  end)

  it("sends the history as an Anthropic Messages body and appends the reply", function()
    local conv = bedrock.conversation{ model_id = CLAUDE37, system = "Be brief.", max_tokens = 200,
      params = { temperature = 0.5 } }
    conv:user("hello there")
    local reply, meta = conv:send(client)
    assert.is_table(reply, tostring(meta))
    assert.are.equal("You said: hello there", reply.text)
    assert.are.equal("end_turn", reply.stop_reason)
    assert.are.same({}, reply.tool_uses)
    assert.are.equal(200, meta.status)
    assert.are.same({ input_tokens = 4, output_tokens = 4 }, reply.usage)   -- the emulator counts words

    conv:user("and again")
    local reply2 = assert(conv:send(client))
    assert.are.equal("You said: and again", reply2.text)
    local msgs = conv:messages()
    assert.are.equal(4, #msgs)
    assert.are.same({ "user", "assistant", "user", "assistant" },
      { msgs[1].role, msgs[2].role, msgs[3].role, msgs[4].role })
    assert.are.same({ { type = "text", text = "You said: hello there" } }, msgs[2].content)

    local bodies = bodies_sent_to(emu)
    assert.are.equal(2, #bodies)
    assert.are.same({ anthropic_version = "bedrock-2023-05-31", max_tokens = 200, temperature = 0.5,
      system = "Be brief.",
      messages = { { role = "user", content = { { type = "text", text = "hello there" } } },
                   { role = "assistant", content = { { type = "text", text = "You said: hello there" } } },
                   { role = "user", content = { { type = "text", text = "and again" } } } } }, bodies[2])
    assert.are.same({ input_tokens = 14, output_tokens = 8, calls = 2 }, conv.usage)
  end)

  it("streams the reply and appends it when the stream ends", function()
    local conv = bedrock.conversation{ model_id = CLAUDE37 }
    conv:user("stream this please")
    local s = conv:stream(client)
    local types, text = {}, {}
    for ev in s do
      types[#types + 1] = ev.type
      if ev.type == "content_block_delta" then text[#text + 1] = ev.delta.text end
    end
    assert.are.equal("message_start", types[1])
    assert.are.equal("message_stop", types[#types])
    assert.are.equal("You said: stream this please", table.concat(text))
    assert.are.equal(2, #conv:messages())
    assert.are.same({ { type = "text", text = "You said: stream this please" } }, conv:messages()[2].content)
    assert.are.equal("You said: stream this please", s:reply().text)
    assert.are.same({ input_tokens = 3, output_tokens = 5 }, s:reply().usage)
    assert.are.equal(200, s:get_meta().status)
  end)

  it("leaves the history as it was when a stream fails or is abandoned, and sends it again", function()
    local conv = bedrock.conversation{ model_id = CLAUDE37 }
    conv:user("first try")
    emu:scenario(CLAUDE37, { log_body = true, exception_after_events = 3 })
    local ok, err = pcall(function() for _ in conv:stream(client) do end end)
    assert.is_false(ok)
    assert.are.equal("ModelStreamErrorException", err.code)
    assert.are.equal(1, #conv:messages())

    emu:scenario(CLAUDE37, { log_body = true })
    for _ in conv:stream(client) do break end
    assert.are.equal(1, #conv:messages())

    local _, serr = conv:send(new_client{ max_retries = 0, endpoint_url = "http://127.0.0.1:9" })
    assert.are.equal("ConnectionError", serr.code)
    assert.are.equal(1, #conv:messages())

    local reply = assert(conv:send(client))
    assert.are.equal("You said: first try", reply.text)
    assert.are.equal(2, #conv:messages())
  end)

  it("keeps tool uses and their results paired", function()
    local conv = bedrock.conversation{ model_id = CLAUDE37,
      params = { tools = { { name = "weather", description = "the weather", input_schema = { type = "object" } } } } }
    conv:user("weather in Paris?")
    emu:scenario(CLAUDE37, { log_body = true, stop_reason = "tool_use", content = {
      { type = "text", text = "Let me look." },
      { type = "tool_use", id = "toolu_01", name = "weather", input = { city = "Paris" } },
      { type = "tool_use", id = "toolu_02", name = "weather", input = { city = "Lyon" } } } })
    local reply = assert(conv:send(client))
    assert.are.equal("tool_use", reply.stop_reason)
    assert.are.same({ { id = "toolu_01", name = "weather", input = { city = "Paris" } },
      { id = "toolu_02", name = "weather", input = { city = "Lyon" } } }, reply.tool_uses)
    assert.are.equal(2, #conv:pending_tool_uses())

    -- sending before every tool use has its result is refused, and sends nothing
    local n = #emu:requests()
    conv:tool_result("toolu_01", "sunny")
    local _, err = conv:send(client)
    assert.are.equal("InvalidParameter", err.code)
    assert.matches("toolu_02", err.message, 1, true)
    assert.are.equal(n, #emu:requests())
    assert.has_error(function() conv:tool_result("toolu_99", "x") end)

    conv:user("thanks")                                   -- text goes after the results
    conv:tool_result("toolu_02", { temp_c = 21 }, { is_error = false })
    assert.are.same({}, conv:pending_tool_uses())
    emu:scenario(CLAUDE37, { log_body = true })
    assert(conv:send(client))
    local body = bodies_sent_to(emu)[2]
    assert.are.same({ role = "user", content = {
      { type = "tool_result", tool_use_id = "toolu_01", content = "sunny" },
      { type = "tool_result", tool_use_id = "toolu_02", content = { { type = "text", text = '{"temp_c":21}' } } },
      { type = "text", text = "thanks" } } }, body.messages[3])
    assert.are.equal("toolu_02", body.messages[2].content[3].id)
    assert.are.equal("weather", body.tools[1].name)
  end)

  it("keeps Claude 3.7 thinking blocks with their signatures, streamed or not", function()
    local thinking = { type = "enabled", budget_tokens = 1024 }
    local conv = bedrock.conversation{ model_id = CLAUDE37, max_tokens = 2048, params = { thinking = thinking,
      tools = { { name = "weather", input_schema = { type = "object" } } } } }
    conv:user("weather?")
    local blocks = {
      { type = "thinking", thinking = "The user wants the weather.", signature = "EqoBCkgIARABGAIiQL2+sig/ab==" },
      { type = "redacted_thinking", data = "EmwKAhgBEgy3va3pzix/LafPsn4a" },
      { type = "tool_use", id = "toolu_t1", name = "weather", input = { city = "Oslo", days = { 1, 2 } } } }
    emu:scenario(CLAUDE37, { log_body = true, stop_reason = "tool_use", content = blocks })
    local s = conv:stream(client)
    local deltas = {}
    for ev in s do
      if ev.type == "content_block_delta" then deltas[ev.delta.type] = true end
    end
    assert.is_true(deltas.thinking_delta and deltas.signature_delta and deltas.input_json_delta)
    assert.are.same(blocks, conv:messages()[2].content)
    assert.are.equal("tool_use", s:reply().stop_reason)

    conv:tool_result("toolu_t1", "cold")
    emu:scenario(CLAUDE37, { log_body = true, content = {
      { type = "thinking", thinking = "It is cold.", signature = "second+sig==" },
      { type = "text", text = "Cold in Oslo." } } })
    local reply = assert(conv:send(client))
    assert.are.equal("Cold in Oslo.", reply.text)
    local body = bodies_sent_to(emu)[2]
    assert.are.same(thinking, body.thinking)
    assert.are.same(blocks, body.messages[2].content)        -- unchanged, signatures and all
    assert.are.same({ type = "thinking", thinking = "It is cold.", signature = "second+sig==" },
      conv:messages()[4].content[1])
  end)

  it("trims the oldest turns past max_context_tokens, keeping the system prompt", function()
    local conv = bedrock.conversation{ model_id = CLAUDE37, system = "sys" }
    for _, w in ipairs{ "alpha", "bravo" } do
      conv:user(w .. " one two three four")
      assert(conv:send(client))
    end
    -- counts from the service's usage: 1 (system) + 2 x (5 + 7)
    assert.are.equal(25, conv:estimate_tokens())
    assert.are.same({ true, true, true, true }, conv.exact)
    conv.max_context_tokens = 30
    conv:user("charlie one two three four")              -- heuristic: ceil(26 / 4) + 4 = 11
    assert.are.equal(36, conv:estimate_tokens())
    local reply = assert(conv:send(client))
    assert.are.equal("You said: charlie one two three four", reply.text)
    assert.are.equal(2, conv.trimmed)
    local body = bodies_sent_to(emu)[3]
    assert.are.equal("sys", body.system)
    assert.are.equal(3, #body.messages)
    assert.are.equal("bravo one two three four", body.messages[1].content[1].text)
    assert.are.equal(reply.usage.input_tokens, 1 + 5 + 7 + 5)
    assert.are.equal(4, #conv:messages())
  end)

  it("never starts the kept history inside a tool pair", function()
    local conv = bedrock.conversation{ model_id = CLAUDE37, system = "sys" }
    conv:user("alpha a a a a")
    emu:scenario(CLAUDE37, { log_body = true, stop_reason = "tool_use",
      content = { { type = "tool_use", id = "toolu_1", name = "lookup", input = { q = "a" } } } })
    assert(conv:send(client))
    conv:tool_result("toolu_1", "result r r r r")
    emu:scenario(CLAUDE37, { log_body = true })
    assert(conv:send(client))
    conv:user("bravo b b b b")
    assert(conv:send(client))
    conv:user("charlie c c c c")
    -- history: 1 user, 2 tool_use, 3 tool_result, 4 text, 5 user, 6 text, 7 user.
    -- A limit that the history from message 3 would fit: the cut must still go to 5.
    conv.max_context_tokens = conv:estimate_tokens(3)
    assert.is_true(conv:estimate_tokens(1) > conv.max_context_tokens)
    assert(conv:send(client))
    assert.are.equal(4, conv.trimmed)
    local body = bodies_sent_to(emu)[4]
    assert.are.equal("sys", body.system)
    assert.are.equal("bravo b b b b", body.messages[1].content[1].text)
    for _, m in ipairs(body.messages) do
      for _, b in ipairs(m.content) do
        assert.is_true(b.type ~= "tool_result" and b.type ~= "tool_use")
      end
    end

    -- a limit nothing fits keeps the last exchange that can start a history
    conv.max_context_tokens = 1
    conv:user("delta d")
    assert(conv:send(client))
    assert.are.equal(1, #bodies_sent_to(emu)[5].messages)
    assert.are.equal("delta d", bodies_sent_to(emu)[5].messages[1].content[1].text)
    assert.are.equal("sys", bodies_sent_to(emu)[5].system)
  end)

  it("saves to JSON and resumes mid tool use", function()
    local conv = bedrock.conversation{ model_id = CLAUDE37, system = "Be brief.", max_context_tokens = 5000,
      max_tokens = 300, params = { temperature = 0.2 } }
    conv:user("look it up")
    emu:scenario(CLAUDE37, { log_body = true, stop_reason = "tool_use",
      content = { { type = "tool_use", id = "toolu_s", name = "lookup", input = {} } } })
    assert(conv:send(client))
    local saved = conv:to_json()
    assert.is_string(saved)

    local resumed = assert(bedrock.conversation.from_json(saved))
    assert.are.equal(CLAUDE37, resumed.model_id)
    assert.are.equal("invoke", resumed.api)
    assert.are.equal("Be brief.", resumed.system)
    assert.are.equal(5000, resumed.max_context_tokens)
    assert.are.same(conv:messages(), resumed:messages())
    assert.are.same(conv.tokens, resumed.tokens)
    assert.are.same(conv.usage, resumed.usage)
    assert.are.equal(conv:estimate_tokens(), resumed:estimate_tokens())
    assert.are.same({ { id = "toolu_s", name = "lookup", input = {} } }, resumed:pending_tool_uses())

    resumed:tool_result("toolu_s", "found it")
    emu:scenario(CLAUDE37, { log_body = true })
    local reply = assert(resumed:send(client))
    assert.are.equal("You said: look it up", reply.text)
    local body = bodies_sent_to(emu)[2]
    assert.are.equal(300, body.max_tokens)
    assert.are.equal(0.2, body.temperature)
    -- an empty tool input stays a JSON object through the save
    assert.matches('"input":{}', emu:requests()[2].body, 1, true)
    assert.are.same({ type = "tool_result", tool_use_id = "toolu_s", content = "found it" },
      body.messages[3].content[1])
  end)

  it("refuses what is not a saved conversation", function()
    for _, s in ipairs{ "not json", "[1,2]", '{"format":"other"}',
        '{"format":"lua-bedrock.conversation","version":99,"model_id":"m"}',
        '{"format":"lua-bedrock.conversation","version":1}',
        '{"format":"lua-bedrock.conversation","version":1,"model_id":"m","messages":[{"role":"x","content":[]}]}' } do
      local conv, err = bedrock.conversation.from_json(s)
      assert.is_nil(conv, s)
      assert.are.equal("InvalidParameter", err.code, s)
    end
    assert.is_nil((bedrock.conversation.from_json(7)))
  end)

  it("refuses to send with nothing to send, and bad options", function()
    local conv = bedrock.conversation{ model_id = CLAUDE37 }
    local _, err = conv:send(client)
    assert.are.equal("InvalidParameter", err.code)
    local ok, serr = pcall(function() for _ in conv:stream(client) do end end)
    assert.is_false(ok)
    assert.are.equal("InvalidParameter", serr.code)
    assert.are.same({}, emu:requests())
    for _, opts in ipairs{ {}, { model_id = 5 }, { model_id = "m", api = "grpc" }, { model_id = "m", bogus = 1 },
        { model_id = "m", max_context_tokens = 0 }, { model_id = "m", system = {} } } do
      local ok2, e = pcall(bedrock.conversation, opts)
      assert.is_false(ok2)
      assert.are.equal("InvalidParameter", e.code)
    end
    assert.has_error(function() conv:user(42) end)
    assert.has_error(function() conv:user({}) end)
  end)

  it("validates the body it builds (a bad param is caught before sending)", function()
    local conv = bedrock.conversation{ model_id = CLAUDE37, params = { temperature = 2 } }
    conv:user("hi")
    local _, err = conv:send(client)
    assert.are.equal("InvalidParameter", err.code)
    assert.are.equal("body.temperature", err.path)
    assert.are.equal(1, #conv:messages())
    assert.are.same({}, emu:requests())
    assert(conv:send(client, { validate = false }))
  end)

  it("works with the async client, several conversations at once", function()
    local aclient = bedrock.async_client{ endpoint_url = emu.url, region_name = "us-east-1",
      access_key_id = emulator.credentials.access_key_id,
      secret_access_key = emulator.credentials.secret_access_key }
    local convs = {}
    bedrock.run(function()
      local tasks = {}
      for i = 1, 3 do
        convs[i] = bedrock.conversation{ model_id = CLAUDE37 }
        tasks[i] = bedrock.spawn(function()
          convs[i]:user("task " .. i)
          assert(convs[i]:send(aclient))
          convs[i]:user("stream " .. i)
          for _ in convs[i]:stream(aclient) do end
        end)
      end
      for i = 1, 3 do tasks[i]:wait() end
    end)
    for i = 1, 3 do
      local m = convs[i]:messages()
      assert.are.equal(4, #m)
      assert.are.equal("You said: task " .. i, m[2].content[1].text)
      assert.are.equal("You said: stream " .. i, m[4].content[1].text)
    end
  end)
end)

describe("conversation over Converse (message assembly, fake client)", function()
  -- A stand-in with the converse client's interface: it records requests and
  -- answers with the service model's shapes. The wire itself is specced with
  -- the real client in the next describe.
  local function fake_client(replies, events)
    local fake = { calls = {} }
    function fake:converse(req)
      self.calls[#self.calls + 1] = req
      return table.remove(replies, 1), { status = 200 }
    end
    function fake:converse_stream(req)
      self.calls[#self.calls + 1] = req
      local i = 0
      local s = { closed = false }
      function s:next()
        i = i + 1
        return events[i]
      end
      function s:close() self.closed = true end
      function s:get_meta() return { status = 200 } end
      fake.stream = s
      return s
    end
    return fake
  end

  it("builds wire-form Converse requests and appends output.message", function()
    local fake = fake_client{ {
      output = { message = { role = "assistant", content = { { text = "Hi there." } } } },
      stopReason = "end_turn", usage = { inputTokens = 12, outputTokens = 3, totalTokens = 15 } } }
    local conv = bedrock.conversation{ model_id = NOVA, system = "Be brief.", max_tokens = 256,
      params = { inference_config = { temperature = 0.3 }, additional_model_request_fields = { top_k = 5 } } }
    conv:user("Hello")
    local reply, meta = conv:send(fake)
    assert.are.equal(200, meta.status)
    assert.are.equal("Hi there.", reply.text)
    assert.are.equal("end_turn", reply.stop_reason)
    assert.are.same({ input_tokens = 12, output_tokens = 3 }, reply.usage)
    local req = fake.calls[1]
    assert.are.equal(NOVA, req.model_id)
    assert.are.same({ { text = "Be brief." } }, req.system)
    assert.are.same({ maxTokens = 256, temperature = 0.3 }, req.inference_config)
    assert.are.same({ top_k = 5 }, req.additional_model_request_fields)
    assert.are.same({ { role = "user", content = { { text = "Hello" } } },
      { role = "assistant", content = { { text = "Hi there." } } } }, conv:messages())
    assert.are.same({ true, true }, conv.exact)
    assert.are.equal(12 + 3, conv:estimate_tokens())
  end)

  it("pairs toolUse with toolResult in the Converse wire form", function()
    local fake = fake_client{
      { output = { message = { role = "assistant", content = {
        { text = "Checking." }, { toolUse = { toolUseId = "tu_1", name = "weather", input = { city = "Rome" } } } } } },
        stopReason = "tool_use", usage = { inputTokens = 5, outputTokens = 9 } },
      { output = { message = { role = "assistant", content = { { text = "Warm." } } } },
        stopReason = "end_turn", usage = { inputTokens = 30, outputTokens = 1 } } }
    local conv = bedrock.conversation{ model_id = NOVA,
      params = { tool_config = { tools = { { toolSpec = { name = "weather", inputSchema = { json = {} } } } } } } }
    conv:user("Weather in Rome?")
    local reply = assert(conv:send(fake))
    assert.are.same({ { id = "tu_1", name = "weather", input = { city = "Rome" } } }, reply.tool_uses)
    local _, err = conv:send(fake)
    assert.are.equal("InvalidParameter", err.code)
    conv:tool_result("tu_1", { temp = 28 })
    assert(conv:send(fake))
    local sent = fake.calls[2].messages
    assert.are.same({ role = "user", content = { { toolResult = { toolUseId = "tu_1",
      content = { { json = { temp = 28 } } }, status = "success" } } } }, sent[3])
    assert.are.equal("weather", fake.calls[2].tool_config.tools[1].toolSpec.name)
    conv:user("and tomorrow?")
    local m = conv:messages()
    assert.are.equal(5, #m)
    assert.are.equal("Warm.", m[4].content[1].text)
  end)

  it("assembles a converse_stream reply: text, toolUse input and reasoning with its signature", function()
    local events = {
      { type = "messageStart", role = "assistant" },
      { type = "contentBlockDelta", contentBlockIndex = 0, delta = { reasoningContent = { text = "Think " } } },
      { type = "contentBlockDelta", contentBlockIndex = 0, delta = { reasoningContent = { text = "more." } } },
      { type = "contentBlockDelta", contentBlockIndex = 0, delta = { reasoningContent = { signature = "sig==" } } },
      { type = "contentBlockStop", contentBlockIndex = 0 },
      { type = "contentBlockDelta", contentBlockIndex = 1, delta = { text = "Hello" } },
      { type = "contentBlockDelta", contentBlockIndex = 1, delta = { text = " world" } },
      { type = "contentBlockStop", contentBlockIndex = 1 },
      { type = "contentBlockStart", contentBlockIndex = 2, start = { toolUse = { toolUseId = "tu_9", name = "f" } } },
      { type = "contentBlockDelta", contentBlockIndex = 2, delta = { toolUse = { input = '{"a":' } } },
      { type = "contentBlockDelta", contentBlockIndex = 2, delta = { toolUse = { input = '[1,2]}' } } },
      { type = "contentBlockStop", contentBlockIndex = 2 },
      { type = "messageStop", stopReason = "tool_use" },
      { type = "metadata", usage = { inputTokens = 7, outputTokens = 11, totalTokens = 18 }, metrics = { latencyMs = 5 } },
    }
    local fake = fake_client({}, events)
    local conv = bedrock.conversation{ model_id = CLAUDE37, api = "converse" }
    conv:user("go")
    local s = conv:stream(fake)
    local n = 0
    for ev in s do
      n = n + 1
      assert.are.equal(events[n], ev)
    end
    assert.are.equal(#events, n)
    assert.are.same({
      { reasoningContent = { reasoningText = { text = "Think more.", signature = "sig==" } } },
      { text = "Hello world" },
      { toolUse = { toolUseId = "tu_9", name = "f", input = { a = { 1, 2 } } } } }, conv:messages()[2].content)
    assert.are.equal("tool_use", s:reply().stop_reason)
    assert.are.equal("Hello world", s:reply().text)
    assert.are.same({ input_tokens = 7, output_tokens = 11 }, s:reply().usage)
    assert.are.same({ { id = "tu_9", name = "f", input = { a = { 1, 2 } } } }, conv:pending_tool_uses())
    assert.is_true(fake.stream.closed == false)
  end)

  it("appends nothing when the converse stream breaks off", function()
    local fake = fake_client({}, { { type = "messageStart", role = "assistant" },
      { type = "contentBlockDelta", contentBlockIndex = 0, delta = { text = "par" } } })
    local conv = bedrock.conversation{ model_id = NOVA }
    conv:user("go")
    local s, x, y, closing = conv:stream(fake)
    for _ in s, x, y, closing do break end
    if _VERSION ~= "Lua 5.4" then
      -- no closing value before 5.4: the break leaves the stream open until close()
      assert.is_false(fake.stream.closed)
      s:close()
    end
    assert.is_true(fake.stream.closed)
    assert.are.equal(1, #conv:messages())
  end)
end)

describe("conversation token estimates", function()
  it("uses ceil(bytes / 4) per turn plus 4, and a fixed count per image", function()
    local est = bedrock.conversation.estimate_message
    assert.are.equal(4 + 3, est{ role = "user", content = { { type = "text", text = "0123456789" } } })
    assert.are.equal(4 + 3, est{ role = "user", content = { { text = "0123456789" } } })
    assert.are.equal(4 + 1600, est{ role = "user", content = { { type = "image", source = {} } } })
  end)
end)

describe("conversation over Converse, over the wire", function()
  -- The same assembly as above, through the real client and the emulator's
  -- /converse and /converse-stream routes.
  local emu, client

  setup(function() emu = emulator.shared() end)
  before_each(function()
    emu:reset()
    client = bedrock.client(emu:config())
  end)
  after_each(function() client:close() end)

  it("sends wire-form Converse requests and appends output.message", function()
    emu:scenario(NOVA, { log_body = true })
    local conv = bedrock.conversation{ model_id = NOVA, system = "Be brief.", max_tokens = 256,
      params = { inference_config = { temperature = 0.3 } } }
    conv:user("Hello there")
    local reply, meta = conv:send(client)
    assert.is_table(reply, tostring(meta))
    assert.are.equal("You said: Hello there", reply.text)
    assert.are.equal("end_turn", reply.stop_reason)
    assert.are.equal(200, meta.status)
    conv:user("again")
    local reply2 = assert(conv:send(client))
    assert.are.equal("You said: again", reply2.text)
    local bodies = bodies_sent_to(emu)
    assert.are.equal(2, #bodies)
    assert.are.same({ { text = "Be brief." } }, bodies[2].system)
    assert.are.same({ maxTokens = 256, temperature = 0.3 }, bodies[2].inferenceConfig)
    assert.are.same({ { role = "user", content = { { text = "Hello there" } } },
      { role = "assistant", content = { { text = "You said: Hello there" } } },
      { role = "user", content = { { text = "again" } } } }, bodies[2].messages)
    assert.are.equal(4, #conv:messages())
  end)

  it("pairs toolUse with toolResult", function()
    emu:scenario(NOVA, { log_body = true, tool_use = "weather" })
    local conv = bedrock.conversation{ model_id = NOVA,
      params = { tool_config = { tools = { { toolSpec = { name = "weather",
        inputSchema = { json = { type = "object" } } } } } } } }
    conv:user("Rome")
    local reply = assert(conv:send(client))
    assert.are.equal("tool_use", reply.stop_reason)
    assert.are.equal(1, #reply.tool_uses)
    assert.are.equal("weather", reply.tool_uses[1].name)
    assert.are.same({ query = "Rome" }, reply.tool_uses[1].input)
    local _, err = conv:send(client)              -- the tool use is unanswered
    assert.are.equal("InvalidParameter", err.code)
    conv:tool_result(reply.tool_uses[1].id, { temp = 28 })
    local final = assert(conv:send(client))
    assert.are.equal("end_turn", final.stop_reason)
    local sent = bodies_sent_to(emu)[2].messages
    assert.are.same({ role = "user", content = { { toolResult = { toolUseId = reply.tool_uses[1].id,
      content = { { json = { temp = 28 } } }, status = "success" } } } }, sent[3])
    assert.are.equal(4, #conv:messages())
  end)

  it("assembles a streamed reply with its reasoning signature and sends it back unchanged", function()
    emu:scenario(NOVA, { log_body = true, reasoning = "Let me think." })
    local conv = bedrock.conversation{ model_id = NOVA }
    conv:user("Why?")
    local seen = 0
    for ev in conv:stream(client) do seen = seen + 1; assert.is_string(ev.type) end
    assert.is_true(seen >= 5)
    local m = conv:messages()
    assert.are.equal(2, #m)
    local reasoning = m[2].content[1].reasoningContent
    assert.are.equal("Let me think.", reasoning.reasoningText.text)
    assert.matches("^sig%-", reasoning.reasoningText.signature)
    assert.are.equal("You said: Why?", m[2].content[2].text)
    conv:user("Go on")
    assert(conv:send(client))
    assert.are.same(m[2], bodies_sent_to(emu)[2].messages[2])
  end)

  it("appends nothing when the stream breaks off, and sends the turn again", function()
    emu:scenario(NOVA, { reset_after_events = 2, fault_attempts = 1 })
    local conv = bedrock.conversation{ model_id = NOVA }
    conv:user("hello")
    local ok = pcall(function() for _ in conv:stream(client) do end end)
    assert.is_false(ok)
    assert.are.equal(1, #conv:messages())
    local reply = assert(conv:send(client))
    assert.are.equal("You said: hello", reply.text)
    assert.are.equal(2, #conv:messages())
  end)
end)
