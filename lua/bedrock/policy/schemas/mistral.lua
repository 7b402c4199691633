--- Mistral AI: the text completion body (7B, Mixtral, Large 2402, Small:
-- prompt, max_tokens >= 1, stop at most 10, temperature 0-1, top_p 0-1,
-- top_k 1-200) and the chat completion body (Large 2407 and later, Pixtral:
-- messages, tools, tool_choice), from the Bedrock user guide ("Mistral AI
-- text completion"). max_tokens has a per-model maximum there: Mistral 7B
-- Instruct 8192, Mixtral 8x7B Instruct 4096, Mistral Large (2402) and
-- Mistral Small 8192 (the variants, chosen by model id in
-- bedrock.policy.schemas.families); other models have none checked.
local S = require "bedrock.policy.schemas"
local str, text, enum, num, int, any = S.str, S.text, S.enum, S.num, S.int, S.any
local arr, obj, map, union = S.arr, S.obj, S.map, S.union

local function sampling(max_tokens)
  return {
    max_tokens = int(1, max_tokens),
    temperature = num(0, 1),
    top_p = num(0, 1),
    top_k = int(1, 200),
    stop = arr(str(), 0, 10),
  }
end

local function completion_body(max_tokens)
  local fields = { prompt = text() }
  for k, v in pairs(sampling(max_tokens)) do fields[k] = v end
  return obj(fields, { "prompt" })
end

local tool_call = obj({ id = str(), type = str(), ["function"] = obj({ name = text(), arguments = any() },
  { "name" }) }, { "function" })
local message = obj({
  role = enum("system", "user", "assistant", "tool"),
  content = union({ string = str(), array = arr(map()) }, "a string or an array of content parts"),
  tool_calls = arr(tool_call),
  tool_call_id = str(),
  name = str(),
}, { "role" })

local function chat_body(max_tokens)
  local fields = {
    messages = arr(message, 1),
    tools = arr(obj({ type = enum("function"), ["function"] = obj({ name = text(), description = str(),
      parameters = map() }, { "name" }) }, { "type", "function" })),
    tool_choice = union({ string = enum("auto", "any", "none"), object = map() }, "auto, any, none or a tool"),
    response_format = map(),
  }
  for k, v in pairs(sampling(max_tokens)) do fields[k] = v end
  return obj(fields, { "messages" })
end

local function bodies(max_tokens)
  return { completion = completion_body(max_tokens), chat = chat_body(max_tokens) }
end

return {
  family = "mistral",
  schemas = bodies(nil),
  variants = { max4096 = bodies(4096), max8192 = bodies(8192) },
  select = { { when = "messages", use = "chat" }, { use = "completion" } },
}
