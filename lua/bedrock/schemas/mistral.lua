--- Mistral AI: the text completion body (7B, Mixtral, Large 2402, Small:
-- prompt, max_tokens >= 1, stop at most 10, temperature 0-1, top_p 0-1,
-- top_k 1-200) and the chat completion body (Large 2407 and later, Pixtral:
-- messages, tools, tool_choice), from the Bedrock user guide.
local S = require "bedrock.schemas"
local str, text, enum, num, int, any = S.str, S.text, S.enum, S.num, S.int, S.any
local arr, obj, map, union = S.arr, S.obj, S.map, S.union

local sampling = {
  max_tokens = int(1),
  temperature = num(0, 1),
  top_p = num(0, 1),
  top_k = int(1, 200),
  stop = arr(str(), 0, 10),
}

local completion_fields = { prompt = text() }
for k, v in pairs(sampling) do completion_fields[k] = v end
local completion = obj(completion_fields, { "prompt" })

local tool_call = obj({ id = str(), type = str(), ["function"] = obj({ name = text(), arguments = any() },
  { "name" }) }, { "function" })
local message = obj({
  role = enum("system", "user", "assistant", "tool"),
  content = union({ string = str(), array = arr(map()) }, "a string or an array of content parts"),
  tool_calls = arr(tool_call),
  tool_call_id = str(),
  name = str(),
}, { "role" })

local chat_fields = {
  messages = arr(message, 1),
  tools = arr(obj({ type = enum("function"), ["function"] = obj({ name = text(), description = str(),
    parameters = map() }, { "name" }) }, { "type", "function" })),
  tool_choice = union({ string = enum("auto", "any", "none"), object = map() }, "auto, any, none or a tool"),
  response_format = map(),
}
for k, v in pairs(sampling) do chat_fields[k] = v end
local chat = obj(chat_fields, { "messages" })

return {
  family = "mistral",
  schemas = { completion = completion, chat = chat },
  select = { { when = "messages", use = "chat" }, { use = "completion" } },
}
