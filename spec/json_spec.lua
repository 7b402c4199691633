-- The core's JSON decoder (src/json.c through core.json_decode): what it
-- returns beside lua-cjson on the same texts, what it refuses and where,
-- and replies and stream events over the wire with integers as integers.
local bedrock = require "bedrock"
local core = require "bedrock.core"
local cjson = require "cjson"
local emulator = require "spec.support.emulator"

local decode = core.json_decode

-- Lua 5.3+ keeps an integer subtype; 5.1 and LuaJIT have one number type, where an integer is
-- a number without a fraction (and what tostring prints is what tells a user 4 from 4.0)
local SUBTYPES = math.type ~= nil
local math_type = math.type
local function mtype(v)
  if SUBTYPES then return math_type(v) end
  if type(v) ~= "number" then return nil end
  return (v == math.floor(v) and v > -2^63 and v < 2^63) and "integer" or "float"
end

-- equal values, with integers and floats apart (4 is not 4.0 here)
local function same(a, b, path)
  path = path or "value"
  if type(a) ~= type(b) then return false, path .. ": " .. type(a) .. " vs " .. type(b) end
  if type(a) == "number" then
    if mtype(a) ~= mtype(b) then return false, path .. ": " .. mtype(a) .. " vs " .. mtype(b) end
    if a ~= b and not (a ~= a and b ~= b) then return false, path .. ": " .. a .. " vs " .. b end
    return true
  end
  if type(a) ~= "table" then
    if a ~= b then return false, path .. ": " .. tostring(a) .. " vs " .. tostring(b) end
    return true
  end
  for k, v in pairs(a) do
    local ok, why = same(v, b[k], path .. "." .. tostring(k))
    if not ok then return false, why end
  end
  for k in pairs(b) do
    if a[k] == nil then return false, path .. "." .. tostring(k) .. " missing" end
  end
  return true
end

-- lua-cjson decodes every number as a float: what ours gives, with its
-- integers made floats, must equal cjson's result
local function floats(v)
  if mtype(v) == "integer" then return v + 0.0 end
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = floats(x) end
  return out
end

describe("core.json_decode", function()
  it("decodes every kind of value, integers as integers, null as cjson.null", function()
    local v = decode('{"a":[1,-2,2.5,1e2,true,false,null,"x\\u00e9\\ud83d\\ude00"],"b":{"inputTokens":4},"c":{}}')
    assert.are.equal(4, v.b.inputTokens)
    assert.are.equal("integer", mtype(v.b.inputTokens))
    assert.are.equal("4", tostring(v.b.inputTokens))
    assert.are.equal("integer", mtype(v.a[1]))
    assert.are.equal(-2, v.a[2])
    assert.are.equal("float", mtype(v.a[3]))
    if SUBTYPES then assert.are.equal("float", mtype(v.a[4])) end   -- 1e2: a float, where there are floats
    assert.are.equal(100.0, v.a[4])
    assert.is_true(v.a[5])
    assert.is_false(v.a[6])
    assert.are.equal(cjson.null, v.a[7])
    assert.are.equal("x\195\169\240\159\152\128", v.a[8])
    assert.are.same({}, v.c)
    assert.are.equal(cjson.null, decode("null"))
    if SUBTYPES then
      assert.are.equal(math.maxinteger, decode("9223372036854775807"))
      assert.are.equal(math.mininteger, decode("-9223372036854775808"))
      assert.are.equal("float", mtype(decode("-0")))
    end
    assert.are.equal("float", mtype(decode("9223372036854775808")))
    assert.are.equal("a\0b", decode('"a\\u0000b"'))
  end)

  it("refuses what is not strict JSON with nil, a message and the byte", function()
    -- text, message, byte, and whether lua-cjson (less strict) refuses it too
    local cases = {
      { "", "no JSON value (empty text)", 1, true },
      { "[1,]", "unexpected character", 4, true },
      { "{\"a\":1} x", "text after the JSON value", 9, true },
      { "01", "malformed number", 2, false },
      { "NaN", "unexpected character", 1, false },
      { '"\\ud800"', "unpaired UTF-16 surrogate in a \\u escape", 2, true },
      { '"\255"', "invalid UTF-8 in a string", 2, false },
      { '"a\nb"', "control character in a string", 3, false },
      { '{"a":', "unexpected end of the text", 6, true },
      { "[1] // comment", "text after the JSON value", 5, true },
    }
    for _, c in ipairs(cases) do
      local v, msg, at = decode(c[1])
      assert.is_nil(v, c[1])
      assert.are.equal(c[2], msg, c[1])
      assert.are.equal(c[3], at, c[1])
      assert.are.equal(c[4], not pcall(cjson.decode, c[1]), c[1])
    end
  end)

  it("nests to depth 1000 and refuses 1001, as lua-cjson's default", function()
    local ok = string.rep("[", 1000) .. string.rep("]", 1000)
    local v = assert(decode(ok))
    local d = 0
    while type(v) == "table" do d = d + 1; v = v[1] end
    assert.are.equal(1000, d)
    local nv, msg, at = decode("[" .. ok .. "]")
    assert.is_nil(nv)
    assert.are.equal("arrays and objects nested too deeply", msg)
    assert.are.equal(1001, at)
    assert.is_nil((decode(string.rep('{"a":', 1001) .. "1" .. string.rep("}", 1001))))
  end)

  it("agrees with lua-cjson on what lua-cjson encodes (random documents)", function()
    math.randomseed(20261206)
    local function gen(depth)
      local r = math.random(depth > 4 and 6 or 8)
      if r == 1 then return math.random(-1e9, 1e9) end
      if r == 2 then return (math.random() - 0.5) * 10 ^ math.random(-20, 20) end
      if r == 3 then
        local t = {}
        for i = 1, math.random(0, 12) do t[i] = string.char(math.random(0, 255) % 128) end
        return table.concat(t) .. (math.random(2) == 1 and "\226\130\172" or "")
      end
      if r == 4 then return math.random(2) == 1 end
      if r == 5 then return cjson.null end
      if r == 6 then return math.random(0, 2^53) end
      if r == 7 then
        local t = {}
        for i = 1, math.random(1, 5) do t[i] = gen(depth + 1) end
        return t
      end
      local t = {}
      for _ = 1, math.random(1, 5) do t["k" .. math.random(100)] = gen(depth + 1) end
      return t
    end
    for i = 1, 500 do
      local doc = gen(0)
      local text = cjson.encode(doc)
      local ours = decode(text)
      assert.is_not_nil(ours, text)
      local ok, why = same(floats(ours), cjson.decode(text))
      assert(ok, "document " .. i .. ": " .. tostring(why) .. " in " .. text)
      -- and ours encodes back to a text that decodes to the same value
      local again = decode(cjson.encode(ours))
      ok, why = same(again, ours)
      assert(ok, "round trip " .. i .. ": " .. tostring(why))
    end
  end)

  it("keeps integers past 2^53 exact, where a float cannot (5.3+; 5.1 and LuaJIT have only doubles)", function()
    local v = decode('{"id":9007199254740993}')
    if SUBTYPES then
      assert.are.equal(9007199254740993, v.id)
      assert.are.equal("9007199254740993", tostring(v.id))
    else
      assert.are.equal(9007199254740992, v.id)    -- the nearest double, as every JSON decoder there gives
    end
    assert.are.equal("integer", mtype(v.id))
  end)
end)

describe("JSON over the wire", function()
  local emu, client
  local MODEL = "anthropic.claude-3-sonnet-20240229-v1:0"
  local BODY = { anthropic_version = "bedrock-2023-05-31", max_tokens = 100,
    messages = { { role = "user", content = "Hello" } } }
  setup(function()
    emu = emulator.shared()
    client = bedrock.client{ endpoint_url = emu.url, region_name = "us-east-1", timeout = 5,
      access_key_id = emulator.credentials.access_key_id,
      secret_access_key = emulator.credentials.secret_access_key }
  end)
  before_each(function() emu:reset() end)
  teardown(function() client:close() end)

  it("gives converse's and count_tokens' counts as integers (they print 4, not 4.0)", function()
    local reply = assert(client:converse{ model_id = MODEL,
      messages = { { role = "user", content = { { text = "Hello!" } } } } })
    for _, k in ipairs{ "inputTokens", "outputTokens", "totalTokens" } do
      assert.are.equal("integer", mtype(reply.usage[k]), k)
    end
    assert.are.equal("integer", mtype(reply.metrics.latencyMs))
    local n = assert(client:count_tokens{ model_id = MODEL,
      input = { converse = { messages = { { role = "user", content = { { text = "How many?" } } } } } } })
    assert.are.equal("integer", mtype(n.inputTokens))
    assert.are.equal(string.format("%d", n.inputTokens), tostring(n.inputTokens))
  end)

  it("gives invoke_model's reply and each stream chunk with integer counts and cjson.null", function()
    local body = assert(client:invoke_model{ model_id = MODEL, body = BODY })
    assert.are.equal("integer", mtype(body.usage.input_tokens))
    local saw_null, n = false, 0
    for ev in client:invoke_model_with_response_stream{ model_id = MODEL, body = BODY } do
      n = n + 1
      if ev.index ~= nil then assert.are.equal("integer", mtype(ev.index)) end
      if ev.type == "message_start" then
        saw_null = ev.message.stop_reason == cjson.null
        assert.are.equal("integer", mtype(ev.message.usage.input_tokens))
      end
    end
    assert.is_true(n > 3)
    assert.is_true(saw_null)
  end)

  it("decodes a chunk larger than the stack buffer, with escapes, surrogate pairs and UTF-8", function()
    -- Python's json escapes non-ASCII as \\u, emoji as surrogate pairs: the
    -- C decoder must give back the same UTF-8; 7 kB of base64 takes the heap path
    local piece = 'say "hi"\n\tand caf\195\169 \240\159\152\128 \226\130\172 \\ / '
    local text = piece:rep(120)
    emu:scenario(MODEL, { deltas = 1, text = text })
    local got = {}
    for ev in client:invoke_model_with_response_stream{ model_id = MODEL, body = BODY } do
      if ev.type == "content_block_delta" then got[#got + 1] = ev.delta.text end
    end
    assert.are.equal(1, #got)
    assert.are.equal(#text, #got[1])
    assert.are.equal(text, got[1])
  end)

  it("gives converse_stream's metadata usage as integers", function()
    local usage
    for ev in client:converse_stream{ model_id = MODEL,
        messages = { { role = "user", content = { { text = "Hi" } } } } } do
      if ev.type == "metadata" then usage = ev.usage end
    end
    assert.is_table(usage)
    assert.are.equal("integer", mtype(usage.inputTokens))
    assert.are.equal("integer", mtype(usage.outputTokens))
  end)
end)
