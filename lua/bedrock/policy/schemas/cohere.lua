--- Cohere on Bedrock, from the Bedrock user guide: Command (text v14,
-- light: prompt, temperature 0-5, p 0-1, k 0-500 (a float in the guide's
-- request), max_tokens 1-4096, at most 4 stop_sequences, num_generations
-- 1-5, logit_bias -10 to 10), Command R / R+ (message, chat_history,
-- temperature 0-1, p 0.01-0.99, k 0-500, penalties 0-1; stop_sequences at
-- most 5, from Cohere's Chat API reference, the Bedrock guide giving no
-- count) and Embed (texts at most 96, input_type required).
local S = require "bedrock.policy.schemas"
local str, text, enum, num, int, bool, any = S.str, S.text, S.enum, S.num, S.int, S.bool, S.any
local arr, obj, map = S.arr, S.obj, S.map

local command = obj({
  prompt = text(),
  temperature = num(0, 5),
  p = num(0, 1),
  k = num(0, 500),
  max_tokens = int(1, 4096),
  stop_sequences = arr(str(), 0, 4),
  return_likelihoods = enum("GENERATION", "ALL", "NONE"),
  stream = S.bool(),
  num_generations = int(1, 5),
  logit_bias = map(num(-10, 10)),
  truncate = enum("NONE", "START", "END"),
}, { "prompt" })

local command_r = obj({
  message = text(),
  chat_history = arr(obj({ role = enum("USER", "CHATBOT", "SYSTEM", "TOOL"), message = str(),
    tool_calls = any(), tool_results = any() }, { "role" })),
  documents = arr(map()),
  search_queries_only = bool(),
  preamble = str(),
  max_tokens = int(1),
  temperature = num(0, 1),
  p = num(0.01, 0.99),
  k = num(0, 500),
  prompt_truncation = enum("OFF", "AUTO_PRESERVE_ORDER"),
  frequency_penalty = num(0, 1),
  presence_penalty = num(0, 1),
  seed = int(),
  return_prompt = bool(),
  tools = arr(obj({ name = text(), description = str(), parameter_definitions = map() }, { "name" })),
  tool_results = arr(obj({ call = map(), outputs = arr(map()) }, { "call", "outputs" })),
  stop_sequences = arr(str(), 0, 5),
  raw_prompting = bool(),
}, { "message" })

local embed = obj({
  texts = arr(str(), 0, 96),
  images = arr(text(), 0, 1),
  input_type = enum("search_document", "search_query", "classification", "clustering", "image"),
  truncate = enum("NONE", "START", "END"),
  embedding_types = arr(enum("float", "int8", "uint8", "binary", "ubinary"), 1),
  output_dimension = int(1),
  max_tokens = int(1),
  inputs = arr(map()),
}, { "input_type" }, { any_of = { "texts", "images", "inputs" } })

return { family = "cohere", schemas = { command = command, command_r = command_r, embed = embed } }
