-- bedrock.sigv4 and bedrock.eventstream load bedrock.codec alone: no client,
-- no credential chain, no libcurl in the process (an nginx worker's case).
-- Each check runs in a child of the interpreter running the suite.
local child = require "spec.support.child"

local module_file = child.module_file

-- prints what the child loaded: bedrock modules, and whether libcurl is mapped
local REPORT = [[
  local loaded = {}
  for name in pairs(package.loaded) do
    if name:match("^bedrock") then loaded[#loaded + 1] = name end
  end
  table.sort(loaded)
  local maps = io.open("/proc/self/maps"):read("*a")
  print(cjson.encode{ loaded = loaded, curl = maps:find("libcurl", 1, true) ~= nil,
    codec = maps:find("bedrock/codec.so", 1, true) ~= nil, result = result })
]]

describe("the sans-I/O modules", function()
  it("require bedrock.sigv4 and bedrock.eventstream without the client, credentials or libcurl", function()
    local doc = child.run({}, [[
      local sigv4 = require "bedrock.sigv4"
      local es = require "bedrock.eventstream"
      local h = sigv4.sign{ url = "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/invoke",
        region = "us-east-1", body = "{}", time = 1700000000,
        credentials = { access_key_id = "AKIDEXAMPLE", secret_access_key = "secret" } }
      local m = es.decoder():feed(es.encode({ [":event-type"] = "chunk" }, "hi"))[1]
      local result = { auth = h.Authorization, payload = m.payload }
    ]] .. REPORT)
    -- the codec, the two modules and bedrock.compat (plain Lua): no core, api, auth or config
    assert.are.same({ "bedrock.codec", "bedrock.compat", "bedrock.eventstream", "bedrock.sigv4" }, doc.loaded)
    assert.is_false(doc.curl)
    assert.is_true(doc.codec)
    assert.matches("^AWS4%-HMAC%-SHA256 Credential=AKIDEXAMPLE/20231114/us%-east%-1/bedrock/aws4_request",
      doc.result.auth)
    assert.are.equal("hi", doc.result.payload)
  end)

  it("work where bedrock.core was never built: the codec object is all they need", function()
    local codec = assert(module_file("bedrock.codec"), "bedrock.codec is not built")
    local dir = child.tmpdir()
    os.execute("mkdir -p " .. child.quote(dir .. "/bedrock") .. " && cp " .. child.quote(codec) .. " "
      .. child.quote(dir .. "/bedrock/codec.so"))
    -- cjson from where it is, bedrock's C modules only from dir
    local cjson_dir = assert(module_file("cjson")):match("^(.*)/cjson%.so$")
    local doc = child.run({ LUA_CPATH = dir .. "/?.so;" .. cjson_dir .. "/?.so" }, [[
      local core_ok = pcall(require, "bedrock.core")
      local sigv4 = require "bedrock.sigv4"
      local es = require "bedrock.eventstream"
      local _, d = sigv4.sign_debug{ url = "https://h.example/p", region = "eu-west-1",
        credentials = { access_key_id = "AKID", secret_access_key = "s" }, time = 0 }
      local frames = es.decoder():feed(es.encode({ n = 7 }, "x") .. es.encode({}, "y"))
      local result = { core_ok = core_ok, sig = #d.signature, n = frames[1].headers.n,
        payloads = frames[1].payload .. frames[2].payload }
    ]] .. REPORT)
    child.rmdir(dir)
    assert.is_false(doc.result.core_ok)
    assert.are.equal(64, doc.result.sig)
    assert.are.equal(7, doc.result.n)
    assert.are.equal("xy", doc.result.payloads)
    assert.is_false(doc.curl)
  end)

  it("are the bedrock.sigv4 and bedrock.eventstream the client's module offers", function()
    local doc = child.run({}, [[
      local b = require "bedrock"
      local result = { same = b.sigv4 == require "bedrock.sigv4" and b.eventstream == require "bedrock.eventstream" }
      -- bedrock.core carries its own HTTP/1.1 client: no libcurl until a request needs it
      result.curl_before = io.open("/proc/self/maps"):read("*a"):find("libcurl", 1, true) ~= nil
      require "bedrock.curl"   -- what the client loads for a duplex session or a proxy
    ]] .. REPORT)
    assert.is_true(doc.result.same)
    assert.is_false(doc.result.curl_before)
    assert.is_true(doc.curl)   -- bedrock.curl does map libcurl: the check above can see it
  end)
end)
