--- bedrock.eventstream: the application/vnd.amazon.eventstream codec for
-- hosts that do their own I/O. Loads bedrock.codec only: no client, no
-- libcurl.
local codec = require("bedrock.compat").native("bedrock.codec")

return {
  --- decoder() -> Decoder: feed(bytes) -> { {headers = {...}, payload = s}, ... }
  decoder = codec.decoder,
  --- encode(headers, payload) -> one frame
  encode = codec.encode,
}
