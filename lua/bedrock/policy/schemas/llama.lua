--- Meta Llama (3, 3.1, 3.2, 3.3, 4 Instruct), from the Bedrock user guide:
-- prompt required; temperature 0-1, top_p 0-1, max_gen_len 1-2048; images
-- (base64 strings) for Llama 3.2 and later.
local S = require "bedrock.policy.schemas"

local body = S.obj({
  prompt = S.text(),
  temperature = S.num(0, 1),
  top_p = S.num(0, 1),
  max_gen_len = S.int(1, 2048),
  images = S.arr(S.text()),
}, { "prompt" })

return { family = "llama", schemas = { completion = body }, select = { { use = "completion" } } }
