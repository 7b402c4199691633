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
  it("with stdin = true, takes input through :write and gives stdout back line by line", function()
    local p = assert(core.spawn_shell("while read -r l; do echo \"got:$l\"; done; echo bye", { stdin = true }))
    assert.are.equal(9, p:write("one\ntwo\r\n"))
    local lines = {}
    local t0 = core.now()
    while #lines < 2 do
      assert(core.now() - t0 < 10, "no output")
      p:poll(20)
      local l = p:read_line()
      while l do lines[#lines + 1] = l; l = p:read_line() end
    end
    assert.are.same({ "got:one", "got:two" }, lines)   -- a CR before the newline goes too
    assert.is_nil(p:read_line())                       -- nothing half-read is handed out
    p:close_stdin()
    assert.are.same({ "exit", 0 }, { finish(p) })
    assert.are.equal("bye", p:read_line())
    local ok, err = p:write("late")
    assert.is_nil(ok)
    assert.are.equal("stdin is closed", err)
    p:close()
  end)

  it("a write to a child that has gone fails with an error, not SIGPIPE", function()
    local p = assert(core.spawn_shell("exit 3", { stdin = true }))
    assert.are.same({ "exit", 3 }, { finish(p) })
    local ok, err = p:write(string.rep("x", 200000))
    assert.is_nil(ok)
    assert.matches("pipe", err)
    p:close()
  end)
  it("with stdin = true, keeps the latest stderr of a chatty child", function()
    local p = assert(core.spawn_shell("head -c 300000 /dev/zero | tr '\\0' x >&2; echo THE-END >&2", { stdin = true }))
    finish(p)
    local _, err = p:output()
    p:close()
    assert.is_true(#err <= 64 * 1024)
    assert.are.equal("xxTHE-END\n", err:sub(-10))
  end)
end)
