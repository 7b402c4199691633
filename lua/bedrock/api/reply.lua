--- Replies that claim to be JSON. One function decides what a reply (or a
-- stream chunk) that does not decode becomes, so every path that decodes
-- one — lua-cjson today, a C decoder later — calls it and agrees.
local errors = require "bedrock.errors"

local reply = {}

reply.CODE = "ResponseParseError"

local cjson_decode = require("cjson").decode

--- decode(text, status, request_id[, what[, decoder]]) -> value | nil, err.
-- err: ResponseParseError (not retryable: the service answered, and
-- answering again would not change what a reply of this kind holds), with
-- the status and request id; its message has the decoder's reason but
-- never the reply's text. `decoder` (default cjson.decode) raises on bad
-- input, as cjson does.
function reply.decode(text, status, request_id, what, decoder)
  local ok, value = pcall(decoder or cjson_decode, text)
  if ok then return value end
  local why = tostring(value):gsub("^[^:]*:%d+: ", ""):sub(1, 120)
  return nil, errors.new{ code = reply.CODE, status = status, request_id = request_id,
    retryable = false,
    message = (what or "the reply") .. " claims to be JSON but does not decode (" .. why
      .. "); raw = true returns the bytes" }
end

return reply
