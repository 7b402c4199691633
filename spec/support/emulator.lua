-- Launcher for the local Bedrock Runtime emulator (spec/support/emulator.py).
--
--   local emulator = require "spec.support.emulator"
--   local emu = emulator.start()     -- or emulator.shared(): one instance per process
--   emulator.start{ tls_cert = pem, tls_key = key, tls_ca = ca }  -- https (see start)
--   emulator.start{ tls_cert = pem, tls_key = key, tls_h2 = true } -- https offering ALPN h2 too
--   emu.url, emu.port
--   emu:scenario(model_id, { fail_first = 2, ... })
--   emu:reset()
--   local log = emu:requests()
--   local port = emu:unaccepting()   -- a listener that never accepts (connect timeouts)
--   emu:stop()
--
-- HTTP/2 (InvokeModelWithBidirectionalStream) needs python3-h2: the emulator runs with
-- emulator.python, by default $BEDROCK_EMULATOR_PYTHON, else /usr/bin/python3 (Debian's, which
-- has python3-h2) when it exists, else python3 (the emulator then falls back to Debian's
-- dist-packages for h2 itself). opts.python overrides it; another opts.script runs with python3.
--
-- The emulator runs as `python3 emulator.py --exit-on-stdin-eof` with its stdin
-- on a pipe held by this process (io.popen(cmd, "w")): when this process ends,
-- however it ends, the pipe closes and the emulator exits (it also watches
-- this process's pid, and stop() writes "quit" to the pipe, since children
-- started later inherit the pipe's write end). Control calls go
-- through the curl command-line tool. Plain Lua 5.4 plus lua-cjson.
local cjson = require "cjson"

local emulator = {}

emulator.credentials = {
  access_key_id = "AKIAEMULATOREXAMPLE1",
  secret_access_key = "emulator+secret/EXAMPLEKEY0000000000000",
}
emulator.temporary_credentials = {
  access_key_id = "ASIAEMULATOREXAMPLE2",
  secret_access_key = "emulator+temporary/EXAMPLEKEY00000000000",
  session_token = "emulator-session-token/EXAMPLE+TOKEN==",
}
emulator.bearer_token = "emulator-bedrock-api-key"

local function script_dir()
  local src = debug.getinfo(1, "S").source
  if src:sub(1, 1) ~= "@" then return "." end
  return src:sub(2):match("^(.*)/[^/]*$") or "."
end
emulator.script = script_dir() .. "/emulator.py"

local function executable(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end
emulator.python = os.getenv("BEDROCK_EMULATOR_PYTHON")
  or (executable("/usr/bin/python3") and "/usr/bin/python3") or "python3"

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function sleep(seconds)
  os.execute("sleep " .. seconds)
end

local Emulator = {}
Emulator.__index = Emulator

--- Start a new emulator; returns it once it listens (at most `timeout` s, default 10).
function emulator.start(opts)
  opts = opts or {}
  local base = os.tmpname()       -- reserves a unique name; the emulator writes <base>.port
  local port_file, exit_file = base .. ".port", base .. ".exit"
  local python = opts.python or (opts.script == nil and emulator.python) or "python3"
  -- $PPID (the shell's parent) is this process: the emulator also exits when it has gone, since
  -- children this process starts later inherit the pipe and would keep it from reaching EOF.
  -- After it exits, the shell removes the port file (and the tmpname file) if it had started,
  -- or else leaves its exit status in the exit file for the loop below.
  -- `env -u LD_PRELOAD`: under `make test-asan` the sanitizer runtimes are preloaded for
  -- this process; the emulator is not ours to sanitize (CPython deadlocks with them).
  -- opts.tls_cert / opts.tls_key: serve https (emu.url is then https://127.0.0.1:<port>);
  -- opts.tls_ca: the CA the control calls trust (without it they skip verification).
  -- opts.tls_h2: the TLS listener also offers ALPN h2 (HTTP/2 for the bidirectional stream).
  local tls = ""
  if opts.tls_cert then
    tls = " --tls-cert " .. quote(opts.tls_cert) .. (opts.tls_key and (" --tls-key " .. quote(opts.tls_key)) or "")
      .. (opts.tls_h2 and " --tls-h2" or "")
  elseif opts.tls_h2 then
    error("emulator: tls_h2 needs tls_cert", 2)
  end
  local cmd = string.format("env -u LD_PRELOAD %s %s --port 0 --port-file %s --exit-on-stdin-eof --parent-pid $PPID --quiet%s;"
    .. " s=$?; if [ -e %s ]; then rm -f %s %s; else echo $s > %s; fi",
    python, quote(opts.script or emulator.script), quote(port_file), tls,
    quote(port_file), quote(port_file), quote(base), quote(exit_file))
  local pipe = assert(io.popen(cmd, "w"))
  local self = setmetatable({ pipe = pipe, base = base, port_file = port_file, exit_file = exit_file,
    scheme = opts.tls_cert and "https" or "http", tls_ca = opts.tls_ca }, Emulator)
  local deadline = os.time() + (opts.timeout or 10)
  while true do
    local text = read_file(port_file)
    local port = text and tonumber(text:match("^%s*(%d+)"))
    if port then
      self.port = port
      self.url = self.scheme .. "://127.0.0.1:" .. port
      return self
    end
    local status = read_file(exit_file)
    if status then
      self:stop()
      error("emulator: " .. (opts.script or emulator.script) .. " exited with status " .. status:gsub("%s+$", "")
        .. " before it listened (its stderr is above)", 2)
    end
    if os.time() > deadline then
      self:stop()
      error("emulator: " .. (opts.script or emulator.script) .. " did not listen within " .. (opts.timeout or 10) .. " s", 2)
    end
    sleep(0.02)
  end
end

local shared
--- One emulator for the whole process, started on first use.
function emulator.shared()
  if not shared or shared.stopped then shared = emulator.start() end
  return shared
end

--- A client config for this emulator with its static test keys (region
-- us-east-1, timeout 5 s), the keys of `extra` added or overriding.
function Emulator:config(extra)
  local cfg = { endpoint_url = self.url, region_name = "us-east-1",
    access_key_id = emulator.credentials.access_key_id,
    secret_access_key = emulator.credentials.secret_access_key, timeout = 5 }
  for k, v in pairs(extra or {}) do cfg[k] = v end
  return cfg
end

-- curl <method> <path> [json body] -> status, body (raises on transport failure)
function Emulator:call(method, path, body)
  if self.stopped then error("emulator: already stopped", 3) end
  local data_file
  local parts = { "env -u LD_PRELOAD curl -sS --noproxy '*' --max-time 30 -X", method }
  if self.scheme == "https" then
    parts[#parts + 1] = self.tls_ca and ("--cacert " .. quote(self.tls_ca)) or "--insecure"
  end
  if body then
    data_file = os.tmpname()
    local f = assert(io.open(data_file, "wb"))
    f:write(body)
    f:close()
    parts[#parts + 1] = "-H 'Content-Type: application/json' --data-binary @" .. quote(data_file)
  end
  parts[#parts + 1] = "-w '\\n%{http_code}'"
  parts[#parts + 1] = quote(self.url .. path)
  parts[#parts + 1] = "2>&1"
  local p = assert(io.popen(table.concat(parts, " ")))
  local out = p:read("*a")
  local ok, _, code = p:close()
  if data_file then os.remove(data_file) end
  local resp, status = out:match("^(.*)\n(%d%d%d)$")
  status = tonumber(status)
  if not ok or not status or status == 0 then
    error(string.format("emulator: %s %s failed (curl exit %s): %s", method, path, tostring(code), out), 3)
  end
  if status < 200 or status > 299 then
    error(string.format("emulator: %s %s answered HTTP %d: %s", method, path, status, resp), 3)
  end
  return status, resp
end

--- Set (replace) the scenario of one model id (the decoded id, e.g. "anthropic.claude-...-v1:0").
function Emulator:scenario(model_id, tbl)
  local doc = {}
  for k, v in pairs(tbl or {}) do doc[k] = v end
  doc.model_id = model_id
  self:call("POST", "/__emulator/scenarios", cjson.encode(doc))
end

--- Clear all scenarios, counters and the request log.
function Emulator:reset()
  self:call("DELETE", "/__emulator/scenarios")
end

--- The request log since the last reset: an array of
-- { t, method, path, query, model_id, route, status, auth, headers, body_len, request_id,
--   connection, http_version } (route "bidi_stream" adds input_events, input_ended, input_error,
-- ended; see emulator.py's docstring).
function Emulator:requests()
  local _, body = self:call("GET", "/__emulator/requests")
  return cjson.decode(body)
end

--- The port of a 127.0.0.1 listener that never accepts (connects to it time
-- out); it is closed by the next reset().
function Emulator:unaccepting()
  local _, body = self:call("POST", "/__emulator/unaccepting")
  return require("bedrock.compat").tointeger(cjson.decode(body).port)
end

--- Close the emulator's stdin and wait for it to exit. Idempotent.
function Emulator:stop()
  if self.stopped then return end
  self.stopped = true
  if self.pipe then
    -- "quit" rather than only EOF: other children of this process may hold the pipe open too.
    -- Only while the wrapper shell (which holds the read end) is alive, i.e. before it removes the
    -- port file: writing to a pipe nobody reads would kill this process with SIGPIPE.
    if read_file(self.port_file) then
      self.pipe:write("quit\n")
      self.pipe:flush()
    end
    self.pipe:close()
    self.pipe = nil
  end
  os.remove(self.port_file)
  os.remove(self.exit_file)
  os.remove(self.base)
end

Emulator.__gc = Emulator.stop
Emulator.__close = Emulator.stop

return emulator
