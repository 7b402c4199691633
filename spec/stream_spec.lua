-- invoke_model_with_response_stream over the real wire, including the
-- faults a stream can meet; a stream must never end silently short.
local bedrock = require "bedrock"
local emulator = require "spec.support.emulator"

local CLAUDE = "anthropic.claude-3-sonnet-20240229-v1:0"
local BODY = { anthropic_version = "bedrock-2023-05-31", max_tokens = 100,
  messages = { { role = "user", content = "Hello there" } } }

describe("invoke_model_with_response_stream", function()
  local emu, client

  local function new_client(extra) return bedrock.client(emu:config(extra)) end

  local function collect(stream)
    local events = {}
    local ok, err = pcall(function()
      for ev in stream do events[#events + 1] = ev end
    end)
    return events, (not ok) and err or nil
  end

  setup(function() emu = emulator.shared() end)
  before_each(function() emu:reset(); client = new_client() end)
  after_each(function() client:close() end)

  it("yields the model's decoded events in order, with the metrics", function()
    emu:scenario(CLAUDE, { text = "one two three four", deltas = 4 })
    local types, text = {}, {}
    local stream = client:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY }
    for ev in stream do
      types[#types + 1] = ev.type
      if ev.type == "content_block_delta" then text[#text + 1] = ev.delta.text end
    end
    assert.are.same({ "message_start", "content_block_start", "content_block_delta", "content_block_delta",
      "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop" }, types)
    assert.are.equal("one two three four", (table.concat(text):gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")))
    local meta = stream:get_meta()
    assert.are.equal(200, meta.status)
    assert.is_string(meta.request_id)
    assert.is_number(meta.usage.input_tokens)
    assert.is_number(meta.usage.output_tokens)
    assert.are.equal(1, meta.attempts)
    local log = emu:requests()
    assert.are.equal("/model/anthropic.claude-3-sonnet-20240229-v1%3A0/invoke-with-response-stream", log[1].path)
    assert.are.equal("application/json", log[1].headers["x-amzn-bedrock-accept"])
  end)

  it("yields the raw inner bytes with raw = true", function()
    local first
    for ev in client:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY, raw = true } do
      first = first or ev
    end
    assert.is_string(first)
    assert.matches('"type"%s*:%s*"message_start"', first)
  end)

  it("returns stream, nil, nil, stream so a break closes the transfer (Lua 5.4)", function()
    emu:scenario(CLAUDE, { deltas = 200, event_delay_ms = 5 })
    local a, b, c, d = client:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY }
    assert.are.equal(a, d)
    assert.is_nil(b)
    assert.is_nil(c)
    local n = 0
    for _ in a, b, c, d do
      n = n + 1
      if n == 3 then break end
    end
    if _VERSION ~= "Lua 5.4" then
      -- no closing value before 5.4: the stream is open until close() (or __gc)
      assert.is_nil(a.closed)
      assert.is_not_nil(a.x)
      a:close()
    end
    assert.is_true(a.closed)
    assert.is_nil(a.x)
    -- the client is still good for the next call
    local body = client:invoke_model{ model_id = CLAUDE, body = BODY }
    assert.is_table(body)
  end)

  it("closes with <close> (Lua 5.4) and with close()", function()
    local s = client:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY }
    if _VERSION == "Lua 5.4" then
      -- 5.4 syntax, compiled only on 5.4 so that this file parses on every Lua
      assert(load([[
        local s, assert = ...
        do
          local s2 <close> = s
          assert.is_table(s2:next())
        end]], "=<close>"))(s, assert)
    else
      assert.is_table(s:next())
      assert.is_nil(s.closed)
      s:close()
    end
    assert.is_true(s.closed)
    assert.is_nil(s:next())
    local s3 = client:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY }
    s3:close()
    s3:close()
    assert.is_nil(s3:next())
  end)

  it("closes a stream dropped half way when it is collected (__gc, on every Lua)", function()
    emu:scenario(CLAUDE, { deltas = 200, event_delay_ms = 5 })
    local engine = client.driver.engine()
    local function open_and_drop()
      local s = client:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY }
      assert.is_table(s:next())
      assert.are.equal(1, engine:running())
    end
    open_and_drop()
    collectgarbage()
    collectgarbage()
    assert.are.equal(0, engine:running())
    -- the client is still good for the next call
    assert.is_table(client:invoke_model{ model_id = CLAUDE, body = BODY })
  end)

  it("offers next() returning nil, err instead of raising", function()
    emu:scenario(CLAUDE, { fail_first = 5, fail_status = 400, fail_code = "ValidationException" })
    local s = client:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY }
    local ev, err = s:next()
    assert.is_nil(ev)
    assert.are.equal("ValidationException", err.code)
    local ev2, err2 = s:next()
    assert.is_nil(ev2)
    assert.are.equal(err, err2)
  end)

  it("raises when the stream cannot be opened", function()
    local c = new_client{ secret_access_key = "wrong" }
    local events, err = collect(c:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY })
    c:close()
    assert.are.equal(0, #events)
    assert.are.equal("InvalidSignatureException", err.code)
    assert.are.equal(403, err.status)
  end)

  it("raises InvalidParameter for bad parameters, sending nothing", function()
    local events, err = collect(client:invoke_model_with_response_stream{ body = BODY })
    assert.are.equal(0, #events)
    assert.are.equal("InvalidParameter", err.code)
    assert.are.equal(0, #emu:requests())
  end)

  it("retries a throttled open, since no event reached the caller", function()
    emu:scenario(CLAUDE, { fail_first = 2, fail_status = 503, fail_code = "ServiceUnavailableException" })
    local s = client:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY }
    local events, err = collect(s)
    assert.is_nil(err)
    assert.are.equal(9, #events)
    assert.are.equal(3, s:get_meta().attempts)
  end)

  it("raises an in-stream exception with its type, after the events before it", function()
    emu:scenario(CLAUDE, { exception_after_events = 3, exception_type = "modelStreamErrorException",
      exception_message = "the model broke" })
    local events, err = collect(client:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY })
    assert.are.equal(3, #events)
    assert.are.equal("ModelStreamErrorException", err.code)
    assert.are.equal("modelStreamErrorException", err.exception_type)
    assert.are.equal("the model broke", err.message)
    assert.is_string(err.request_id)
    assert.are.equal(1, #emu:requests())
  end)

  it("retries a throttling exception that arrives before any event", function()
    emu:scenario(CLAUDE, { exception_after_events = 0, exception_type = "throttlingException" })
    -- the scenario throttles every attempt: all max_retries + 1 are made
    local c = new_client{ max_retries = 1 }
    local events, err = collect(c:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY })
    c:close()
    assert.are.equal(0, #events)
    assert.are.equal("ThrottlingException", err.code)
    assert.are.equal(2, err.attempts)
    assert.are.equal(2, #emu:requests())
  end)

  it("raises ConnectionError on a reset mid-stream, never a quiet end", function()
    emu:scenario(CLAUDE, { reset_after_events = 4 })
    local events, err = collect(client:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY })
    assert.are.equal(4, #events)
    assert.is_not_nil(err)
    assert.are.equal("ConnectionError", err.code)
    assert.are.equal(1, #emu:requests())   -- not retried: events reached the caller
  end)

  it("raises EventStreamError on a corrupt CRC", function()
    emu:scenario(CLAUDE, { corrupt_crc_after_events = 2 })
    local events, err = collect(client:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY })
    assert.are.equal(2, #events)
    assert.are.equal("EventStreamError", err.code)
    assert.matches("checksum", err.message)
  end)

  it("raises EventStreamError on a stream truncated inside a frame", function()
    emu:scenario(CLAUDE, { truncate_after_events = 5 })
    local events, err = collect(client:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY })
    assert.are.equal(5, #events)
    assert.are.equal("EventStreamError", err.code)
    assert.matches("ended inside", err.message)
  end)

  it("raises EventStreamError on garbage instead of an event stream", function()
    emu:scenario(CLAUDE, { garbage = true })
    local events, err = collect(client:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY })
    assert.are.equal(0, #events)
    assert.are.equal("EventStreamError", err.code)
  end)

  it("reassembles frames split into 1-byte writes", function()
    emu:scenario(CLAUDE, { split_writes = 1, text = "split into tiny writes" })
    local events, err = collect(client:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY })
    assert.is_nil(err)
    assert.are.equal("message_stop", events[#events].type)
  end)

  it("cuts a silent stream at the timeout, but never a stream that keeps sending", function()
    local c = new_client{ timeout = 0.4 }
    emu:scenario(CLAUDE, { deltas = 12, event_delay_ms = 100 })   -- 1.2 s in all, 0.1 s gaps
    local events, err = collect(c:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY })
    assert.is_nil(err)
    assert.are.equal("message_stop", events[#events].type)
    emu:scenario(CLAUDE, { silence_after_events = 2, silence_ms = 1500 })
    events, err = collect(c:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY })
    c:close()
    assert.are.equal(2, #events)
    assert.are.equal("TimeoutError", err.code)
  end)

  it("holds a bounded queue for a slow reader and loses nothing", function()
    emu:scenario(CLAUDE, { deltas = 20000, payload_pad = 200 })
    local s = client:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY }
    local n, deltas = 0, 0
    for ev in s do
      n = n + 1
      if ev.type == "content_block_delta" then deltas = deltas + 1 end
    end
    assert.are.equal(20000, deltas)
  end)
end)
