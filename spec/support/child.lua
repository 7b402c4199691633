-- Run Lua code in a child Lua (the interpreter running the suite: lua5.4,
-- lua5.3, lua5.1 or luajit) with a chosen environment: the only way a spec
-- can test what the library reads from environment variables.
local cjson = require "cjson"

local child = {}

--- The command of the interpreter running this suite
child.lua = rawget(_G, "jit") and "luajit" or "lua" .. _VERSION:match("%d+%.%d+")

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
child.quote = shell_quote

--- os.execute as 5.2+ answers it, on every Lua: true | nil, "exit" | "signal", code
-- (5.1 and LuaJIT return system()'s raw wait status)
function child.execute(cmd)
  local a, b, c = os.execute(cmd)
  if type(a) ~= "number" then return a, b, c end
  if a % 256 == 0 then
    local code = math.floor(a / 256)
    if code == 0 then return true, "exit", 0 end
    return nil, "exit", code
  end
  return nil, "signal", a % 128
end

-- Under `make test-asan` the child Lua runs with the sanitizer preload, as
-- this process does; the commands it starts do not (curl and pgrep hang
-- under it).
local SANITIZED_PRELUDE = [[
local execute, popen = os.execute, io.popen
local function unpreloaded(cmd) return "env -u LD_PRELOAD sh -c '" .. cmd:gsub("'", "'\\''") .. "'" end
os.execute = function(cmd) if cmd == nil then return execute() end return execute(unpreloaded(cmd)) end
io.popen = function(cmd, mode) return popen(unpreloaded(cmd), mode) end
]]

--- Run `code` (which should print one JSON document) with exactly `env`
-- (plus PATH, LUA_PATH, LUA_CPATH, and under `make test-asan` the sanitizer
-- preload and options: the child loads the same sanitized modules). Returns
-- the decoded JSON. `shell`: a shell command run first, in the same shell (e.g. "ulimit -n 64").
function child.run(env, code, shell)
  local parts = { shell and (shell .. " && env -i") or "env -i" }
  local keep = { PATH = os.getenv("PATH"), LUA_PATH = package.path, LUA_CPATH = package.cpath,
    LD_PRELOAD = os.getenv("LD_PRELOAD"), ASAN_OPTIONS = os.getenv("ASAN_OPTIONS"),
    UBSAN_OPTIONS = os.getenv("UBSAN_OPTIONS") }
  for k, v in pairs(keep) do parts[#parts + 1] = k .. "=" .. shell_quote(v) end
  for k, v in pairs(env or {}) do parts[#parts + 1] = k .. "=" .. shell_quote(v) end
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write(os.getenv("LD_PRELOAD") and SANITIZED_PRELUDE or "", "local cjson = require 'cjson'\n", code)
  f:close()
  parts[#parts + 1] = child.lua .. " " .. shell_quote(script) .. " 2>&1"
  local p = assert(io.popen(table.concat(parts, " ")))
  local out = p:read("*a")
  p:close()
  os.remove(script)
  local ok, doc = pcall(cjson.decode, out)
  if not ok then error("child printed no JSON:\n" .. out, 2) end
  return doc
end

--- A fresh temporary directory (removed by the caller with child.rmdir).
function child.tmpdir()
  local p = assert(io.popen("mktemp -d"))
  local dir = p:read("*l")
  p:close()
  return dir
end

function child.write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

function child.rmdir(dir)
  if dir and dir:match("^/tmp/") then os.execute("rm -rf " .. shell_quote(dir)) end
end

--- The file require would load for the C module name, from package.cpath
-- (5.1 has no package.searchpath); nil when none is there.
function child.module_file(name)
  local rel = name:gsub("%.", "/")
  for template in package.cpath:gmatch("[^;]+") do
    local path = template:gsub("%?", rel)
    local f = io.open(path, "rb")
    if f then f:close() return path end
  end
end

return child
