--- lua-bedrock: an AWS Bedrock Runtime client.
-- bedrock.client(config) and bedrock.async_client(config) make clients;
-- bedrock.run / bedrock.spawn drive async tasks; bedrock.sigv4 and
-- bedrock.eventstream are the sans-I/O pieces. See README.md.
local core = require("bedrock.compat").native("bedrock.core")
local client = require "bedrock.api.client"
local errors = require "bedrock.errors"
local scheduler = require "bedrock.transport.scheduler"

local bedrock = {
  _VERSION = core._VERSION,
  client = client.new,
  async_client = client.new_async,
  run = scheduler.run,
  spawn = scheduler.spawn,
  sleep = function(seconds) return scheduler.sleep(seconds) end,
  errors = errors,
  is_error = errors.is,
  -- raw bytes for a blob member (an image, a document): base64-encoded on the wire
  bytes = require("bedrock.api.shapes").bytes,
}

bedrock.sigv4 = require "bedrock.sigv4"
bedrock.eventstream = require "bedrock.eventstream"

-- bedrock.conversation{ ... } and bedrock.conversation.from_json(s): the
-- module (~45 KiB of Lua heap) is loaded on first use.
local lazy_fields = { conversation = "bedrock.conversation" }
setmetatable(bedrock, { __index = function(t, k)
  local name = lazy_fields[k]
  if not name then return nil end
  local m = require(name)
  rawset(t, k, m)
  return m
end })

return bedrock
