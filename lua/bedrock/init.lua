--- lua-bedrock: an AWS Bedrock Runtime client.
-- bedrock.client(config) and bedrock.async_client(config) make clients;
-- bedrock.run / bedrock.spawn drive async tasks; bedrock.sigv4 and
-- bedrock.eventstream are the sans-I/O pieces. README.md is the guide; this
-- is the reference.
-- @module bedrock
local core = require("bedrock.compat").native("bedrock.core")
local client = require "bedrock.api.client"
local errors = require "bedrock.errors"
local scheduler = require "bedrock.transport.scheduler"
local transport = require "bedrock.transport"

-- Tasks: the coroutine scheduler, or inside nginx (where cosockets already
-- yield) ngx.thread light threads (bedrock.transport.ngx).
local function tasks()
  if transport.kind() == "ngx" then return require("bedrock.transport.ngx") end
  return scheduler
end

--- A blocking client (`Client`): each call returns when its reply is in.
-- @function client
-- @tparam[opt] table config the configuration keys (`bedrock.config.keys`)
-- @treturn bedrock.api.client.Client
-- @raise an `InvalidParameter` error object on a wrong type, an unknown key, a CR, LF or NUL in a string

--- An async client: the same methods as `client`'s, as coroutines; its calls yield inside
-- `run` (or a task it spawned) and raise an `InvalidParameter` error outside it. Async
-- clients share one engine (one keep-alive pool).
-- @function async_client
-- @tparam[opt] table config as for `client`
-- @treturn bedrock.api.client.Client

--- Run fn as a task, with every task it spawns, to the end.
-- @function run
-- @tparam function fn
-- @param ... fn's arguments
-- @return fn's results
-- @raise fn's error, or the error of a spawned task nobody waited for; `run` cannot be nested

--- Start fn as a task inside `run`.
-- @function spawn
-- @tparam function fn
-- @param ... fn's arguments
-- @treturn Task

--- Sleep inside a task (other tasks go on).
-- @function sleep
-- @tparam number seconds

--- Whether x is an error object (`bedrock.errors.Error`).
-- @function is_error
-- @param x any value
-- @treturn boolean

--- Raw bytes for a blob member (an image, a document): sent base64-encoded.
-- @function bytes
-- @tparam string raw
-- @return a value the request builder encodes

local bedrock = {
  client = client.new,
  async_client = client.new_async,
  run = function(...) return tasks().run(...) end,
  spawn = function(...) return tasks().spawn(...) end,
  sleep = function(seconds) return tasks().sleep(seconds) end,
  is_error = errors.is,
  -- raw bytes for a blob member (an image, a document): base64-encoded on the wire
  bytes = require("bedrock.api.shapes").bytes,
}

--- The version of the C core (and of lua-bedrock).
bedrock._VERSION = core._VERSION

--- The error module (`bedrock.errors`): the error object's fields and the codes.
bedrock.errors = errors

--- SigV4-sign a request: every header given is signed, plus `host` and `x-amz-date`.
-- Identical inputs give botocore's `SigV4Auth` signature.
-- @function sigv4.sign
-- @tparam table t `method`, `url` (the wire URL, path percent-encoded), `headers`, `body`,
-- `region`, `service`, `credentials` (`access_key_id`, `secret_access_key`, `session_token`),
-- `time` (seconds, default now), `payload_hash` (optional: instead of the body's SHA-256)
-- @treturn table the headers to add: `Authorization`, `X-Amz-Date`, `X-Amz-Security-Token`
-- @raise on a missing or malformed field

--- As `sigv4.sign`, and the steps: `canonical_request`, `string_to_sign`, `signature`.
-- @function sigv4.sign_debug
-- @tparam table t as for `sigv4.sign`
-- @treturn table the headers to add
-- @treturn table `{ canonical_request, string_to_sign, signature }`


--- A new incremental decoder of `application/vnd.amazon.eventstream` bytes.
-- @function eventstream.decoder
-- @treturn Decoder

--- Encode one event-stream message.
-- @function eventstream.encode
-- @tparam table headers name = string value, or `{ type = t, value = v }` with t one of `true`, `false`,
-- `byte`, `short`, `int`, `long`, `bytes`, `string`, `timestamp`, `uuid`
-- @tparam string payload
-- @treturn string the frame's bytes
-- @raise when a header cannot be encoded

bedrock.sigv4 = require "bedrock.sigv4"
bedrock.eventstream = require "bedrock.eventstream"

--- A new conversation (`bedrock.conversation.new`): `bedrock.conversation{ model_id = ..., ... }`.
-- The module (~45 KiB of Lua heap) is loaded on first use.
-- @function conversation
-- @tparam table opts see `bedrock.conversation.new`
-- @treturn bedrock.conversation.Conversation

--- Resume a conversation saved with `Conversation:to_json`.
-- @function conversation.from_json
-- @tparam string s
-- @treturn bedrock.conversation.Conversation or nil, err

--- The MCP client: MCP servers over stdio or Streamable HTTP, their tools, resources and
-- prompts (see the README's "MCP servers"). The module is loaded on first use.
-- @table mcp

local lazy_fields = { conversation = "bedrock.conversation", mcp = "bedrock.mcp" }
setmetatable(bedrock, { __index = function(t, k)
  local name = lazy_fields[k]
  if not name then return nil end
  local m = require(name)
  rawset(t, k, m)
  return m
end })

--- A task of `spawn`.
-- @type Task

--- Wait for the task (inside `run`): its results, or its error raised here.
-- @function Task:wait
-- @return the task function's results

--- Whether the task has ended (returned or raised).
-- @function Task:is_done
-- @treturn boolean

--- An event-stream decoder of `eventstream.decoder`.
-- @type Decoder

--- Feed bytes (any split); returns the messages they completed.
-- @function Decoder:feed
-- @tparam string bytes
-- @treturn {table,...} messages: `{ headers = {...}, payload = string }`
-- @raise on a bad prelude, a CRC mismatch, an oversized frame (then on every later feed)

--- Bytes fed but not yet part of a whole message.
-- @function Decoder:pending
-- @treturn integer

--- Free the decoder (also done by the garbage collector).
-- @function Decoder:close

return bedrock
