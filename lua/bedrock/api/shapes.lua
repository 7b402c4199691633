--- Requests from Lua parameters, driven by the service model (bedrock.api.model,
-- generated from tools/model by tools/gen_model.py).
--
-- Parameter names are snake_case in Lua; each is turned into its wire name
-- by the shape it belongs to, recursively (messages, content blocks, tool
-- specs...). A key given in its wire form is accepted as it is, so Converse
-- messages can be passed exactly as the API documents them. Documents
-- (additionalModelRequestFields, a tool's input, modelInput...) and the keys
-- of maps (promptVariables, requestMetadata) are the caller's data and are
-- never renamed.
--
-- Each member goes where the model puts it: a URI label (percent-encoded),
-- a header, the query string, or the JSON body. The JSON body is written
-- here by shape rather than by cjson, so an empty list is [] and an empty
-- structure {} (lua-cjson cannot tell them apart), and the members come out
-- in the model's order.
--
-- Blobs inside a JSON body travel as base64 text, as on the wire: a string
-- is taken to be that text already (and must be valid base64, so a raw
-- image passed by mistake is an error, not garbage); bedrock.bytes(raw)
-- marks raw bytes to encode; a table is JSON-encoded, then base64-encoded
-- (count_tokens' invokeModel body).
local core = require "bedrock.core"
local compat = require "bedrock.compat"
local cjson = require "cjson"
local errors = require "bedrock.errors"
local model = require "bedrock.api.model"

local shapes = {}
shapes.model = model

local S = model.shapes

-- ------------------------------------------------------------------ bytes

local Bytes = { __name = "bedrock.bytes" }
Bytes.__index = Bytes
function Bytes:__tostring() return "bedrock.bytes(" .. #self[1] .. " bytes)" end

--- Mark raw bytes for a blob member: the client base64-encodes them.
function shapes.bytes(raw)
  if type(raw) ~= "string" then
    error(errors.invalid("bedrock.bytes needs a string, got " .. type(raw)), 2)
  end
  return setmetatable({ raw }, Bytes)
end

function shapes.is_bytes(v) return getmetatable(v) == Bytes end

-- ------------------------------------------------------------------ index

local index = {}

--- by[name] = row for both the wire and the Lua name of every member.
local function members(shape_name)
  local ix = index[shape_name]
  if ix then return ix end
  local s = S[shape_name]
  ix = { by = {}, rows = s.members or {} }
  for _, row in ipairs(ix.rows) do
    ix.by[row[1]] = row
    ix.by[row[2]] = row
  end
  ix.required = {}
  for _, r in ipairs(s.required or {}) do ix.required[r] = true end
  index[shape_name] = ix
  return ix
end
shapes.members = members

-- ------------------------------------------------------------------ helpers

local function fail(path, msg)
  return nil, errors.new{ code = "InvalidParameter", message = "'" .. path .. "' " .. msg, path = path }
end

local function describe(v)
  local t = type(v)
  if t == "string" then return "a string" end
  if t == "table" then return "a table" end
  if t == "number" then return "the number " .. tostring(v) end
  return t
end

local function child(path, key)
  if path == "" then return key end
  return path .. "." .. key
end

local function is_sequence(t)
  local n = #t
  local count = 0
  for k in pairs(t) do
    if not compat.isinteger(k) or k < 1 or k > n then return false end
    count = count + 1
  end
  return count == n
end

local function encode_label(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end
shapes.encode_label = encode_label

local function finite(v) return v == v and v ~= math.huge and v ~= -math.huge end

local function iso8601(v, path)
  if type(v) == "string" then
    if not v:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d") then
      return fail(path, "must be an ISO 8601 time (YYYY-MM-DDThh:mm:ssZ) or Unix seconds")
    end
    return v
  end
  if type(v) ~= "number" or not finite(v) then
    return fail(path, "must be a time: Unix seconds or an ISO 8601 string, got " .. describe(v))
  end
  local secs = math.floor(v)
  local frac = v - secs
  local s = os.date("!%Y-%m-%dT%H:%M:%S", secs)
  if frac > 0 then s = s .. string.format(".%03d", math.floor(frac * 1000 + 0.5) % 1000) end
  return s .. "Z"
end

local function is_base64(s)
  return #s % 4 == 0 and s:match("^[A-Za-z0-9+/]*=?=?$") ~= nil
end

local function uuid4()
  local b = {}
  for i = 1, 16 do b[i] = math.random(0, 255) end
  b[7] = b[7] % 16 + 0x40      -- version 4
  b[9] = b[9] % 64 + 0x80      -- variant 10
  local h = {}
  for i = 1, 16 do h[i] = string.format("%02x", b[i]) end
  local x = table.concat(h)
  return x:sub(1, 8) .. "-" .. x:sub(9, 12) .. "-" .. x:sub(13, 16) .. "-" .. x:sub(17, 20) .. "-" .. x:sub(21)
end
shapes.uuid4 = uuid4

-- ------------------------------------------------------------------ scalars

--- A scalar member as a Lua value of its wire type (for headers and queries
-- the caller turns it into text).
local function scalar(shape_name, v, path)
  local s = S[shape_name]
  local t = s.type
  if t == "string" then
    if type(v) ~= "string" then return fail(path, "must be a string, got " .. describe(v)) end
    return v
  elseif t == "integer" or t == "long" then
    if type(v) ~= "number" or not finite(v) or math.floor(v) ~= v then
      return fail(path, "must be an integer, got " .. describe(v))
    end
    return compat.tointeger(v) or v
  elseif t == "float" or t == "double" then
    if type(v) ~= "number" or not finite(v) then
      return fail(path, "must be a finite number, got " .. describe(v))
    end
    return v
  elseif t == "boolean" then
    if type(v) ~= "boolean" then return fail(path, "must be a boolean, got " .. describe(v)) end
    return v
  elseif t == "timestamp" then
    return iso8601(v, path)
  end
  return fail(path, "has an unsupported type " .. t)
end

-- ------------------------------------------------------------------ JSON body

local to_json

local function json_string(s)
  return cjson.encode(s)
end

local function structure_json(shape_name, v, path, located)
  if type(v) ~= "table" or shapes.is_bytes(v) then
    return fail(path == "" and "parameters" or path, "must be a table, got " .. describe(v))
  end
  local s = S[shape_name]
  local ix = members(shape_name)
  local given, keys = {}, {}
  for k, val in pairs(v) do
    if type(k) ~= "string" then
      return fail(path == "" and "parameters" or path, "has a non-string key " .. tostring(k))
    end
    local row = ix.by[k]
    if row then
      if given[row[1]] ~= nil then
        return fail(child(path, k), "is given twice (as " .. row[1] .. " and " .. row[2] .. ")")
      end
      given[row[1]] = val
      keys[row[1]] = k
    elseif not (located and located[k] ~= nil) then
      return fail(child(path, k), "is not a parameter of " .. shape_name)
    end
  end
  for r in pairs(ix.required) do
    if given[r] == nil then
      local row = ix.by[r]
      if not (row[4]) then
        return fail(child(path, row[2]), "is required")
      end
    end
  end
  local parts, n, set = {}, 0, 0
  for _, row in ipairs(ix.rows) do
    local val = given[row[1]]
    if val ~= nil then
      set = set + 1
      if not row[4] then
        local js, err = to_json(row[3], val, child(path, keys[row[1]]))
        if not js then return nil, err end
        n = n + 1
        parts[n] = json_string(row[1]) .. ":" .. js
      end
    end
  end
  if s.union and set ~= 1 then
    return fail(path, "must set exactly one of its members (a union), got " .. set)
  end
  return "{" .. table.concat(parts, ",") .. "}", given
end

function to_json(shape_name, v, path)
  local s = S[shape_name]
  local t = s.type
  if s.document then
    local ok, js = pcall(cjson.encode, v)
    if not ok then return fail(path, "cannot be encoded as JSON: " .. tostring(js)) end
    return js
  elseif t == "structure" then
    local js, err = structure_json(shape_name, v, path)
    if not js then return nil, err end
    return js
  elseif t == "list" then
    if type(v) ~= "table" or shapes.is_bytes(v) or not is_sequence(v) then
      return fail(path, "must be a list (a Lua sequence), got " .. describe(v))
    end
    local parts = {}
    for i = 1, #v do
      local js, err = to_json(s.member, v[i], path .. "[" .. i .. "]")
      if not js then return nil, err end
      parts[i] = js
    end
    return "[" .. table.concat(parts, ",") .. "]"
  elseif t == "map" then
    if type(v) ~= "table" or shapes.is_bytes(v) then
      return fail(path, "must be a table, got " .. describe(v))
    end
    local keys = {}
    for k in pairs(v) do
      if type(k) ~= "string" then return fail(path, "has a non-string key " .. tostring(k)) end
      keys[#keys + 1] = k
    end
    table.sort(keys)
    local parts = {}
    for i, k in ipairs(keys) do
      local js, err = to_json(s.value, v[k], path .. "[" .. json_string(k) .. "]")
      if not js then return nil, err end
      parts[i] = json_string(k) .. ":" .. js
    end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif t == "blob" then
    if shapes.is_bytes(v) then return json_string(core.b64encode(v[1])) end
    if type(v) == "table" then
      local ok, js = pcall(cjson.encode, v)
      if not ok then return fail(path, "cannot be encoded as JSON: " .. tostring(js)) end
      return json_string(core.b64encode(js))
    end
    if type(v) ~= "string" then
      return fail(path, "must be base64 text, bedrock.bytes(raw) or a table, got " .. describe(v))
    end
    if not is_base64(v) then
      return fail(path, "is not base64 text (wrap raw bytes in bedrock.bytes(...))")
    end
    return json_string(v)
  else
    local val, err = scalar(shape_name, v, path)
    if val == nil then return nil, err end
    if t == "integer" or t == "long" then return string.format("%d", val) end
    if t == "float" or t == "double" then
      if compat.isinteger(val) then return string.format("%d", val) end
      local short = string.format("%.15g", val)
      if tonumber(short) == val then return short end
      return (string.format("%.17g", val))
    end
    return cjson.encode(val)
  end
end
shapes.to_json = to_json

-- ------------------------------------------------------------------ requests

--- A string that goes into the path, a header or the query string, against
-- its shape's length in the service model (characters, as Smithy counts
-- them: UTF-8 code points, or bytes for text that is not UTF-8). Checked
-- before sending: an oversized model id used to reach libcurl, whose
-- request-header buffer failed it as a retried "Out of memory".
-- true | nil, InvalidParameter naming the member.
local function check_length(shape_name, text, path)
  local s = S[shape_name]
  local lo, hi = s.min, s.max
  if not hi and not lo then return true end
  local n = #text
  if (not hi or n <= hi) and (not lo or n >= 4 * lo) then return true end
  n = compat.utf8_len(text) or n
  if hi and n > hi then
    return fail(path, "must be at most " .. hi .. " characters, got " .. n)
  end
  if lo and n < lo then
    return fail(path, "must be at least " .. lo .. " characters, got " .. n)
  end
  return true
end
shapes.check_length = check_length

local function text_of(shape_name, v, path)
  local val, err = scalar(shape_name, v, path)
  if val == nil then return nil, err end
  if type(val) == "boolean" then return val and "true" or "false" end
  if compat.isinteger(val) then return string.format("%d", val) end
  val = tostring(val)
  if val:find("[%z\r\n]") then return fail(path, "contains a CR, LF or NUL") end
  if type(v) == "string" then
    local ok, lerr = check_length(shape_name, val, path)
    if not ok then return nil, lerr end
  end
  return val
end

--- Build the request of operation op_name (a key of model.operations) from
-- Lua parameters: { method, path, query, headers, body, operation } or nil, err.
-- located: extra Lua-only keys the caller handles itself (skipped here).
function shapes.request(op_name, params, located)
  local op = model.operations[op_name]
  if type(params) ~= "table" then
    return nil, errors.invalid("parameters must be a table, got " .. type(params))
  end
  local input = op.input
  local s = S[input]
  if s.idempotency and params[s.idempotency] == nil
      and params[members(input).by[s.idempotency][2]] == nil then
    -- the SDKs fill in the idempotency token, so a retried start is not run twice
    local copy = {}
    for k, v in pairs(params) do copy[k] = v end
    copy[s.idempotency] = uuid4()
    params = copy
  end
  local body, given = structure_json(input, params, "", located)
  if not body then return nil, given end
  local req = { method = op.method, headers = {}, operation = op_name }
  local query = {}
  for _, row in ipairs(members(input).rows) do
    local loc, val = row[4], given[row[1]]
    if loc == "uri" then
      if val == nil then return fail(row[2], "is required") end
      local text, err = text_of(row[3], val, row[2])
      if not text then return nil, err end
      if text == "" then return fail(row[2], "must not be empty") end
      given[row[1]] = text
    elseif loc == "header" and val ~= nil then
      local text, err = text_of(row[3], val, row[2])
      if not text then return nil, err end
      req.headers[row[5]] = text
    elseif loc == "querystring" and val ~= nil then
      local text, err = text_of(row[3], val, row[2])
      if not text then return nil, err end
      query[#query + 1] = encode_label(row[5]) .. "=" .. encode_label(text)
    end
  end
  req.path = op.uri:gsub("{([^}]+)}", function(label) return encode_label(given[label]) end)
  req.labels = given
  if #query > 0 then req.query = table.concat(query, "&") end
  if op.method == "GET" then
    req.body = ""
  else
    req.body = body
    req.headers["Content-Type"] = "application/json"
  end
  return req
end

return shapes
