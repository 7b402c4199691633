--- Amazon Titan text (express, lite, premier, tg1) and Titan embeddings
-- (text v1/v2, multimodal image v1), from the Bedrock user guide
-- ("Amazon Titan Text models", model-parameters-titan-text):
-- textGenerationConfig temperature 0-1, topP 0-1, maxTokenCount from 0 to
-- the model's maximum (Titan Text Lite 4096, Express 8192, Premier 3072; no
-- maximum is documented for tg1, so none is checked), stopSequences a list
-- of strings (no count limit documented); embed v2 dimensions 256/512/1024;
-- image embeddingConfig outputEmbeddingLength 256/384/1024.
local S = require "bedrock.policy.schemas"
local str, text, enum, num, int, bool = S.str, S.text, S.enum, S.num, S.int, S.bool
local arr, obj = S.arr, S.obj

local function one_of_ints(name, allowed)
  local set, list = {}, {}
  for _, v in ipairs(allowed) do set[v] = true; list[#list + 1] = tostring(v) end
  return function(b)
    local v = b[name]
    if v ~= nil and not set[v] then
      return name, "must be one of " .. table.concat(list, ", ") .. ", got " .. tostring(v)
    end
  end
end

--- The text body with maxTokenCount capped at max_tokens (nil: no cap).
local function text_body(max_tokens)
  return obj({
    inputText = text(),
    textGenerationConfig = obj({
      temperature = num(0, 1),
      topP = num(0, 1),
      maxTokenCount = int(0, max_tokens),
      stopSequences = arr(str()),
    }, {}),
  }, { "inputText" })
end

local embed_text = obj({
  inputText = text(),
  dimensions = int(1),
  normalize = bool(),
  embeddingTypes = arr(enum("float", "binary"), 1),
}, { "inputText" }, { rule = one_of_ints("dimensions", { 256, 512, 1024 }) })

local embed_image = obj({
  inputText = text(),
  inputImage = text(),
  embeddingConfig = obj({ outputEmbeddingLength = int(1) }, {},
    { rule = one_of_ints("outputEmbeddingLength", { 256, 384, 1024 }) }),
}, {}, { any_of = { "inputText", "inputImage" } })

return {
  family = "titan",
  -- bedrock.policy.schemas.families picks the text schema by model id
  schemas = {
    text = text_body(nil),
    text_lite = text_body(4096),
    text_express = text_body(8192),
    text_premier = text_body(3072),
    embed_text = embed_text, embed_image = embed_image,
  },
}
