--- Anthropic Claude on Bedrock: the Messages API body and the legacy Text
-- Completions body (Claude v2, Instant). From the Bedrock user guide:
-- * "Anthropic Claude Messages API", Request and Response
--   (model-parameters-anthropic-claude-messages-request-response):
--   anthropic_version must be "bedrock-2023-05-31"; temperature 0-1, top_p
--   0-1, top_k 0-500, stop_sequences at most 8191; system a string or text
--   blocks; and "Claude Sonnet 4.5 and Claude Haiku 4.5 support specifying
--   either the temperature or top_p parameter, but not both" (the
--   one_sampler variant, chosen by model id in bedrock.policy.schemas.families).
-- * "Extended thinking" (claude-messages-extended-thinking): budget_tokens
--   at least 1024 and below max_tokens, except with interleaved thinking
--   (anthropic_beta "interleaved-thinking-2025-05-14"), where the budget is
--   for the whole assistant turn and may exceed max_tokens; thinking is not
--   compatible with temperature, top_p or top_k changes nor forced tool use
--   (Anthropic's notes allow top_p 0.95-1, which is kept).
-- * "Adaptive thinking" (claude-messages-adaptive-thinking): thinking type
--   "adaptive", steered by output_config.effort; "Get validated JSON
--   results" (structured-output): output_config.format and a tool's
--   strict; "Compaction" (claude-messages-compaction): context_management.
--   Their contents are the service's to judge (only their JSON types are
--   checked), as is thinking.display (Anthropic's "summarized"/"omitted").
-- * "Anthropic Claude Text Completions API": max_tokens_to_sample 0-4096.
local S = require "bedrock.policy.schemas"
local str, text, enum, num, int, bool, any = S.str, S.text, S.enum, S.num, S.int, S.bool, S.any
local arr, obj, map, union, tagged = S.arr, S.obj, S.map, S.union, S.tagged

local cache_control = obj({ type = enum("ephemeral"), ttl = str() }, { "type" })

local source = tagged("type", {
  base64 = obj({ type = str(), media_type = text(), data = text() }, { "type", "media_type", "data" }),
  url = obj({ type = str(), url = text() }, { "type", "url" }),
  text = obj({ type = str(), media_type = str(), data = str() }, { "type", "data" }),
  content = obj({ type = str(), content = any() }, { "type", "content" }),
  file = obj({ type = str(), file_id = text() }, { "type", "file_id" }),
})

local text_block = obj({ type = str(), text = str(), cache_control = cache_control, citations = any() },
  { "type", "text" })
local image_block = obj({ type = str(), source = source, cache_control = cache_control }, { "type", "source" })
local document_block = obj({ type = str(), source = source, title = str(), context = str(),
  citations = any(), cache_control = cache_control }, { "type", "source" })

local block = tagged("type", {
  text = text_block,
  image = image_block,
  document = document_block,
  tool_use = obj({ type = str(), id = text(), name = text(), input = map(), cache_control = cache_control },
    { "type", "id", "name", "input" }),
  tool_result = obj({
    type = str(), tool_use_id = text(), is_error = bool(), cache_control = cache_control,
    content = union({
      string = str(),
      array = arr(tagged("type", { text = text_block, image = image_block, document = document_block })),
    }, "a string or an array of text, image and document blocks"),
  }, { "type", "tool_use_id" }),
  thinking = obj({ type = str(), thinking = str(), signature = str() }, { "type", "thinking", "signature" }),
  redacted_thinking = obj({ type = str(), data = text() }, { "type", "data" }),
})

local message = obj({
  role = enum("user", "assistant"),
  content = union({ string = str(), array = arr(block, 1) }, "a string or an array of content blocks"),
}, { "role", "content" })

local tool = obj({
  type = str(), name = text(), description = str(), input_schema = map(), cache_control = cache_control,
  -- Anthropic-defined tools (computer_*, bash_*, text_editor_*) carry their own settings
  display_height_px = int(1), display_width_px = int(1), display_number = int(0),
  strict = bool(),
}, { "name" }, {
  rule = function(t)
    if (t.type == nil or t.type == "custom") and t.input_schema == nil then
      return "input_schema", "is required for a custom tool"
    end
  end,
})

local tool_choice = tagged("type", {
  auto = obj({ type = str(), disable_parallel_tool_use = bool() }, { "type" }),
  any = obj({ type = str(), disable_parallel_tool_use = bool() }, { "type" }),
  tool = obj({ type = str(), name = text(), disable_parallel_tool_use = bool() }, { "type", "name" }),
  none = obj({ type = str() }, { "type" }),
})

local thinking = tagged("type", {
  enabled = obj({ type = str(), budget_tokens = int(1024), display = str() }, { "type", "budget_tokens" }),
  adaptive = obj({ type = str(), display = str() }, { "type" }),
  disabled = obj({ type = str() }, { "type" }),
})

-- what output_config holds is checked no further than its JSON types
local output_config = obj({
  effort = str(),
  format = obj({ type = str(), schema = map() }, { "type" }, { open = true }),
}, {}, { open = true })

--- Rules between fields: the thinking budget against max_tokens, and the
-- sampling settings extended thinking does not allow (adaptive thinking is
-- left to the service: its documentation states no such rule).
local null = require("cjson").null

local function given(v) return v ~= nil and v ~= null end

local INTERLEAVED = "interleaved-thinking-2025-05-14"

local function interleaved(b)
  local beta = b.anthropic_beta
  if type(beta) ~= "table" then return false end
  for i = 1, #beta do
    if beta[i] == INTERLEAVED then return true end
  end
  return false
end

local function messages_rule(b)
  local th = b.thinking
  if type(th) ~= "table" or th.type ~= "enabled" then return end
  if type(b.max_tokens) == "number" and th.budget_tokens >= b.max_tokens and not interleaved(b) then
    return { "thinking", "budget_tokens" }, "must be less than max_tokens (" .. b.max_tokens .. "), got "
      .. th.budget_tokens .. " (with anthropic_beta \"" .. INTERLEAVED .. "\" it may exceed it)"
  end
  if given(b.temperature) and b.temperature ~= 1 then
    return "temperature", "cannot be changed while extended thinking is enabled (omit it or use 1)"
  end
  if given(b.top_k) then
    return "top_k", "cannot be set while extended thinking is enabled"
  end
  if type(b.top_p) == "number" and b.top_p < 0.95 then
    return "top_p", "must be between 0.95 and 1 while extended thinking is enabled, got " .. b.top_p
  end
  local tc = b.tool_choice
  if type(tc) == "table" and (tc.type == "any" or tc.type == "tool") then
    return "tool_choice", "cannot force tool use while extended thinking is enabled (use auto or none)"
  end
end

local system_block = obj({ type = enum("text"), text = str(), cache_control = cache_control, citations = any() },
  { "type", "text" })

local messages_fields = {
  anthropic_version = enum("bedrock-2023-05-31"),
  anthropic_beta = arr(text()),
  max_tokens = int(1),
  system = union({ string = str(), array = arr(system_block) }, "a string or an array of text blocks"),
  messages = arr(message, 1),
  temperature = num(0, 1),
  top_p = num(0, 1),
  top_k = int(0, 500),
  stop_sequences = arr(str(), 0, 8191),
  tools = arr(tool),
  tool_choice = tool_choice,
  thinking = thinking,
  output_config = output_config,
  context_management = map(),
  metadata = obj({ user_id = str() }, {}),
}
local messages_required = { "anthropic_version", "max_tokens", "messages" }
local messages_body = obj(messages_fields, messages_required, { rule = messages_rule })

-- Claude Sonnet 4.5 and Haiku 4.5: temperature or top_p, not both
local messages_one_sampler = obj(messages_fields, messages_required, {
  rule = function(b)
    if given(b.temperature) and given(b.top_p) then
      return "top_p", "cannot be given together with 'temperature' on this model (Claude Sonnet 4.5 and "
        .. "Haiku 4.5 take one of them)"
    end
    return messages_rule(b)
  end,
})

local text_completion_body = obj({
  prompt = text(),
  max_tokens_to_sample = int(0, 4096),
  temperature = num(0, 1),
  top_p = num(0, 1),
  top_k = int(0, 500),
  stop_sequences = arr(str()),
  anthropic_version = text(),
}, { "prompt", "max_tokens_to_sample" })

return {
  family = "anthropic",
  schemas = { messages = messages_body, text_completion = text_completion_body },
  variants = { one_sampler = { messages = messages_one_sampler, text_completion = text_completion_body } },
  -- the first entry whose key is in the body picks the schema
  select = { { when = "prompt", use = "text_completion" }, { use = "messages" } },
}
