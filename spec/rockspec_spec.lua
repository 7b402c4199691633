-- The rockspecs tell the truth: every Lua file under lua/ is a module of both (and nothing
-- else is), at the path its name says, and the release rockspec builds as the scm one does.
-- a rockspec's fields, read in a table of their own (never the globals: a rockspec sets
-- `package`); 5.1 and LuaJIT take the environment with setfenv
local function load_rockspec(path)
  local env = {}
  local chunk = assert(loadfile(path, "t", env))
  if setfenv then setfenv(chunk, env) end
  chunk()
  return env
end

local function lua_files()
  local files = {}
  local p = assert(io.popen("cd lua && find . -name '*.lua' | sort"))
  for line in p:lines() do files[#files + 1] = line:gsub("^%./", "") end
  p:close()
  return files
end

local function module_name(file)
  return (file:gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", "."))
end

describe("rockspecs", function()
  local scm = load_rockspec("rockspec/lua-bedrock-scm-1.rockspec")
  local release = load_rockspec("rockspec/lua-bedrock-0.1.0-1.rockspec")

  it("name every Lua file under lua/ as its module, and nothing else", function()
    local files = lua_files()
    assert.is_true(#files > 30)
    for _, spec in ipairs{ scm, release } do
      local expected = { ["bedrock.core"] = true, ["bedrock.codec"] = true, ["bedrock.curl"] = true }
      for _, file in ipairs(files) do
        local name = module_name(file)
        expected[name] = true
        assert.are.equal("lua/" .. file, spec.build.modules[name], name .. " in " .. spec.version)
      end
      for name in pairs(spec.build.modules) do
        assert.is_true(expected[name], name .. " names no file under lua/ (" .. spec.version .. ")")
      end
    end
  end)

  it("build bedrock.codec, bedrock.core and bedrock.curl from every C source, libcurl in bedrock.curl alone", function()
    local p = assert(io.popen("ls src/*.c"))
    local sources = {}
    for line in p:lines() do sources[#sources + 1] = line end
    p:close()
    for _, spec in ipairs{ scm, release } do
      local seen, listed = {}, {}
      for _, mod in ipairs{ "bedrock.codec", "bedrock.core", "bedrock.curl" } do
        for _, src in ipairs(spec.build.modules[mod].sources) do
          if not seen[src] then seen[src] = true; listed[#listed + 1] = src end
        end
      end
      table.sort(listed)
      assert.are.same(sources, listed)
      -- only bedrock.curl links libcurl and carries its backend
      for _, mod in ipairs{ "bedrock.codec", "bedrock.core" } do
        for _, lib in ipairs(spec.build.modules[mod].libraries) do assert.are_not.equal("curl", lib, mod) end
        for _, src in ipairs(spec.build.modules[mod].sources) do
          assert.is_nil(({ ["src/curl_backend.c"] = 1, ["src/lcurl.c"] = 1 })[src], mod .. " lists " .. src)
        end
      end
      local curl = spec.build.modules["bedrock.curl"]
      assert.are.same({ "curl", "deflate" }, curl.libraries)   -- the decoder's CRC is libdeflate's
      local has = {}
      for _, src in ipairs(curl.sources) do has[src] = true end
      for _, src in ipairs{ "src/curl_backend.c", "src/lcurl.c", "src/xfer.c", "src/eventstream.c" } do
        assert.is_true(has[src], "bedrock.curl lacks " .. src)
      end
    end
  end)

  it("differ only in version and source: the release points at the tag v0.1.0", function()
    assert.are.equal("0.1.0-1", release.version)
    assert.are.equal("v0.1.0", release.source.tag)
    assert.are.equal(scm.source.url, release.source.url)
    assert.are.same(scm.build, release.build)
    assert.are.same(scm.dependencies, release.dependencies)
    assert.are.same(scm.external_dependencies, release.external_dependencies)
    assert.are.same(scm.description, release.description)
  end)

  it("carry the version the C core reports (bedrock._VERSION)", function()
    assert.are.equal(require("bedrock")._VERSION .. "-1", release.version)
  end)

  it("match the CHANGELOG's latest version and the LICENSE", function()
    local f = assert(io.open("CHANGELOG.md"))
    local changelog = f:read("*a")
    f:close()
    assert.are.equal("0.1.0", changelog:match("\n## (%d+%.%d+%.%d+)"))
    f = assert(io.open("LICENSE"))
    local license = f:read("*a")
    f:close()
    assert.are.equal("Apache-2.0", release.description.license)
    assert.truthy(license:find("Apache License\n%s+Version 2.0, January 2004"))
    assert.truthy(license:find("END OF TERMS AND CONDITIONS", 1, true))
  end)
end)
