-- Model-specific body validation: each family's good and bad bodies, the
-- model ids that choose a family, and the hook in invoke_model (nothing is
-- sent when a body is refused; validate = false sends it anyway).
local bedrock = require "bedrock"
local cjson = require "cjson"
local validate = require "bedrock.policy.validate"
local emulator = require "spec.support.emulator"

local CLAUDE = "anthropic.claude-3-sonnet-20240229-v1:0"
local CLAUDE37 = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
local CLAUDE4 = "us.anthropic.claude-sonnet-4-20250514-v1:0"
local INTERLEAVED = "interleaved-thinking-2025-05-14"

local function claude(extra)
  local b = { anthropic_version = "bedrock-2023-05-31", max_tokens = 100,
    messages = { { role = "user", content = "Hello" } } }
  for k, v in pairs(extra or {}) do b[k] = v end
  return b
end

-- family, model id, a good body, then bad bodies with the path they fail at
-- (and a piece of the message)
local cases = {
  { "anthropic", CLAUDE,
    good = claude{
      system = "Be brief.", temperature = 0.5, top_p = 0.9, top_k = 250, stop_sequences = { "\n\nHuman:" },
      messages = {
        { role = "user", content = { { type = "text", text = "What is the weather?" },
          { type = "image", source = { type = "base64", media_type = "image/png", data = "iVBORw0KGgo=" } } } },
        { role = "assistant", content = { { type = "tool_use", id = "toolu_1", name = "weather",
          input = { city = "Paris" } } } },
        { role = "user", content = { { type = "tool_result", tool_use_id = "toolu_1", content = "sunny" } } },
      },
      tools = { { name = "weather", description = "the weather", input_schema = { type = "object" } } },
      tool_choice = { type = "auto" },
    },
    bad = {
      { claude{ temperature = 1.5 }, "body.temperature", "between 0 and 1" },
      { claude{ max_tokens = 0 }, "body.max_tokens", "at least 1" },
      { claude{ max_tokens = 10.5 }, "body.max_tokens", "integer" },
      { claude{ top_p = -0.1 }, "body.top_p", "between 0 and 1" },
      { claude{ top_k = 501 }, "body.top_k", "between 0 and 500" },
      { claude{ stop_sequences = { 1 } }, "body.stop_sequences[1]", "string" },
      { { max_tokens = 10, messages = { { role = "user", content = "x" } } }, "body.anthropic_version", "required" },
      { claude{ anthropic_version = "bedrock-2024-01-01" }, "body.anthropic_version", "bedrock-2023-05-31" },
      { claude{ messages = { { role = "system", content = "x" } } }, "body.messages[1].role", "user, assistant" },
      { claude{ messages = { { role = "user", content = "a" },
          { role = "assistant", content = { { type = "text" } } } } }, "body.messages[2].content[1].text", "required" },
      { claude{ messages = { { role = "user", content = { { type = "text", text = 3 } } } } },
        "body.messages[1].content[1].text", "string" },
      { claude{ messages = { { role = "user", content = { { type = "video", text = "x" } } } } },
        "body.messages[1].content[1].type", "one of" },
      { claude{ messages = {} }, "body.messages", "at least 1" },
      { claude{ temprature = 0.5 }, "body.temprature", "not a known field" },
      { claude{ tools = { { name = "t" } } }, "body.tools[1].input_schema", "required" },
      { claude{ tool_choice = { type = "tool" } }, "body.tool_choice.name", "required" },
    },
  },
  { "anthropic (extended thinking)", CLAUDE37,
    good = claude{ max_tokens = 4000, thinking = { type = "enabled", budget_tokens = 2048 },
      messages = {
        { role = "user", content = "Weather?" },
        { role = "assistant", content = {
          { type = "thinking", thinking = "I should call the tool.", signature = "EqQBCgIYAhIM" },
          { type = "redacted_thinking", data = "EmwKAhgBEgy3va3pzix" },
          { type = "tool_use", id = "toolu_1", name = "weather", input = {} } } },
        { role = "user", content = { { type = "tool_result", tool_use_id = "toolu_1",
          content = { { type = "text", text = "sunny" } } } } } } },
    bad = {
      { claude{ max_tokens = 2000, thinking = { type = "enabled", budget_tokens = 4000 } },
        "body.thinking.budget_tokens", "less than max_tokens" },
      { claude{ max_tokens = 4000, thinking = { type = "enabled", budget_tokens = 512 } },
        "body.thinking.budget_tokens", "at least 1024" },
      { claude{ max_tokens = 4000, temperature = 0.2, thinking = { type = "enabled", budget_tokens = 2048 } },
        "body.temperature", "extended thinking" },
      { claude{ max_tokens = 4000, thinking = { type = "enabled", budget_tokens = 2048 },
        messages = { { role = "user", content = "x" }, { role = "assistant", content = {
          { type = "thinking", thinking = "hmm" } } } } },
        "body.messages[2].content[1].signature", "required" },
    },
  },
  { "anthropic text completions", "anthropic.claude-v2:1",
    good = { prompt = "\n\nHuman: Hi\n\nAssistant:", max_tokens_to_sample = 300, temperature = 1 },
    bad = {
      { { prompt = "\n\nHuman: Hi\n\nAssistant:" }, "body.max_tokens_to_sample", "required" },
      { { prompt = "\n\nHuman: Hi\n\nAssistant:", max_tokens_to_sample = 4097 }, "body.max_tokens_to_sample",
        "between 0 and 4096" },
      { { prompt = "\n\nHuman: Hi\n\nAssistant:", max_tokens_to_sample = -1 }, "body.max_tokens_to_sample",
        "between 0 and 4096" },
    },
  },
  { "anthropic (interleaved thinking: the budget may exceed max_tokens)", CLAUDE4,
    good = claude{ anthropic_beta = { INTERLEAVED }, max_tokens = 2000,
      thinking = { type = "enabled", budget_tokens = 8000 },
      tools = { { name = "weather", input_schema = { type = "object" } } }, tool_choice = { type = "auto" } },
    bad = {
      { claude{ anthropic_beta = { "context-1m-2025-08-07" }, max_tokens = 2000,
        thinking = { type = "enabled", budget_tokens = 8000 } }, "body.thinking.budget_tokens", "less than max_tokens" },
      { claude{ anthropic_beta = { INTERLEAVED }, max_tokens = 2000, thinking = { type = "enabled", budget_tokens = 512 } },
        "body.thinking.budget_tokens", "at least 1024" },
      { claude{ anthropic_beta = { INTERLEAVED }, max_tokens = 2000, temperature = 0.5,
        thinking = { type = "enabled", budget_tokens = 8000 } }, "body.temperature", "extended thinking" },
    },
  },
  { "anthropic (adaptive thinking, output_config, compaction, strict tools)", "us.anthropic.claude-opus-4-6-v1",
    good = claude{ max_tokens = 16000, thinking = { type = "adaptive", display = "summarized" },
      output_config = { effort = "medium", format = { type = "json_schema", schema = { type = "object" } } },
      context_management = { edits = { { type = "compact_20260112" } } },
      tools = { { name = "weather", input_schema = { type = "object" }, strict = true } } },
    bad = {
      { claude{ thinking = { type = "adaptive", budget_tokens = 2048 } }, "body.thinking.budget_tokens",
        "not a known field" },
      { claude{ thinking = { type = "sometimes" } }, "body.thinking.type", "adaptive, disabled, enabled" },
      { claude{ thinking = { type = "enabled", budget_tokens = 2048, display = 1 }, max_tokens = 4000 },
        "body.thinking.display", "string" },
      { claude{ output_config = "high" }, "body.output_config", "must be an object" },
      { claude{ output_config = { effort = 3 } }, "body.output_config.effort", "string" },
      { claude{ output_config = { format = { schema = {} } } }, "body.output_config.format.type", "required" },
      { claude{ tools = { { name = "t", input_schema = {}, strict = "yes" } } }, "body.tools[1].strict", "boolean" },
    },
  },
  { "anthropic Claude Sonnet 4.5 (temperature or top_p)", "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
    good = claude{ temperature = 0.3, top_k = 40 },
    bad = {
      { claude{ temperature = 0.3, top_p = 0.9 }, "body.top_p", "together with 'temperature'" },
      { claude{ max_tokens = 2000, thinking = { type = "enabled", budget_tokens = 4000 } },
        "body.thinking.budget_tokens", "less than max_tokens" },
    },
  },
  { "anthropic Claude Haiku 4.5 (temperature or top_p)", "anthropic.claude-haiku-4-5-20251001-v1:0",
    good = claude{ top_p = 0.9 },
    bad = { { claude{ temperature = 1, top_p = 1 }, "body.top_p", "together with 'temperature'" } },
  },
  { "nova", "amazon.nova-lite-v1:0",
    good = { schemaVersion = "messages-v1", system = { { text = "Be brief." } },
      messages = { { role = "user", content = { { text = "Describe it" },
        { image = { format = "png", source = { bytes = "iVBORw0KGgo=" } } } } } },
      inferenceConfig = { maxTokens = 300, temperature = 0.7, topP = 0.9, topK = 20, stopSequences = { "END" } } },
    bad = {
      { { messages = { { role = "user", content = { { text = "x" } } } }, inferenceConfig = { temperature = 2 } },
        "body.inferenceConfig.temperature", "between 0 and 1" },
      { { messages = { { role = "user", content = "x" } } }, "body.messages[1].content", "array" },
      { { messages = { { role = "user", content = { { text = "x", image = { format = "png",
          source = { bytes = "AA==" } } } } } } }, "body.messages[1].content[1].image", "together" },
      { { messages = { { role = "user", content = { { text = "x" } } } }, max_tokens = 5 }, "body.max_tokens",
        "not a known field" },
      { { schemaVersion = "messages-v2", messages = { { role = "user", content = { { text = "x" } } } } },
        "body.schemaVersion", "messages-v1" },
    },
  },
  { "nova 2 (reasoningConfig in inferenceConfig)", "us.amazon.nova-2-lite-v1:0",
    good = { messages = { { role = "user", content = { { text = "Plan a trip" } } } },
      inferenceConfig = { maxTokens = 10000, reasoningConfig = { type = "enabled", maxReasoningEffort = "medium" } } },
    bad = {
      { { messages = { { role = "user", content = { { text = "x" } } } },
        inferenceConfig = { reasoningConfig = { type = "enabled", maxReasoningEffort = "max" } } },
        "body.inferenceConfig.reasoningConfig.maxReasoningEffort", "low, medium, high" },
      { { messages = { { role = "user", content = { { text = "x" } } } },
        inferenceConfig = { reasoningConfig = { maxReasoningEffort = "low" } } },
        "body.inferenceConfig.reasoningConfig.type", "required" },
      { { messages = { { role = "user", content = { { text = "x" } } } }, reasoningConfig = { type = "on" } },
        "body.reasoningConfig.type", "enabled, disabled" },
    },
  },
  { "titan text", "amazon.titan-text-express-v1",
    good = { inputText = "Hello", textGenerationConfig = { maxTokenCount = 512, temperature = 0.7, topP = 0.9,
      stopSequences = { "|" } } },
    bad = {
      { { inputText = "Hello", textGenerationConfig = { topP = 1.2 } }, "body.textGenerationConfig.topP", "between" },
      { { textGenerationConfig = {} }, "body.inputText", "required" },
      { { inputText = "Hello", textGenerationConfig = { maxTokenCount = 8193 } }, "body.textGenerationConfig.maxTokenCount",
        "between 0 and 8192" },
      { { inputText = "Hello", textGenerationConfig = { maxTokenCount = -1 } }, "body.textGenerationConfig.maxTokenCount",
        "between 0 and 8192" },
    },
  },
  { "titan text lite (maxTokenCount up to 4096)", "amazon.titan-text-lite-v1",
    good = { inputText = "Hello", textGenerationConfig = { maxTokenCount = 4096 } },
    bad = { { { inputText = "Hello", textGenerationConfig = { maxTokenCount = 4097 } },
      "body.textGenerationConfig.maxTokenCount", "between 0 and 4096" } },
  },
  { "titan text premier (maxTokenCount up to 3072)", "amazon.titan-text-premier-v1:0",
    good = { inputText = "Hello", textGenerationConfig = { maxTokenCount = 3072, stopSequences = { "a", "b", "c", "d", "e" } } },
    bad = { { { inputText = "Hello", textGenerationConfig = { maxTokenCount = 3073 } },
      "body.textGenerationConfig.maxTokenCount", "between 0 and 3072" } },
  },
  { "titan embeddings", "amazon.titan-embed-text-v2:0",
    good = { inputText = "Hello", dimensions = 512, normalize = true },
    bad = { { { inputText = "Hello", dimensions = 300 }, "body.dimensions", "256, 512, 1024" } },
  },
  { "titan image embeddings", "amazon.titan-embed-image-v1",
    good = { inputImage = "iVBORw0KGgo=", embeddingConfig = { outputEmbeddingLength = 384 } },
    bad = { { { embeddingConfig = { outputEmbeddingLength = 384 } }, "body", "at least one of" } },
  },
  { "llama", "meta.llama3-1-70b-instruct-v1:0",
    good = { prompt = "<|begin_of_text|>Hi", max_gen_len = 512, temperature = 0.5, top_p = 0.9 },
    bad = {
      { { prompt = "Hi", max_gen_len = 4096 }, "body.max_gen_len", "between 1 and 2048" },
      { { prompt = "Hi", max_tokens = 10 }, "body.max_tokens", "not a known field" },
      { { max_gen_len = 10 }, "body.prompt", "required" },
    },
  },
  { "mistral", "mistral.mistral-7b-instruct-v0:2",
    good = { prompt = "<s>[INST] Hi [/INST]", max_tokens = 200, temperature = 0.5, top_p = 0.9, top_k = 50,
      stop = { "</s>" } },
    bad = {
      { { prompt = "x", top_k = 0 }, "body.top_k", "between 1 and 200" },
      { { prompt = "x", stop = { "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k" } }, "body.stop", "at most 10" },
      { { prompt = "x", max_tokens = 8193 }, "body.max_tokens", "between 1 and 8192" },
    },
  },
  { "mixtral (max_tokens up to 4096)", "mistral.mixtral-8x7b-instruct-v0:1",
    good = { prompt = "<s>[INST] Hi [/INST]", max_tokens = 4096 },
    bad = { { { prompt = "x", max_tokens = 4097 }, "body.max_tokens", "between 1 and 4096" },
      { { prompt = "x", max_tokens = 0 }, "body.max_tokens", "between 1 and 4096" } },
  },
  { "mistral chat", "mistral.mistral-large-2407-v1:0",
    good = { messages = { { role = "system", content = "Be brief." }, { role = "user", content = "Hi" } },
      max_tokens = 100, temperature = 0.3 },
    bad = { { { messages = { { role = "robot", content = "x" } } }, "body.messages[1].role", "one of" } },
  },
  { "cohere command r", "cohere.command-r-plus-v1:0",
    good = { message = "Hi", chat_history = { { role = "USER", message = "a" }, { role = "CHATBOT", message = "b" } },
      temperature = 0.3, p = 0.75, k = 0, max_tokens = 100, stop_sequences = { "a", "b", "c", "d", "e" } },
    bad = {
      { { message = "Hi", p = 1 }, "body.p", "between 0.01 and 0.99" },
      { { message = "Hi", stop_sequences = { "a", "b", "c", "d", "e", "f" } }, "body.stop_sequences", "at most 5" },
      { { message = "Hi", chat_history = { { role = "user", message = "a" } } }, "body.chat_history[1].role",
        "USER" },
    },
  },
  { "cohere command", "cohere.command-text-v14",
    good = { prompt = "Hi", max_tokens = 100, temperature = 0.9, p = 0.75, k = 2.5, num_generations = 2,
      stop_sequences = { "a", "b", "c", "d" } },
    bad = {
      { { prompt = "Hi", num_generations = 6 }, "body.num_generations", "between 1 and 5" },
      { { prompt = "Hi", stop_sequences = { "a", "b", "c", "d", "e" } }, "body.stop_sequences", "at most 4" },
      { { prompt = "Hi", k = 501 }, "body.k", "between 0 and 500" },
    },
  },
  { "cohere embed", "cohere.embed-english-v3",
    good = { texts = { "a", "b" }, input_type = "search_document", truncate = "END" },
    bad = { { { texts = { "a" } }, "body.input_type", "required" } },
  },
  { "ai21 jamba", "ai21.jamba-1-5-large-v1:0",
    good = { messages = { { role = "system", content = "Be brief." }, { role = "user", content = "Hi" } },
      max_tokens = 100, temperature = 1.5, top_p = 0.9, n = 1, stop = { "\n" } },
    bad = {
      { { messages = { { role = "user", content = "x" } }, temperature = 2.5 }, "body.temperature", "between 0 and 2" },
      { { messages = { { role = "user", content = "x" } }, n = 17 }, "body.n", "between 1 and 16" },
    },
  },
}

describe("validate.check", function()
  for _, c in ipairs(cases) do
    describe(c[1], function()
      it("accepts a good body, as a table and as a JSON string", function()
        assert.is_true(validate.check(c[2], c.good))
        assert.is_true(validate.check(c[2], cjson.encode(c.good)))
      end)
      for _, b in ipairs(c.bad) do
        it("refuses a bad body at " .. b[2], function()
          local ok, err = validate.check(c[2], b[1])
          assert.is_nil(ok)
          assert.is_true(bedrock.is_error(err))
          assert.are.equal("InvalidParameter", err.code)
          assert.are.equal(b[2], err.path)
          assert.matches(b[3], err.message, 1, true)
          assert.are.equal(1, err.message:find(b[2], 1, true))
          assert.are.equal(c[2], err.model_id)
          -- the same from the JSON text of the body
          local ok2, err2 = validate.check(c[2], cjson.encode(b[1]))
          assert.is_nil(ok2)
          assert.are.equal(b[2], err2.path)
        end)
      end
    end)
  end
end)

describe("validate.family", function()
  it("reads the family from ids, cross-region profiles and ARNs", function()
    local ids = {
      { "anthropic.claude-3-haiku-20240307-v1:0", "anthropic" },
      { "us.anthropic.claude-3-7-sonnet-20250219-v1:0", "anthropic" },
      { "eu.anthropic.claude-3-5-sonnet-20240620-v1:0", "anthropic" },
      { "apac.amazon.nova-pro-v1:0", "nova" },
      { "global.anthropic.claude-sonnet-4-20250514-v1:0", "anthropic" },
      { "us-gov.meta.llama3-8b-instruct-v1:0", "llama" },
      { "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1", "titan" },
      { "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3-2-90b-instruct-v1:0", "llama" },
      { "arn:aws:bedrock:us-east-1:123456789012:custom-model/cohere.command-r-v1:0/abc123", "cohere" },
      { "mistral.mixtral-8x7b-instruct-v0:1", "mistral" },
      { "ai21.jamba-instruct-v1:0", "ai21" },
      { "cohere.embed-multilingual-v3", "cohere" },
    }
    for _, p in ipairs(ids) do assert.are.equal(p[2], validate.family(p[1]), p[1]) end
  end)

  it("leaves unknown families, opaque ARNs and non-text Nova models unchecked", function()
    for _, id in ipairs{ "emulator.echo", "stability.sd3-large-v1:0", "amazon.nova-canvas-v1:0",
        "amazon.nova-reel-v1:0", "ai21.j2-ultra-v1", "amazon.titan-image-generator-v2:0",
        "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123",
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/xyz" } do
      assert.is_nil(validate.family(id), id)
      assert.is_true(validate.check(id, { anything = "goes", temperature = 99 }))
    end
  end)

  it("reports the same fault every time when there are several", function()
    for _ = 1, 20 do
      local _, err = validate.check(CLAUDE, { anthropic_version = "bedrock-2023-05-31", max_tokens = 0, top_p = 2,
        zeta = 1, alpha = 1,
        messages = { { role = "user", content = "x" } } })
      assert.are.equal("body.max_tokens", err.path)
      local _, err2 = validate.check(CLAUDE, claude{ zeta = 1, alpha = 1, beta = 2 })
      assert.are.equal("body.alpha", err2.path)
    end
  end)

  it("accepts the edges the providers' documentation allows", function()
    local ok = {
      -- Titan: maxTokenCount minimum 0; no maximum documented for tg1
      { "amazon.titan-text-express-v1", { inputText = "x", textGenerationConfig = { maxTokenCount = 0 } } },
      { "amazon.titan-tg1-large", { inputText = "x", textGenerationConfig = { maxTokenCount = 100000 } } },
      -- Claude Text Completions: max_tokens_to_sample minimum 0, maximum 4096
      { "anthropic.claude-v2", { prompt = "\n\nHuman: x\n\nAssistant:", max_tokens_to_sample = 0 } },
      { "anthropic.claude-instant-v1", { prompt = "\n\nHuman: x\n\nAssistant:", max_tokens_to_sample = 4096 } },
      -- the budget equal to max_tokens minus one; older Claude takes temperature and top_p together
      { CLAUDE37, claude{ max_tokens = 2049, thinking = { type = "enabled", budget_tokens = 2048 }, top_p = 0.95 } },
      { CLAUDE, claude{ temperature = 0.2, top_p = 0.5, thinking = { type = "disabled" } } },
      -- Nova: reasoningConfig at the top level too (as Converse's additionalModelRequestFields put it)
      { "amazon.nova-2-lite-v1:0", { messages = { { role = "user", content = { { text = "x" } } } },
        reasoningConfig = { type = "enabled", maxReasoningEffort = "high" } } },
      -- Mistral: no max_tokens cap on models the guide gives none for
      { "mistral.mistral-large-2407-v1:0", { messages = { { role = "user", content = "x" } }, max_tokens = 20000 } },
      { "mistral.mistral-small-2402-v1:0", { prompt = "x", max_tokens = 8192 } },
      -- Command R: five stop sequences
      { "cohere.command-r-v1:0", { message = "x", stop_sequences = { "1", "2", "3", "4", "5" } } },
    }
    for _, c in ipairs(ok) do
      local good, err = validate.check(c[1], c[2])
      assert.is_true(good, c[1] .. ": " .. tostring(err))
    end
  end)

  it("lets bodies that are not JSON through (the model's own format)", function()
    assert.is_true(validate.check(CLAUDE, "not json at all"))
    assert.is_true(validate.check(CLAUDE, ""))
  end)
end)

describe("invoke_model with validation", function()
  local emu, client

  local function new_client(extra) return bedrock.client(emu:config(extra)) end

  setup(function() emu = emulator.shared() end)
  before_each(function() emu:reset(); client = new_client() end)
  after_each(function() client:close() end)

  it("is on by default and sends a good body", function()
    assert.is_true(client.config.validate)
    local body, meta = client:invoke_model{ model_id = CLAUDE37, body = claude{ messages = {
      { role = "user", content = "check me" } } } }
    assert.is_table(body, tostring(meta))
    assert.are.equal("You said: check me", body.content[1].text)
  end)

  it("refuses a bad body before anything is sent", function()
    local body, err = client:invoke_model{ model_id = CLAUDE37, body = claude{ temperature = 3 } }
    assert.is_nil(body)
    assert.are.equal("InvalidParameter", err.code)
    assert.are.equal("body.temperature", err.path)
    assert.matches("^InvalidParameter: body%.temperature must be between 0 and 1, got 3", tostring(err))
    -- a string body that decodes as JSON is checked too
    local _, err2 = client:invoke_model{ model_id = CLAUDE,
      body = '{"anthropic_version":"bedrock-2023-05-31","max_tokens":-1,"messages":[],"top_k":9.5}' }
    assert.are.equal("body.max_tokens", err2.path)       -- of several faults, the first field in sorted order
    assert.are.same({}, emu:requests())
  end)

  it("refuses it from the stream too, raising in the for loop", function()
    local ok, err = pcall(function()
      for _ in client:invoke_model_with_response_stream{ model_id = CLAUDE,
          body = claude{ messages = { { role = "user", content = { { type = "text" } } } } } } do end
    end)
    assert.is_false(ok)
    assert.are.equal("InvalidParameter", err.code)
    assert.are.equal("body.messages[1].content[1].text", err.path)
    assert.are.same({}, emu:requests())
  end)

  it("validate = false on the call sends the body as it is", function()
    local body, meta = client:invoke_model{ model_id = CLAUDE, validate = false, body = claude{ temperature = 3 } }
    assert.is_table(body, tostring(meta))
    assert.are.equal(1, #emu:requests())
    local events = 0
    for _ in client:invoke_model_with_response_stream{ model_id = CLAUDE, validate = false,
        body = claude{ top_k = -1 } } do events = events + 1 end
    assert.is_true(events > 0)
  end)

  it("validate = false in the config turns it off for the client", function()
    local c = new_client{ validate = false }
    local body, meta = c:invoke_model{ model_id = CLAUDE, body = { made_up = true } }
    c:close()
    assert.is_table(body, tostring(meta))
  end)

  it("refuses a validate that is not a boolean", function()
    local _, err = client:invoke_model{ model_id = CLAUDE, validate = "no", body = claude() }
    assert.are.equal("InvalidParameter", err.code)
    assert.matches("'validate' must be a boolean", err.message, 1, true)
    local ok, cerr = pcall(bedrock.client, { validate = 1 })
    assert.is_false(ok)
    assert.matches("validate", cerr.message, 1, true)
  end)

  it("checks a model's own limits over the wire: Titan Text Lite, Express", function()
    local body = { inputText = "check me", textGenerationConfig = { maxTokenCount = 5000 } }
    local res, err = client:invoke_model{ model_id = "amazon.titan-text-lite-v1", body = body }
    assert.is_nil(res)
    assert.are.equal("InvalidParameter", err.code)
    assert.are.equal("body.textGenerationConfig.maxTokenCount", err.path)
    assert.matches("must be between 0 and 4096, got 5000", err.message, 1, true)
    assert.are.same({}, emu:requests())
    -- the same body is within Express's 8192
    local ok, meta = client:invoke_model{ model_id = "amazon.titan-text-express-v1", body = body }
    assert.is_table(ok, tostring(meta))
    local log = emu:requests()
    assert.are.equal(1, #log)
    assert.are.equal("/model/amazon.titan-text-express-v1/invoke", log[1].path)
  end)

  it("passes bodies of unknown families unchecked", function()
    local body = client:invoke_model{ model_id = "emulator.echo", body = { whatever = { 1, 2 } } }
    assert.are.equal('{"whatever":[1,2]}', body.body)
  end)
end)
