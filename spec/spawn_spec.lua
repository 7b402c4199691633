-- core.spawn_shell: the child process credential_process runs in, read
-- without blocking.
local core = require "bedrock.core"

local function finish(p, limit)
  local t0 = core.now()
  local state, how, code = p:poll(0)
  while state == "running" do
    assert(core.now() - t0 < (limit or 10), "the process did not end")
    state, how, code = p:poll(20)
  end
  return how, code
end

describe("core.spawn_shell", function()
  it("runs through /bin/sh with stdin empty, keeping stdout and stderr apart", function()
    local p = assert(core.spawn_shell("read x; echo \"in=[$x]\"; echo oops >&2; printf 'a\\0b'; exit 7"))
    local how, code = finish(p)
    local out, err, cut = p:output()
    p:close()
    assert.are.equal("exit", how)
    assert.are.equal(7, code)
    assert.are.equal("in=[]\na\0b", out)
    assert.are.equal("oops\n", err)
    assert.is_false(cut)
  end)

  it("reports a death by signal, and kill ends the whole process group", function()
    local p = assert(core.spawn_shell("sleep 30 & sleep 30; echo never"))
    assert.are.equal("running", p:poll(50))
    p:kill()
    local how, code = finish(p)
    assert.are.equal("signal", how)
    assert.are.equal(9, code)
    assert.are.equal("", (p:output()))
    p:close()
    p:close()                                   -- twice is fine
  end)

  it("cuts stdout past 1 MiB and says so", function()
    local p = assert(core.spawn_shell("head -c 1200000 /dev/zero"))
    finish(p)
    local out, _, cut = p:output()
    p:close()
    assert.are.equal(1024 * 1024, #out)
    assert.is_true(cut)
  end)

  it("refuses a command with a NUL byte, and a closed process stays closed", function()
    assert.has_error(function() core.spawn_shell("echo a\0b") end)
    local p = assert(core.spawn_shell("sleep 30"))
    p:close()                                   -- kills and reaps a running process
    assert.are.equal("exited", (p:poll(0)))
  end)

  it("is collected without leaving the process behind", function()
    local function running()
      local h = io.popen("env -u LD_PRELOAD pgrep -f '^sleep 31[.]25$' | wc -l")
      local n = tonumber(h:read("*a"))
      h:close()
      return n
    end
    local p = assert(core.spawn_shell("sleep 31.25"))
    p:poll(50)
    assert.are.equal(1, running())
    p = nil   -- luacheck: ignore
    collectgarbage()
    collectgarbage()
    assert.are.equal(0, running())
  end)
end)
