-- bedrock.eventstream: the Lua face of the C codec, on the upstream vectors
-- (the exhaustive C test is test/test_eventstream.c).
local bedrock = require "bedrock"
local cjson = require "cjson"
local compat = require "bedrock.compat"
local core = require "bedrock.core"

local TESTDATA = "test/data"  -- busted runs from the repository root

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local positive = { "all_headers", "empty_message", "int32_header", "payload_no_headers", "payload_one_str_header" }

local function expected(name)
  local doc = cjson.decode(read(TESTDATA .. "/eventstream/decoded/positive/" .. name))
  local headers = {}
  for _, h in ipairs(doc.headers) do
    local v = h.value
    if h.type == 6 or h.type == 7 or h.type == 9 then v = core.b64decode(v)
    elseif h.type >= 2 and h.type <= 5 or h.type == 8 then v = compat.tointeger(v) end
    headers[h.name] = v
  end
  return headers, core.b64decode(doc.payload), doc.headers
end

describe("bedrock.eventstream", function()
  for _, name in ipairs(positive) do
    it("decodes " .. name .. " whole and byte by byte, and encodes it back", function()
      local bytes = read(TESTDATA .. "/eventstream/encoded/positive/" .. name)
      local headers, payload, wire = expected(name)
      local msgs = bedrock.eventstream.decoder():feed(bytes)
      assert.are.equal(1, #msgs)
      assert.are.same(headers, msgs[1].headers)
      assert.are.equal(payload, msgs[1].payload)
      local dec, got = bedrock.eventstream.decoder(), {}
      for i = 1, #bytes do
        for _, m in ipairs(dec:feed(bytes:sub(i, i))) do got[#got + 1] = m end
      end
      assert.are.equal(1, #got)
      assert.are.same(headers, got[1].headers)
      assert.are.equal(0, dec:pending())
      -- encoding with the wire types (single-header messages keep order)
      if #wire <= 1 then
        local typed = {}
        local names = { [0] = "true", "false", "byte", "short", "int", "long", "bytes", "string", "timestamp", "uuid" }
        for _, h in ipairs(wire) do typed[h.name] = { type = names[h.type], value = headers[h.name] } end
        assert.are.equal(bytes, bedrock.eventstream.encode(typed, payload))
      end
    end)
  end

  it("maps every header type to Lua as design.md says", function()
    local headers = expected("all_headers")
    local msg = bedrock.eventstream.decoder():feed(read(TESTDATA .. "/eventstream/encoded/positive/all_headers"))[1]
    for k, v in pairs(headers) do assert.are.equal(v, msg.headers[k], k) end
    local types = {}
    for _, v in pairs(msg.headers) do
      types[type(v) == "number" and (compat.isinteger(v) and "integer" or "float") or type(v)] = true
    end
    assert.is_true(types.boolean and types.integer and types.string)
  end)

  for _, name in ipairs{ "corrupted_length", "corrupted_header_len", "corrupted_headers", "corrupted_payload" } do
    it("rejects " .. name .. " with the reason of the vector", function()
      local bytes = read(TESTDATA .. "/eventstream/encoded/negative/" .. name)
      local reason = read(TESTDATA .. "/eventstream/decoded/negative/" .. name):gsub("%s+$", "")
      local ok, err = pcall(function() return bedrock.eventstream.decoder():feed(bytes) end)
      assert.is_false(ok)
      assert.matches(reason, tostring(err), 1, true)
    end)
  end

  it("round-trips strings, integers, booleans and typed values", function()
    local frame = bedrock.eventstream.encode({
      [":event-type"] = "chunk", n = 42, yes = true, no = false,
      b = { type = "byte", value = -1 }, ts = { type = "timestamp", value = 1700000000000 },
      id = { type = "uuid", value = string.rep("\1", 16) }, raw = { type = "bytes", value = "\0\1" },
    }, "payload")
    local m = bedrock.eventstream.decoder():feed(frame .. frame)
    assert.are.equal(2, #m)
    assert.are.same({ [":event-type"] = "chunk", n = 42, yes = true, no = false, b = -1, ts = 1700000000000,
      id = string.rep("\1", 16), raw = "\0\1" }, m[1].headers)
    assert.are.equal("payload", m[2].payload)
    assert.has_error(function() bedrock.eventstream.encode({ b = { type = "byte", value = 300 } }, "") end)
    assert.has_error(function() bedrock.eventstream.encode({ x = { type = "nope", value = 1 } }, "") end)
  end)

  it("refuses an oversized frame as soon as its prelude is in", function()
    local prelude = "\1\16\0\0" .. "\0\0\0\0"   -- big-endian 17 MiB, no headers
    -- a valid prelude CRC (zlib's, computed independently by Python)
    local p = io.popen("env -u LD_PRELOAD python3 -c \"import zlib,struct,sys; sys.stdout.write(struct.pack('>I', zlib.crc32(struct.pack('>II', 17*1024*1024, 0))).hex())\"")
    local hex = p:read("*a")
    p:close()
    local crc = hex:gsub("..", function(h) return string.char(tonumber(h, 16)) end)
    local ok, err = pcall(function() return bedrock.eventstream.decoder():feed(prelude .. crc) end)
    assert.is_false(ok)
    assert.matches("EVS_TOO_LARGE", tostring(err))
  end)

  describe("decoder:events (the fast path beside feed)", function()
    local function frames()
      local E = bedrock.eventstream.encode
      return {
        E({ [":message-type"] = "event", [":event-type"] = "chunk", [":content-type"] = "application/json" }, '{"bytes":"e30="}'),
        E({ [":event-type"] = "metadata" }, "{}"),                      -- no :message-type: an event
        E({ [":message-type"] = "exception", [":exception-type"] = "throttlingException" }, '{"message":"slow"}'),
        E({ [":message-type"] = "error", [":error-code"] = "InternalError", [":error-message"] = "boom" }, ""),
        E({ [":message-type"] = "event" }, "no type"),
      }
    end
    local want = {
      "event", "chunk", '{"bytes":"e30="}',
      "event", "metadata", "{}",
      "exception", "throttlingException", '{"message":"slow"}',
      "error", "InternalError", "boom",
      "event", false, "no type",
    }

    it("gives kind, type and payload per message, as feed's headers say, in any split", function()
      local bytes = table.concat(frames())
      local n, out = bedrock.eventstream.decoder():events(bytes)
      assert.are.equal(5, n)
      assert.are.same(want, out)
      -- the same, byte by byte, into one reused table
      local dec, got, reuse = bedrock.eventstream.decoder(), {}, { "stale", "stale", "stale", "stale" }
      for i = 1, #bytes do
        local k = dec:events(bytes:sub(i, i), reuse)
        for j = 1, 3 * k do got[#got + 1] = reuse[j] end
        assert.is_nil(reuse[3 * k + 1])      -- the table ends after the last message
      end
      assert.are.same(want, got)
      assert.are.equal(0, dec:pending())
      -- what feed says about the same messages
      local msgs = bedrock.eventstream.decoder():feed(bytes)
      assert.are.equal(msgs[1].headers[":event-type"], out[2])
      assert.are.equal(msgs[3].headers[":exception-type"], out[8])
      assert.are.equal(msgs[1].payload, out[3])
    end)

    it("raises on a corrupt frame as feed does, and stays failed", function()
      local bytes = read(TESTDATA .. "/eventstream/encoded/negative/corrupted_payload")
      local dec = bedrock.eventstream.decoder()
      local ok, err = pcall(dec.events, dec, bytes)
      assert.is_false(ok)
      assert.matches("EVS_MESSAGE_CRC", tostring(err))
      assert.is_false((pcall(dec.events, dec, frames()[1])))
    end)
  end)
end)
