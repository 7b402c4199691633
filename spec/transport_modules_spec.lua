-- Which C modules a process maps: bedrock.core carries plain requests with its own HTTP/1.1
-- client, and loads bedrock.curl (libcurl and its thirty libraries) only for a request that
-- needs it: a duplex session (HTTP/2) or a proxy from the environment. Each case runs in a
-- child Lua, whose /proc/self/maps says what was loaded.
local child = require "spec.support.child"
local emulator = require "spec.support.emulator"

local CLAUDE = "anthropic.claude-3-sonnet-20240229-v1:0"

local module_file = child.module_file

-- Code for the child: `maps()` says whether libcurl and bedrock.curl are mapped.
local MAPS = [[
local function maps()
  local f = assert(io.open("/proc/self/maps"))
  local text = f:read("*a")
  f:close()
  return { libcurl = text:find("libcurl", 1, true) ~= nil,
           curl_module = text:find("bedrock/curl.so", 1, true) ~= nil }
end
]]

-- a client of the emulator in the child, as the user makes one
local function client_code(emu)
  return ([[
local bedrock = require "bedrock"
local client = bedrock.client{ endpoint_url = %q, region_name = "us-east-1",
  access_key_id = %q, secret_access_key = %q, timeout = 10, max_retries = 0 }
]]):format(emu.url, emulator.credentials.access_key_id, emulator.credentials.secret_access_key)
end

describe("transport modules", function()
  local emu
  setup(function() emu = emulator.shared() end)
  before_each(function() emu:reset() end)

  it("a plain invoke and a stream never map libcurl", function()
    local doc = child.run({}, MAPS .. client_code(emu) .. ([[
      local body, meta = client:invoke_model{ model_id = %q, body = { messages = {} }, validate = false }
      local n = 0
      for _ in client:invoke_model_with_response_stream{ model_id = %q,
          body = { anthropic_version = "bedrock-2023-05-31", max_tokens = 20,
                   messages = { { role = "user", content = "hi" } } } } do n = n + 1 end
      client:close()
      local m = maps()
      print(cjson.encode{ ok = body ~= nil, err = body == nil and tostring(meta) or nil, events = n,
        libcurl = m.libcurl, curl_module = m.curl_module, loaded = package.loaded["bedrock.curl"] ~= nil })
    ]]):format(CLAUDE, CLAUDE))
    assert.is_true(doc.ok, doc.err)
    assert.is_true(doc.events > 0)
    assert.is_false(doc.loaded)
    assert.is_false(doc.curl_module)
    assert.is_false(doc.libcurl)
  end)

  it("a duplex session loads bedrock.curl, and works", function()
    local doc = child.run({}, MAPS .. client_code(emu) .. [[
      local before = maps()
      local s = client:invoke_model_with_bidirectional_stream{ model_id = "amazon.nova-sonic-v1:0" }
      for i = 1, 2 do assert(s:send{ event = { textInput = { n = i } } }) end
      assert(s:close_input())
      local events = {}
      for ev in s do events[#events + 1] = ev end
      client:close()
      local after = maps()
      print(cjson.encode{ before = before.libcurl, libcurl = after.libcurl, curl_module = after.curl_module,
        events = #events, last = events[#events] })
    ]])
    assert.is_false(doc.before)
    assert.is_true(doc.libcurl)
    assert.is_true(doc.curl_module)
    assert.are.equal(3, doc.events)
    assert.are.same({ sessionEnd = { inputEvents = 2 } }, doc.last)
  end)

  it("a request through http_proxy loads bedrock.curl, and the proxy carries it", function()
    local proxy = require("spec.support.proxy").start()
    local doc = child.run({ http_proxy = proxy.url }, MAPS .. client_code(emu) .. ([[
      local before = maps()
      local body, meta = client:invoke_model{ model_id = %q, body = { messages = {} }, validate = false }
      client:close()
      local after = maps()
      print(cjson.encode{ ok = body ~= nil, err = body == nil and tostring(meta) or nil,
        before = before.libcurl, libcurl = after.libcurl, curl_module = after.curl_module })
    ]]):format(CLAUDE))
    local lines = proxy.lines()
    proxy.stop()
    assert.is_true(doc.ok, doc.err)
    assert.is_false(doc.before)
    assert.is_true(doc.libcurl)
    assert.is_true(doc.curl_module)
    assert.are.equal(1, #lines)
    assert.matches("^POST " .. emu.url:gsub("%p", "%%%0"), lines[1])
    assert.are.equal(1, #emu:requests())
  end)

  it("a process whose engine still holds libcurl at exit ends cleanly", function()
    -- Lua 5.1 and LuaJIT run a C module's unloading finalizer before those of older
    -- userdata: the engine's __gc would call into an unmapped bedrock.curl (a segfault at
    -- exit) had the module not pinned itself
    local script = os.tmpname()
    child.write(script, [[
      local core = require "bedrock.core"
      engine = core.engine()
      transfer = assert(engine:request{ method = "POST", url = "http://127.0.0.1:9/", stream = true, duplex = true })
      engine:pump(10)
      io.stdout:write("left open\n")
    ]])
    local p = assert(io.popen(("LUA_PATH=%s LUA_CPATH=%s %s %s 2>&1; echo \"exit=$?\""):format(
      child.quote(package.path), child.quote(package.cpath), child.lua, child.quote(script))))
    local out = p:read("*a")
    p:close()
    os.remove(script)
    assert.matches("left open\nexit=0\n", out, 1, true)
  end)

  -- Engine:request for a duplex transfer, in a child whose bedrock.curl is `setup` (Lua
  -- code run first); no server is needed: the request fails before any connection.
  local function duplex_request(setup, env)
    return child.run(env or {}, setup .. [[
      local core = require "bedrock.core"
      local e = core.engine()
      local x, err = e:request{ method = "POST", url = "http://127.0.0.1:9/", stream = true, duplex = true }
      if x then x:close() end
      e:close()
      print(cjson.encode{ ok = x ~= nil, err = tostring(err) })
    ]])
  end

  it("a request that needs libcurl, without bedrock.curl installed, fails with require's message", function()
    -- a C path with bedrock.core and bedrock.codec and nothing else of ours
    local dir = child.tmpdir()
    os.execute("mkdir -p " .. child.quote(dir .. "/bedrock"))
    for _, name in ipairs{ "bedrock.core", "bedrock.codec" } do
      os.execute("ln -s " .. child.quote(assert(module_file(name))) .. " "
        .. child.quote(dir .. "/" .. name:gsub("%.", "/") .. ".so"))
    end
    local cjson_dir = assert(module_file("cjson")):match("^(.*)/cjson%.so$")
    local doc = duplex_request("", { LUA_CPATH = dir .. "/?.so;" .. cjson_dir .. "/?.so" })
    child.rmdir(dir)
    assert.is_false(doc.ok)
    assert.matches("this request needs libcurl (bedrock.curl): module 'bedrock.curl' not found", doc.err, 1, true)
  end)

  it("an engine given a backend built from other sources refuses it with a clear error", function()
    -- bedrock.curl modules whose backend is not this core's: a contract of another version,
    -- and one of this version with other struct sizes
    local abi = require("bedrock.curl").abi
    local dir = child.tmpdir()
    local function fake(name, fields)
      os.execute("mkdir -p " .. child.quote(dir .. "/" .. name) .. " && printf '%s' " .. child.quote(
        "#include <stddef.h>\n"
        .. "typedef struct lua_State lua_State;\n"
        .. "void lua_createtable(lua_State *L, int narr, int nrec);\n"
        .. "void lua_pushlightuserdata(lua_State *L, void *p);\n"
        .. "void lua_setfield(lua_State *L, int idx, const char *k);\n"
        .. "static const struct { int abi; size_t xfer_size, options_size, engine_size; const char *name; } fake = { "
        .. fields .. ", \"fake\" };\n"
        .. "int luaopen_bedrock_curl(lua_State *L) { lua_createtable(L, 0, 1);"
        .. " lua_pushlightuserdata(L, (void *)&fake); lua_setfield(L, -2, \"backend\"); return 1; }\n")
        .. " | gcc -shared -fPIC -x c - -o " .. child.quote(dir .. "/" .. name .. "/curl.so"))
      return dir .. "/" .. name .. "/curl.so"
    end
    for _, fields in ipairs{ (abi + 1) .. ", 1, 1, 1", abi .. ", 1, 2, 3" } do
      local so = fake("v" .. fields:gsub("%D", ""), fields)
      local doc = duplex_request(("package.preload['bedrock.curl'] = package.loadlib(%q, 'luaopen_bedrock_curl')\n"):format(so))
      assert.is_false(doc.ok)
      assert.matches("bedrock.curl was built from other sources than bedrock.core", doc.err, 1, true)
    end
    child.rmdir(dir)
    -- and one whose table holds no backend at all
    local doc = duplex_request("package.preload['bedrock.curl'] = function() return { abi = 1 } end\n")
    assert.is_false(doc.ok)
    assert.matches("bedrock.curl gave no backend", doc.err, 1, true)
    -- and one that raises while loading: its message, not a crash
    doc = duplex_request("package.preload['bedrock.curl'] = function() error('no libcurl here', 0) end\n")
    assert.is_false(doc.ok)
    assert.matches("this request needs libcurl (bedrock.curl): no libcurl here", doc.err, 1, true)
  end)
end)
