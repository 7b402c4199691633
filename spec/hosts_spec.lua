-- What differs between the Luas the library runs on (5.1, LuaJIT 2.1, 5.3,
-- 5.4), as the README's "Lua versions" section says: each spec asserts the
-- behaviour of the Lua running it.
local bedrock = require "bedrock"
local child = require "spec.support.child"
local emulator = require "spec.support.emulator"

local CLAUDE = "anthropic.claude-3-sonnet-20240229-v1:0"
local BODY = { anthropic_version = "bedrock-2023-05-31", max_tokens = 100,
  messages = { { role = "user", content = "Hello hosts" } } }

local LUAJIT = rawget(_G, "jit") ~= nil
local PUC51 = _VERSION == "Lua 5.1" and not LUAJIT

local module_file = child.module_file

describe("Lua versions", function()
  local emu
  setup(function() emu = emulator.shared() end)
  before_each(function() emu:reset() end)

  it("streams inside bedrock.run with stream:next() on every Lua, and with a for loop where the Lua can yield there", function()
    local client = bedrock.async_client(emu:config())
    local r = bedrock.run(function()
      local out = { next = {}, loop = {} }
      local s = client:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY }
      while true do
        local ev, err = s:next()
        if not ev then out.err = err break end
        out.next[#out.next + 1] = ev.type
      end
      out.loop_ok, out.loop_err = pcall(function()
        for ev in client:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY } do
          out.loop[#out.loop + 1] = ev.type
        end
      end)
      return out
    end)
    assert.is_nil(r.err)
    assert.are.equal("message_start", r.next[1])
    assert.are.equal("message_stop", r.next[#r.next])
    if PUC51 then
      -- PUC 5.1 cannot yield inside pcall: the task gets the clear error, not a hang
      assert.is_false(r.loop_ok)
      assert.matches("attempt to yield across", tostring(r.loop_err), 1, true)
    else
      assert.is_true(r.loop_ok, tostring(r.loop_err))
      assert.are.same(r.next, r.loop)
    end
  end)

  it("explains on PUC 5.1 why a for loop over a stream cannot run in a task, and runs it elsewhere", function()
    local client = bedrock.async_client(emu:config())
    local ok, err = pcall(bedrock.run, function()
      local n = 0
      for _ in client:invoke_model_with_response_stream{ model_id = CLAUDE, body = BODY } do n = n + 1 end
      return n
    end)
    if PUC51 then
      assert.is_false(ok)
      assert.are.equal("InvalidParameter", err.code)
      assert.matches("PUC-Rio Lua 5.1 cannot suspend a task there", err.message, 1, true)
    else
      assert.is_true(ok, tostring(err))
      assert.is_true(err > 2)   -- the count of events
    end
  end)

  it("lets a task of bedrock.run wait inside the credential refresh (a pcall) on every Lua", function()
    -- credential_process prints the emulator's keys once a file appears, which
    -- the other task creates after its calls: it cannot finish unless they ran
    local keys = emulator.credentials
    local dir = child.tmpdir()
    local gate, script = dir .. "/gate", dir .. "/creds.sh"
    child.write(script, "#!/bin/sh\nwhile [ ! -e '" .. gate .. "' ]; do sleep 0.02; done\n"
      .. "echo '{\"Version\": 1, \"AccessKeyId\": \"" .. keys.access_key_id
      .. "\", \"SecretAccessKey\": \"" .. keys.secret_access_key .. "\"}'\n")
    os.execute("chmod +x " .. child.quote(script) .. " && mkdir -p " .. child.quote(dir .. "/.aws"))
    child.write(dir .. "/.aws/config", "[default]\ncredential_process = " .. script .. "\n")
    local r = child.run({ HOME = dir, AWS_CONFIG_FILE = dir .. "/.aws/config",
      AWS_SHARED_CREDENTIALS_FILE = dir .. "/.aws/credentials", AWS_EC2_METADATA_DISABLED = "true" }, [[
      local bedrock = require "bedrock"
      local url, gate = ]] .. string.format("%q, %q", emu.url, gate) .. [[
      local body = { anthropic_version = "bedrock-2023-05-31", max_tokens = 10,
        messages = { { role = "user", content = "hi" } } }
      local model = "anthropic.claude-3-sonnet-20240229-v1:0"
      local order = {}
      local from_process = bedrock.async_client{ region_name = "us-east-1", endpoint_url = url }
      local with_keys = bedrock.async_client{ region_name = "us-east-1", endpoint_url = url,
        access_key_id = "]] .. keys.access_key_id .. [[", secret_access_key = "]] .. keys.secret_access_key .. [[" }
      bedrock.run(function()
        local t = bedrock.spawn(function()
          local b, err = from_process:invoke_model{ model_id = model, body = body }
          order[#order + 1] = b and "process" or ("error " .. tostring(err))
        end)
        for _ = 1, 2 do
          assert(with_keys:invoke_model{ model_id = model, body = body })
          order[#order + 1] = "keys"
        end
        io.open(gate, "w"):close()
        t:wait()
      end)
      print(cjson.encode{ order = order })
    ]])
    child.rmdir(dir)
    assert.are.same({ "keys", "keys", "process" }, r.order)
  end)

  it("names a C module built for another Lua instead of leaving the linker's undefined symbol", function()
    -- an object that needs a Lua API function this Lua lacks, as another
    -- version's build does (lua_newuserdatauv in 5.3, lua_setfenv in 5.4...)
    local dir = child.tmpdir()
    os.execute("mkdir -p " .. child.quote(dir .. "/bedrock") .. " && printf '%s' "
      .. child.quote("void lua_api_of_another_version(void);\n"
        .. "int luaopen_bedrock_codec(void) { lua_api_of_another_version(); return 0; }\n")
      .. " | gcc -shared -fPIC -x c - -o " .. child.quote(dir .. "/bedrock/codec.so"))
    local cjson_dir = assert(module_file("cjson")):match("^(.*)/cjson%.so$")
    local doc = child.run({ LUA_CPATH = dir .. "/?.so;" .. cjson_dir .. "/?.so" }, [[
      local ok, err = pcall(require, "bedrock.sigv4")
      print(cjson.encode{ ok = ok, err = tostring(err) })
    ]])
    child.rmdir(dir)
    assert.is_false(doc.ok)
    assert.matches("bedrock.codec was built for another Lua than " .. (LUAJIT and "LuaJIT" or _VERSION), doc.err, 1, true)
    assert.matches("undefined symbol: lua_api_of_another_version", doc.err, 1, true)
  end)

  it("takes an integral float as an integer on 5.1 and LuaJIT (one number type), not on 5.3+", function()
    local ok, err = pcall(bedrock.client, emu:config{ max_retries = 2.0 })
    if _VERSION == "Lua 5.1" then
      assert.is_true(ok, tostring(err))
      assert.are.equal(2, err.config.max_retries)
    else
      assert.is_false(ok)
      assert.matches("max_retries", tostring(err.message or err))
    end
  end)

  it("refuses to load the C modules into a Lua they were not built for", function()
    if _VERSION == "Lua 5.1" then
      -- the explicit check of 5.1 and LuaJIT builds: the running Lua's _VERSION
      local doc = child.run({}, [[
        _VERSION = "Lua 5.2"
        local ok, err = pcall(require, "bedrock.codec")
        local ok2, err2 = pcall(require, "bedrock.core")
        print(cjson.encode{ ok = ok, err = tostring(err), ok2 = ok2, err2 = tostring(err2) })
      ]])
      assert.is_false(doc.ok)
      assert.matches("this module was built for Lua 5.1, not for Lua 5.2", doc.err, 1, true)
      assert.is_false(doc.ok2)
    else
      -- 5.3 and 5.4 builds call luaL_checkversion (version and number sizes)
      for _, name in ipairs{ "bedrock.codec", "bedrock.core" } do
        local p = assert(io.popen("nm -D --undefined-only " .. child.quote(assert(module_file(name)))))
        local syms = p:read("*a")
        p:close()
        assert.matches("luaL_checkversion_", syms, 1, true)
      end
    end
  end)
end)
