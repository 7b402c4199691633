--- Amazon Nova understanding models (micro, lite, pro, premier, Nova 2):
-- the "messages-v1" invoke body, from the Nova user guide's "Complete
-- request schema". inferenceConfig takes the camelCase names of the schema
-- and the snake_case ones of the guide's invoke examples (max_new_tokens,
-- top_p, top_k); temperature and topP are 0-1. Binary data is base64 text.
-- Nova 2 ("Using the Invoke API" in the Nova 2 user guide) takes
-- reasoningConfig (type enabled/disabled, maxReasoningEffort low, medium,
-- high) inside inferenceConfig; the top-level reasoningConfig (where
-- Converse's additionalModelRequestFields put it) is accepted too.
local S = require "bedrock.policy.schemas"
local str, text, enum, num, int, bool, any = S.str, S.text, S.enum, S.num, S.int, S.bool, S.any
local arr, obj, map, union = S.arr, S.obj, S.map, S.union

local s3 = obj({ uri = text(), bucketOwner = str() }, { "uri" })
local bytes_source = obj({ bytes = text(), s3Location = s3 }, {}, { one_of = { "bytes", "s3Location" } })

local image = obj({ format = enum("jpeg", "png", "gif", "webp"), source = bytes_source }, { "format", "source" })
local video = obj({
  format = enum("mkv", "mov", "mp4", "webm", "three_gp", "flv", "mpeg", "mpg", "wmv"),
  source = bytes_source,
}, { "format", "source" })
local audio = obj({ format = text(), source = bytes_source }, { "format", "source" })
local document = obj({ format = text(), name = text(), source = bytes_source }, { "format", "name", "source" })

local tool_result_content = obj({ text = str(), json = any(), image = image, document = document, video = video },
  {}, { one_of = { "text", "json", "image", "document", "video" } })

local content_block = obj({
  text = str(),
  image = image,
  video = video,
  audio = audio,
  document = document,
  toolUse = obj({ toolUseId = text(), name = text(), input = any() }, { "toolUseId", "name", "input" }),
  toolResult = obj({ toolUseId = text(), content = arr(tool_result_content), status = enum("success", "error") },
    { "toolUseId", "content" }),
  reasoningContent = any(),
  cachePoint = obj({ type = enum("default") }, { "type" }),
}, {}, { one_of = { "text", "image", "video", "audio", "document", "toolUse", "toolResult",
  "reasoningContent", "cachePoint" } })

local message = obj({ role = enum("user", "assistant"), content = arr(content_block, 1) }, { "role", "content" })

local system_block = obj({ text = str(), cachePoint = obj({ type = enum("default") }, { "type" }) }, {},
  { one_of = { "text", "cachePoint" } })

local reasoning_config = obj({ type = enum("enabled", "disabled"), maxReasoningEffort = enum("low", "medium", "high") },
  { "type" })

local inference = obj({
  maxTokens = int(1), max_new_tokens = int(1),
  temperature = num(0, 1),
  topP = num(0, 1), top_p = num(0, 1),
  topK = int(0), top_k = int(0),
  stopSequences = arr(str()),
  reasoningConfig = reasoning_config,
}, {})

local tool_spec = obj({ name = text(), description = str(), inputSchema = obj({ json = map() }, { "json" }) },
  { "name", "inputSchema" })
local tool_config = obj({
  tools = arr(obj({ toolSpec = tool_spec }, { "toolSpec" }), 1),
  toolChoice = obj({ auto = map(), any = map(), tool = obj({ name = text() }, { "name" }) }, {},
    { one_of = { "auto", "any", "tool" } }),
}, { "tools" })

local body = obj({
  schemaVersion = enum("messages-v1"),
  system = arr(system_block),
  messages = arr(message, 1),
  inferenceConfig = inference,
  toolConfig = tool_config,
  reasoningConfig = reasoning_config,
}, { "messages" })

return { family = "nova", schemas = { messages = body }, select = { { use = "messages" } } }
