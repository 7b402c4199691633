-- converse, converse_stream, count_tokens, apply_guardrail,
-- invoke_guardrail_checks and the async-invoke operations over the real wire
-- to the emulator, on the sync and the async client alike; and the invoke
-- headers of the service model.
local bedrock = require "bedrock"
local cjson = require "cjson"
local emulator = require "spec.support.emulator"

local CLAUDE = "anthropic.claude-3-sonnet-20240229-v1:0"
local PROFILE = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
local NOVA_REEL = "amazon.nova-reel-v1:0"

local function hello(text)
  return { { role = "user", content = { { text = text or "hello there" } } } }
end

for _, mode in ipairs{ "sync", "async" } do
  describe(mode .. " client operations", function()
    local emu, client

    -- run fn(client) on this mode's client: inside bedrock.run for async
    local function run(fn)
      if mode == "sync" then return fn(client) end
      return bedrock.run(fn, client)
    end

    local function new_client(extra)
      local cfg = { endpoint_url = emu.url, region_name = "us-east-1", timeout = 5,
        access_key_id = emulator.credentials.access_key_id,
        secret_access_key = emulator.credentials.secret_access_key }
      for k, v in pairs(extra or {}) do cfg[k] = v end
      return mode == "sync" and bedrock.client(cfg) or bedrock.async_client(cfg)
    end

    setup(function() emu = emulator.shared() end)
    before_each(function()
      emu:reset()
      emu:call("POST", "/__emulator/options", '{"log_bodies": true}')
      client = new_client()
    end)
    after_each(function() client:close() end)

    describe("converse", function()
      it("returns the Converse reply as the wire JSON decodes, with usage in meta", function()
        local body, meta = run(function(c)
          return c:converse{ model_id = CLAUDE, messages = hello("hello there"),
            system = { { text = "be brief" } },
            inference_config = { max_tokens = 50, temperature = 0.5, top_p = 0.9, stop_sequences = {} } }
        end)
        assert.is_table(body, tostring(meta))
        assert.are.equal("assistant", body.output.message.role)
        assert.are.equal("You said: hello there", body.output.message.content[1].text)
        assert.are.equal("end_turn", body.stopReason)
        assert.are.equal(4, body.usage.inputTokens)
        assert.are.equal(4, body.usage.outputTokens)
        assert.are.equal(8, body.usage.totalTokens)
        assert.is_number(body.metrics.latencyMs)
        assert.are.equal(200, meta.status)
        assert.are.equal(4, meta.usage.input_tokens)
        assert.are.equal(4, meta.usage.output_tokens)
        local log = emu:requests()
        assert.are.equal("/model/anthropic.claude-3-sonnet-20240229-v1%3A0/converse", log[1].path)
        assert.are.equal("POST", log[1].method)
        assert.are.equal("application/json", log[1].headers["content-type"])
        local sent = cjson.decode(log[1].body)
        assert.are.same({ maxTokens = 50, temperature = 0.5, topP = 0.9, stopSequences = {} }, sent.inferenceConfig)
        assert.matches('"stopSequences":%[%]', log[1].body)  -- an empty list is a JSON list
        assert.are.same({ { text = "be brief" } }, sent.system)
        assert.is_nil(sent.modelId)                          -- a URI label, not a body member
      end)

      it("takes messages in wire form, tool blocks in camelCase, and documents untouched", function()
        local messages = {
          { role = "user", content = { { text = "weather?" } } },
          { role = "assistant", content = { { toolUse = { toolUseId = "t1", name = "weather",
            input = { city_name = "Paris", days = {} } } } } },
          { role = "user", content = { { toolResult = { toolUseId = "t1", status = "success",
            content = { { json = { temp_c = 21 } } } } } } },
        }
        local body, meta = run(function(c)
          return c:converse{ modelId = CLAUDE, messages = messages,
            toolConfig = { tools = { { toolSpec = { name = "weather",
              inputSchema = { json = { type = "object", properties = { city_name = { type = "string" } } } } } } },
              tool_choice = { auto = {} } },
            additional_model_request_fields = { top_k = 5 },
            prompt_variables = { my_var = { text = "v" } },
            request_metadata = { team_name = "x" } }
        end)
        assert.is_table(body, tostring(meta))
        local sent = cjson.decode(emu:requests()[1].body)
        assert.are.equal("Paris", sent.messages[2].content[1].toolUse.input.city_name)
        assert.are.equal(21, sent.messages[3].content[1].toolResult.content[1].json.temp_c)
        assert.are.equal("object", sent.toolConfig.tools[1].toolSpec.inputSchema.json.type)
        assert.is_table(sent.toolConfig.tools[1].toolSpec.inputSchema.json.properties.city_name)
        assert.is_table(sent.toolConfig.toolChoice.auto)
        assert.are.same({ top_k = 5 }, sent.additionalModelRequestFields)
        assert.are.same({ my_var = { text = "v" } }, sent.promptVariables)
        assert.are.same({ team_name = "x" }, sent.requestMetadata)
      end)

      it("replies with a toolUse block and a reasoning block when the scenario asks", function()
        emu:scenario(CLAUDE, { tool_use = "lookup", reasoning = "think first" })
        local body = assert(run(function(c) return c:converse{ model_id = CLAUDE, messages = hello("find cats") } end))
        local content = body.output.message.content
        assert.are.equal("think first", content[1].reasoningContent.reasoningText.text)
        assert.is_string(content[1].reasoningContent.reasoningText.signature)
        assert.are.equal("lookup", content[3].toolUse.name)
        assert.are.equal("find cats", content[3].toolUse.input.query)
        assert.are.equal("tool_use", body.stopReason)
      end)

      it("encodes bedrock.bytes as base64 and refuses raw bytes given as text", function()
        local png = "\137PNG\r\n\26\n\0\0"
        local ok, meta = run(function(c)
          return c:converse{ model_id = CLAUDE, messages = { { role = "user", content = {
            { image = { format = "png", source = { bytes = bedrock.bytes(png) } } }, { text = "what is it" } } } } }
        end)
        assert.is_table(ok, tostring(meta))
        local sent = cjson.decode(emu:requests()[1].body)
        assert.are.equal(png, require("bedrock.core").b64decode(sent.messages[1].content[1].image.source.bytes))
        local body, err = run(function(c)
          return c:converse{ model_id = CLAUDE, messages = { { role = "user", content = {
            { image = { format = "png", source = { bytes = png } } } } } } }
        end)
        assert.is_nil(body)
        assert.are.equal("InvalidParameter", err.code)
        assert.are.equal("messages[1].content[1].image.source.bytes", err.path)
        assert.matches("bedrock.bytes", err.message)
      end)

      it("refuses bad parameters before sending, naming the path", function()
        local cases = {
          { { messages = hello() }, "model_id", "is required" },
          { { model_id = CLAUDE, messagez = {} }, "messagez", "not a parameter" },
          { { model_id = CLAUDE, messages = "hi" }, "messages", "must be a list" },
          { { model_id = CLAUDE, messages = { { role = "user", content = { { text = "a", image = {
            format = "png", source = { bytes = "eA==" } } } } } } }, "messages[1].content[1]", "exactly one" },
          { { model_id = CLAUDE, inference_config = { max_tokens = "10" } }, "inference_config.max_tokens", "integer" },
          { { model_id = CLAUDE, inference_config = { temperature = 0 / 0 } }, "inference_config.temperature", "finite" },
          { { model_id = CLAUDE, modelId = CLAUDE }, "model", "given twice" },
          { { model_id = "bad\nid" }, "model_id", "CR, LF" },
        }
        for _, case in ipairs(cases) do
          local body, err = run(function(c) return c:converse(case[1]) end)
          assert.is_nil(body)
          assert.are.equal("InvalidParameter", err.code)
          assert.matches(case[2], err.message, 1, true)
          assert.matches(case[3], err.message, 1, true)
        end
        assert.are.equal(0, #emu:requests())
      end)

      it("returns service errors and retries throttling", function()
        emu:scenario(CLAUDE, { fail_first = 1 })
        local body, meta = run(function(c) return c:converse{ model_id = CLAUDE, messages = hello() } end)
        assert.is_table(body, tostring(meta))
        assert.are.equal(2, meta.attempts)
        local _, err = run(function(c) return c:converse{ model_id = CLAUDE, messages = {} } end)
        assert.are.equal("ValidationException", err.code)
        assert.are.equal(400, err.status)
      end)
    end)

    describe("converse_stream", function()
      it("yields each event as its payload plus type, in the service's order", function()
        emu:scenario(PROFILE, { cache_read_tokens = 3 })
        local events, meta = run(function(c)
          local evs = {}
          local s = c:converse_stream{ model_id = PROFILE, messages = hello("stream this please") }
          for ev in s do evs[#evs + 1] = ev end
          return evs, s:get_meta()
        end)
        local types = {}
        for i, ev in ipairs(events) do types[i] = ev.type end
        assert.are.same({ "messageStart", "contentBlockDelta", "contentBlockDelta", "contentBlockDelta",
          "contentBlockDelta", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata" }, types)
        assert.are.equal("assistant", events[1].role)
        assert.are.equal(0, events[2].contentBlockIndex)
        local text = {}
        for _, ev in ipairs(events) do
          if ev.type == "contentBlockDelta" then text[#text + 1] = ev.delta.text end
          assert.is_nil(ev.p)                               -- Bedrock's padding is dropped
        end
        assert.are.equal("You said: stream this please", table.concat(text))
        assert.are.equal("end_turn", events[8].stopReason)
        local md = events[9]
        assert.are.equal(3, md.usage.inputTokens)
        assert.are.equal(5, md.usage.outputTokens)                -- one per delta
        assert.are.equal(3, md.usage.cacheReadInputTokens)
        assert.are.equal(11, md.usage.totalTokens)
        assert.is_number(md.metrics.latencyMs)
        assert.are.equal(3, meta.usage.input_tokens)
        assert.are.equal(3, meta.usage.cache_read_input_tokens)
        assert.are.equal("/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse-stream", emu:requests()[1].path)
      end)

      it("streams tool use and reasoning blocks with their start events", function()
        emu:scenario(CLAUDE, { tool_use = "lookup", reasoning = "hmm" })
        local events = run(function(c)
          local evs = {}
          for ev in c:converse_stream{ model_id = CLAUDE, messages = hello("q") } do evs[#evs + 1] = ev end
          return evs
        end)
        local starts, input, sig = {}, {}, nil
        for _, ev in ipairs(events) do
          if ev.type == "contentBlockStart" then starts[#starts + 1] = ev end
          if ev.type == "contentBlockDelta" and ev.delta.toolUse then input[#input + 1] = ev.delta.toolUse.input end
          if ev.type == "contentBlockDelta" and ev.delta.reasoningContent and ev.delta.reasoningContent.signature then
            sig = ev.delta.reasoningContent.signature
          end
        end
        assert.are.equal(1, #starts)
        assert.are.equal("lookup", starts[1].start.toolUse.name)
        assert.are.equal(2, starts[1].contentBlockIndex)
        assert.are.same({ query = "q" }, cjson.decode(table.concat(input)))
        assert.is_string(sig)
        assert.are.equal("tool_use", events[#events - 1].stopReason)
      end)

      it("raises an exception event as an error object whose code is the exception type", function()
        emu:scenario(CLAUDE, { exception_after_events = 3, exception_type = "throttlingException",
          exception_message = "slow down" })
        local got, err = run(function(c)
          local n = 0
          local ok, e = pcall(function()
            for _ in c:converse_stream{ model_id = CLAUDE, messages = hello() } do n = n + 1 end
          end)
          assert(not ok)
          return n, e
        end)
        assert.are.equal(3, got)
        assert.is_true(bedrock.is_error(err))
        assert.are.equal("ThrottlingException", err.code)
        assert.are.equal("slow down", err.message)
        assert.are.equal(1, #emu:requests())                -- never retried after events arrived
      end)

      it("never ends silently short", function()
        for _, sc in ipairs{ { reset_after_events = 4 }, { truncate_after_events = 4 },
            { corrupt_crc_after_events = 4 }, { exception_after_events = 8 } } do
          emu:scenario(CLAUDE, sc)
          local ok, err = run(function(c)
            return pcall(function() for _ in c:converse_stream{ model_id = CLAUDE, messages = hello() } do end end)
          end)
          assert.is_false(ok)
          assert.is_true(bedrock.is_error(err), tostring(err))
        end
      end)

      it("fails a stream that ends cleanly before its metadata event", function()
        -- the 'garbage' body is no event at all: the stream ends with nothing
        emu:scenario(CLAUDE, { garbage = true })
        local ok, err = run(function(c)
          return pcall(function() for _ in c:converse_stream{ model_id = CLAUDE, messages = hello() } do end end)
        end)
        assert.is_false(ok)
        assert.are.equal("EventStreamError", err.code)
      end)

      it("raises for bad parameters and for a request the service refuses, and closes on break", function()
        local ok, err = run(function(c)
          return pcall(function() for _ in c:converse_stream{ model_id = CLAUDE, messages = 5 } do end end)
        end)
        assert.is_false(ok)
        assert.are.equal("InvalidParameter", err.code)
        ok, err = run(function(c)
          return pcall(function() for _ in c:converse_stream{ model_id = CLAUDE, messages = {} } do end end)
        end)
        assert.is_false(ok)
        assert.are.equal("ValidationException", err.code)
        emu:scenario(CLAUDE, { event_delay_ms = 50, deltas = 40 })
        local s = run(function(c)
          local st, x, y, closing = c:converse_stream{ model_id = CLAUDE, messages = hello() }
          assert(closing == st)
          for ev in st, x, y, closing do if ev.type == "contentBlockDelta" then break end end
          if _VERSION ~= "Lua 5.4" then
            -- no closing value before 5.4: the break leaves the stream open until close()
            assert(st.x and not st.closed, "open after the break")
            st:close()
          end
          return st
        end)
        assert.is_true(s.closed)
        assert.is_nil(s.x)
      end)
    end)

    it("count_tokens counts a Converse input and an invoke body", function()
      local a, b, meta = run(function(c)
        local x = assert(c:count_tokens{ model_id = CLAUDE, input = { converse = { messages = hello("one two three"),
          system = { { text = "sys" } } } } })
        local y, m = c:count_tokens{ model_id = CLAUDE, input = { invoke_model = {
          body = { messages = { { role = "user", content = "a b c d e" } } } } } }
        return x, y, m
      end)
      assert.are.equal(4, a.inputTokens)
      assert.is_table(b, tostring(meta))
      assert.are.equal(5, b.inputTokens)
      local log = emu:requests()
      assert.are.equal("/model/anthropic.claude-3-sonnet-20240229-v1%3A0/count-tokens", log[1].path)
      local sent = cjson.decode(log[2].body)
      assert.are.same({ messages = { { role = "user", content = "a b c d e" } } },
        cjson.decode(require("bedrock.core").b64decode(sent.input.invokeModel.body)))
      -- count_tokens spends nothing
      assert.are.equal(0, client:usage().total.requests)
    end)

    it("apply_guardrail puts the identifier and version in the path and reports the action", function()
      emu:scenario("arn:aws:bedrock:us-east-1:123456789012:guardrail/abc", { blocked_words = "secret" })
      local pass, blocked = run(function(c)
        local id = "arn:aws:bedrock:us-east-1:123456789012:guardrail/abc"
        local p = assert(c:apply_guardrail{ guardrail_identifier = id, guardrail_version = "1", source = "INPUT",
          content = { { text = { text = "hello" } } } })
        local b = assert(c:apply_guardrail{ guardrail_identifier = id, guardrail_version = "DRAFT", source = "OUTPUT",
          content = { { text = { text = "the secret", qualifiers = { "guard_content" } } } }, output_scope = "FULL" })
        return p, b
      end)
      assert.are.equal("NONE", pass.action)
      assert.are.same({}, pass.outputs)
      assert.are.equal("GUARDRAIL_INTERVENED", blocked.action)
      assert.are.equal("secret", blocked.assessments[1].wordPolicy.customWords[1].match)
      assert.is_number(blocked.usage.wordPolicyUnits)
      local log = emu:requests()
      assert.are.equal("/guardrail/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aguardrail%2Fabc/version/1/apply", log[1].path)
      assert.are.equal("FULL", cjson.decode(log[2].body).outputScope)
      assert.are.equal("apply_guardrail", log[1].route)
    end)

    it("invoke_guardrail_checks posts messages and checks", function()
      local body, meta = run(function(c)
        return c:invoke_guardrail_checks{ messages = { { role = "user", content = { { text = "hi" } } } },
          checks = { prompt_attack = { categories = { { category = "JAILBREAK" } } } } }
      end)
      assert.is_table(body, tostring(meta))
      assert.is_table(body.results)
      local log = emu:requests()
      assert.are.equal("/guardrail-checks/invoke", log[1].path)
      assert.are.equal("JAILBREAK", cjson.decode(log[1].body).checks.promptAttack.categories[1].category)
    end)

    describe("async invocations", function()
      local OUT = { s3_output_data_config = { s3_uri = "s3://bucket/out" } }

      it("start fills in the idempotency token, and get reads the job back", function()
        local started, got, again = run(function(c)
          local s = assert(c:start_async_invoke{ model_id = NOVA_REEL, model_input = { taskType = "TEXT_VIDEO" },
            output_data_config = OUT, tags = { { key = "team", value = "a" } } })
          local g = assert(c:get_async_invoke{ invocation_arn = s.invocationArn })
          local a = assert(c:start_async_invoke{ model_id = NOVA_REEL, model_input = {}, output_data_config = OUT,
            client_request_token = "fixed-token" })
          local a2 = assert(c:start_async_invoke{ model_id = NOVA_REEL, model_input = {}, output_data_config = OUT,
            client_request_token = "fixed-token" })
          assert(a.invocationArn == a2.invocationArn)
          return s, g, a
        end)
        assert.matches("^arn:aws:bedrock:us%-east%-1:%d+:async%-invoke/", started.invocationArn)
        assert.are.equal(started.invocationArn, got.invocationArn)
        assert.are.equal("Completed", got.status)
        assert.matches("^%d%d%d%d%-%d%d%-%d%dT", got.submitTime)
        assert.are.equal("s3://bucket/out", got.outputDataConfig.s3OutputDataConfig.s3Uri)
        local log = emu:requests()
        local sent = cjson.decode(log[1].body)
        assert.matches("^%x+%-%x+%-4%x+%-[89ab]%x+%-%x+$", sent.clientRequestToken)
        assert.are.equal(NOVA_REEL, sent.modelId)
        assert.are.same({ { key = "team", value = "a" } }, sent.tags)
        assert.are.equal("GET", log[2].method)
        assert.are.equal("/async-invoke/" .. require("bedrock.api.shapes").encode_label(started.invocationArn), log[2].path)
        assert.are.equal("", log[2].query)
        assert.are.equal(0, log[2].body_len)
        assert.is_string(again.invocationArn)
      end)

      it("get of an unknown job is ResourceNotFoundException", function()
        local body, err = run(function(c) return c:get_async_invoke{ invocation_arn = "arn:aws:bedrock:x:1:async-invoke/none" } end)
        assert.is_nil(body)
        assert.are.equal("ResourceNotFoundException", err.code)
        assert.are.equal(404, err.status)
      end)

      it("list pages through every job with an iterator", function()
        emu:scenario("amazon.nova-canvas-v1:0", { async_status = "Failed" })
        local arns, pager, failed = run(function(c)
          for i = 1, 7 do
            assert(c:start_async_invoke{ model_id = i <= 5 and NOVA_REEL or "amazon.nova-canvas-v1:0",
              model_input = { i = i }, output_data_config = OUT })
          end
          local seen = {}
          local p = c:list_async_invokes{ max_results = 2, sort_order = "Ascending" }
          for item in p do seen[#seen + 1] = item.invocationArn end
          local f = {}
          for item in c:list_async_invokes{ status_equals = "Failed", submit_time_after = os.time() - 3600 } do
            f[#f + 1] = item
          end
          return seen, p, f
        end)
        assert.are.equal(7, #arns)
        assert.are.equal(4, pager.pages)
        assert.are.equal(2, #failed)
        assert.is_string(failed[1].failureMessage)
        local log, lists = emu:requests(), {}
        for _, e in ipairs(log) do if e.route == "list_async_invokes" then lists[#lists + 1] = e end end
        assert.are.equal(5, #lists)
        assert.matches("maxResults=2", lists[1].query)
        assert.matches("sortOrder=Ascending", lists[1].query)
        assert.is_nil(lists[1].query:find("nextToken", 1, true))
        assert.matches("nextToken=", lists[2].query)
        assert.matches("submitTimeAfter=%d%d%d%d%-%d%d%-%d%dT%d%d%%3A%d%d%%3A%d%dZ", lists[5].query)
        assert.matches("statusEquals=Failed", lists[5].query)
      end)

      it("list raises the service's error from the loop, and a bad parameter before sending", function()
        local ok, err = run(function(c)
          return pcall(function() for _ in c:list_async_invokes{ max_results = 5000 } do end end)
        end)
        assert.is_false(ok)
        assert.are.equal("ValidationException", err.code)
        local p = client:list_async_invokes{ max_results = "ten" }
        local item, perr = run(function() return p:next() end)
        assert.is_nil(item)
        assert.are.equal("InvalidParameter", perr.code)
      end)

      describe("list with max_items and page_size", function()
        -- start n jobs, then the list requests the emulator logged after them
        local function start_jobs(c, n)
          for i = 1, n do
            assert(c:start_async_invoke{ model_id = NOVA_REEL, model_input = { i = i }, output_data_config = OUT })
          end
        end

        local function list_requests()
          local out = {}
          for _, e in ipairs(emu:requests()) do
            if e.route == "list_async_invokes" then out[#out + 1] = e end
          end
          return out
        end

        local function collect(c, params)
          local items, p = {}, c:list_async_invokes(params)
          for item in p do items[#items + 1] = item.invocationArn end
          return items, p
        end

        it("stops within the first page when max_items is smaller than a page", function()
          local items, p = run(function(c)
            start_jobs(c, 7)
            return collect(c, { max_items = 2, page_size = 5, sort_order = "Ascending" })
          end)
          assert.are.equal(2, #items)
          assert.are.equal(1, p.pages)
          local lists = list_requests()
          assert.are.equal(1, #lists)
          assert.matches("maxResults=5", lists[1].query)
          -- the pager is over: no more items, no more requests
          assert.is_nil(run(function() return p:next() end))
          assert.are.equal(1, #list_requests())
        end)

        it("spans pages, fetching no page past the last item it needs", function()
          local five, p5, four, p4 = run(function(c)
            start_jobs(c, 7)
            local a, pa = collect(c, { max_items = 5, page_size = 2, sort_order = "Ascending" })
            local b, pb = collect(c, { max_items = 4, page_size = 2, sort_order = "Ascending" })
            return a, pa, b, pb
          end)
          assert.are.equal(5, #five)
          assert.are.equal(3, p5.pages)           -- 2 + 2 + 1 of the third page
          assert.are.equal(4, #four)
          assert.are.equal(2, p4.pages)           -- ends on a page boundary: no third request
          for i = 1, 4 do assert.are.equal(five[i], four[i]) end
          local lists = list_requests()
          assert.are.equal(5, #lists)
          for _, e in ipairs(lists) do assert.matches("maxResults=2", e.query) end
          assert.is_nil(lists[1].query:find("nextToken", 1, true))
          assert.matches("nextToken=", lists[2].query)
          assert.matches("nextToken=", lists[3].query)
          assert.is_nil(lists[4].query:find("nextToken", 1, true))
        end)

        it("returns every item when max_items is larger than all of them", function()
          local items, p, all = run(function(c)
            start_jobs(c, 7)
            local a, pa = collect(c, { max_items = 100, page_size = 3 })
            return a, pa, collect(c, {})
          end)
          assert.are.equal(7, #items)
          assert.are.equal(3, p.pages)
          assert.are.same(all, items)
        end)

        it("sends page_size as maxResults (an integral float as an integer)", function()
          local items = run(function(c)
            start_jobs(c, 3)
            return collect(c, { page_size = 2.0, status_equals = "Completed" })
          end)
          assert.are.equal(3, #items)
          local lists = list_requests()
          assert.are.equal(2, #lists)
          assert.matches("maxResults=2", lists[1].query)
          assert.matches("statusEquals=Completed", lists[1].query)
          assert.is_nil(lists[1].query:find("maxResults=2.0", 1, true))
          assert.is_nil(lists[1].query:find("page_size", 1, true))
          assert.is_nil(lists[1].query:find("max_items", 1, true))
        end)

        it("refuses bad values before sending anything, from the loop and from :next()", function()
          local bad = {
            { { page_size = 0 }, "page_size", "an integer from 1 to 1000, got 0" },
            { { page_size = 1001 }, "page_size", "an integer from 1 to 1000, got 1001" },
            { { page_size = 2.5 }, "page_size", "got 2.5" },
            { { page_size = "10" }, "page_size", 'got "10"' },
            { { max_items = 0 }, "max_items", "an integer of at least 1, got 0" },
            { { max_items = -3 }, "max_items", "got -3" },
            { { max_items = 1.5 }, "max_items", "got 1.5" },
            { { max_items = true }, "max_items", "got true" },
            { { page_size = 10, max_results = 10 }, "page_size", "give one" },
          }
          for _, b in ipairs(bad) do
            local ok, err = run(function(c)
              return pcall(function() for _ in c:list_async_invokes(b[1]) do end end)
            end)
            assert.is_false(ok)
            assert.are.equal("InvalidParameter", err.code, b[2])
            assert.are.equal(b[2], err.path)
            assert.matches(b[3], err.message, 1, true)
            local p = client:list_async_invokes(b[1])
            local item, perr = run(function() return p:next() end)
            assert.is_nil(item)
            assert.are.equal(err.message, perr.message)
          end
          assert.are.same({}, emu:requests())
        end)
      end)
    end)

    it("sends the service model's invoke headers", function()
      local body, meta = run(function(c)
        return c:invoke_model{ model_id = "emulator.echo-v1:0", body = {}, trace = "ENABLED",
          guardrail_identifier = "gr-1", guardrail_version = "DRAFT", performance_config_latency = "optimized",
          service_tier = "priority", request_metadata = { team = "a" } }
      end)
      assert.is_table(body, tostring(meta))
      local h = body.headers
      assert.are.equal("ENABLED", h["x-amzn-bedrock-trace"])
      assert.are.equal("gr-1", h["x-amzn-bedrock-guardrailidentifier"])
      assert.are.equal("DRAFT", h["x-amzn-bedrock-guardrailversion"])
      assert.are.equal("optimized", h["x-amzn-bedrock-performanceconfig-latency"])
      assert.are.equal("priority", h["x-amzn-bedrock-service-tier"])
      assert.are.same({ team = "a" }, cjson.decode(h["x-amzn-bedrock-request-metadata"]))
      local types = run(function(c)
        local t = {}
        for ev in c:invoke_model_with_response_stream{ model_id = "emulator.echo-v1:0", body = {},
            guardrailIdentifier = "gr-2", guardrail_version = "3", accept = "application/json" } do
          t[#t + 1] = ev
        end
        return t
      end)
      assert.are.equal("gr-2", types[1].headers["x-amzn-bedrock-guardrailidentifier"])
      assert.are.equal("3", types[1].headers["x-amzn-bedrock-guardrailversion"])
      assert.are.equal("application/json", types[1].headers["x-amzn-bedrock-accept"])
      local _, err = run(function(c) return c:invoke_model{ model_id = CLAUDE, body = {}, trace = true } end)
      assert.are.equal("InvalidParameter", err.code)
      assert.matches("trace", err.message)
    end)
  end)
end
