-- Launcher for the small helper servers on 127.0.0.1 (port 0), on a pipe
-- like the emulator, so each exits when this process ends:
-- spec/support/proxy.py (a logging forward proxy) and spec/support/hostile.py
-- (a Bedrock-shaped server that misbehaves on purpose).
--   local p = require("spec.support.proxy").start()   -- or start("--redirect URL")
--   local h = require("spec.support.proxy").hostile()
--   p.port, p.url, p.lines() (one "METHOD target" per request), p.stop()
local emulator = require "spec.support.emulator"

local proxy = {}

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function start(name, args)
  local base = os.tmpname()
  local port_file, log = base .. ".port", base .. ".log"
  local script = emulator.script:gsub("emulator%.py$", name)
  local pipe = assert(io.popen(("env -u LD_PRELOAD python3 %s --port-file %s --log %s --exit-on-stdin-eof %s")
    :format(quote(script), quote(port_file), quote(log), args or ""), "w"))
  local h = { pipe = pipe, log = log }
  for _ = 1, 500 do
    local f = io.open(port_file)
    local port = f and tonumber(f:read("*a"):match("%d+"))
    if f then f:close() end
    if port then h.port = port; break end
    os.execute("sleep 0.02")
  end
  assert(h.port, name .. " did not start")
  h.url = "http://127.0.0.1:" .. h.port
  function h.lines()
    local out, f = {}, io.open(log)
    if f then for l in f:lines() do out[#out + 1] = l end f:close() end
    return out
  end
  function h.stop()
    pipe:write("quit\n"); pipe:flush(); pipe:close()
    os.remove(port_file); os.remove(log); os.remove(base)
  end
  return h
end

function proxy.start(args) return start("proxy.py", args) end
function proxy.hostile() return start("hostile.py") end

return proxy
