-- The API reference: LDoc (Debian's lua-ldoc) builds it from the sources without a warning,
-- and tools/check_docs.lua finds every public name of the live objects, every config key and
-- every error code documented in it, and no private name.
local child = require "spec.support.child"

local function run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("*a")
  local ok, _, code = p:close()
  return ok, out, code
end

describe("the API reference", function()
  local dir
  setup(function() dir = child.tmpdir() end)
  teardown(function() child.rmdir(dir) end)

  it("builds with LDoc and leaves no public name undocumented", function()
    local ok, out = run("ldoc -d " .. child.quote(dir) .. " .")
    assert.is_true(ok, out)
    for line in out:gmatch("[^\n]+") do
      assert.truthy(line:find("^reading configuration") or line:find("^output written"), "ldoc: " .. line)
    end
    local f = assert(io.open(dir .. "/modules/bedrock.api.client.html"))
    assert.truthy(f:read("*a"):find('<a name = "Client:invoke_model"></a>', 1, true))
    f:close()
    ok, out = run("lua5.4 tools/check_docs.lua " .. child.quote(dir))
    assert.is_true(ok, out)
    local passed, failed = out:match("docs: (%d+) passed, (%d+) failed")
    assert.are.equal("0", failed, out)
    assert.is_true(tonumber(passed) > 300, out)
  end)
end)
