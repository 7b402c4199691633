--- AI21 Labs Jamba (Instruct, 1.5 Mini, 1.5 Large), from the Bedrock user
-- guide: messages (system, user, assistant) required; temperature 0-2,
-- top_p 0-1, max_tokens 0-4096, n 1-16, stop sequences.
local S = require "bedrock.policy.schemas"
local str, enum, num, int, any = S.str, S.enum, S.num, S.int, S.any
local arr, obj, map, union = S.arr, S.obj, S.map, S.union

local message = obj({
  role = enum("system", "user", "assistant", "tool"),
  content = union({ string = str(), array = arr(map()) }, "a string or an array of content parts"),
  tool_calls = arr(map()),
  tool_call_id = str(),
}, { "role" })

local body = obj({
  messages = arr(message, 1),
  temperature = num(0, 2),
  top_p = num(0, 1),
  max_tokens = int(0, 4096),
  stop = union({ string = str(), array = arr(str()) }, "a string or an array of strings"),
  n = int(1, 16),
  frequency_penalty = num(),
  presence_penalty = num(),
  tools = arr(map()),
  documents = arr(map()),
  response_format = obj({ type = enum("text", "json_object") }, { "type" }),
  seed = int(),
  stream = S.bool(),
}, { "messages" })

return { family = "ai21", schemas = { chat = body }, select = { { use = "chat" } } }
