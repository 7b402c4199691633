--- Replies that claim to be JSON. One function decides what a reply (or a
-- stream chunk) that does not decode becomes, so every path that decodes
-- one calls it and agrees. The decoder is the core's (src/json.c): strict
-- RFC 8259, integers stay Lua integers (usage.inputTokens is 4, not 4.0),
-- null is cjson.null.
local errors = require "bedrock.errors"

local reply = {}

reply.CODE = "ResponseParseError"

local json_decode = require("bedrock.codec").json_decode

--- json(text) -> value; raises "invalid JSON: <why> at byte <n>" on bad
-- JSON, as cjson.decode raises, for callers that pcall a decoder.
function reply.json(text)
  local v, msg, at = json_decode(text)
  if v == nil then error("invalid JSON: " .. msg .. " at byte " .. at, 0) end
  return v
end

--- decode(text, status, request_id[, what[, decoder]]) -> value | nil, err.
-- err: ResponseParseError (not retryable: the service answered, and
-- answering again would not change what a reply of this kind holds), with
-- the status and request id; its message has the decoder's reason but
-- never the reply's text. `decoder` raises on bad
-- input (default `reply.json`).
function reply.decode(text, status, request_id, what, decoder)
  local ok, value = pcall(decoder or reply.json, text)
  if ok then return value end
  local why = tostring(value):gsub("^[^:]*:%d+: ", ""):sub(1, 120)
  return nil, errors.new{ code = reply.CODE, status = status, request_id = request_id,
    retryable = false,
    message = (what or "the reply") .. " claims to be JSON but does not decode (" .. why
      .. "); raw = true returns the bytes" }
end

return reply
