--- bedrock.sigv4: AWS Signature Version 4 for hosts that do their own I/O
-- (an nginx worker, a test). Loads bedrock.codec only: no client, no
-- credential chain, no libcurl.
local codec = require("bedrock.compat").native("bedrock.codec")

local sigv4 = {}

--- sign{ method, url, headers, body, region, service, credentials, time }
-- -> the headers to add (Authorization, X-Amz-Date, X-Amz-Security-Token).
function sigv4.sign(t)
  local added = codec.sigv4_sign(t)
  return added
end

--- Same, plus { canonical_request, string_to_sign, signature }.
function sigv4.sign_debug(t)
  local copy = {}
  for k, v in pairs(t) do copy[k] = v end
  copy.debug = true
  return codec.sigv4_sign(copy)
end

return sigv4
