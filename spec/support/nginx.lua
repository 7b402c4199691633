-- Launcher for Debian's real nginx with lua-nginx-module (libnginx-mod-http-lua),
-- for the specs that run lua-bedrock inside it.
--
--   local nginx = require "spec.support.nginx"
--   nginx.build()                          -- the LuaJIT build of our modules (build/luajit/bedrock/*.so)
--   local srv = nginx.start{ http = "server { listen 127.0.0.1:${PORT}; ... }" }
--   local srv = nginx.start{ conf = full_nginx_conf_text }   -- ${PORT}, ${PREFIX}, ${ROOT} filled in
--   srv.url, srv.port, srv.prefix
--   local status, body, headers = srv:get("/path")
--   srv:stop()
--
-- Each server has its own prefix (a fresh temporary directory), config and 127.0.0.1 port, runs
-- one worker under a master, in the foreground of a shell held by a pipe (io.popen(cmd, "w")):
-- when the pipe closes (stop(), or this process ending however it ends) the shell's `cat` sees
-- EOF and stops nginx (SIGTERM) and waits for it. Plain Lua 5.4, curl and python3 (a free port).
local child = require "spec.support.child"

local nginx = {}

nginx.binary = "/usr/sbin/nginx"
nginx.modules = "/usr/lib/nginx/modules"

local function quote(s) return child.quote(s) end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function sh(cmd)
  local p = assert(io.popen("env -u LD_PRELOAD sh -c " .. quote(cmd) .. " 2>&1"))
  local out = p:read("*a")
  local ok = p:close()
  return ok, out
end

--- The checkout's root (the specs run from it).
nginx.root = (function()
  local p = io.popen("pwd")
  local d = p:read("*l")
  p:close()
  return d
end)()

--- Build the modules for LuaJIT, the Lua of nginx's module (make LUA_VERSION=luajit).
function nginx.build()
  local ok, out = sh("cd " .. quote(nginx.root) .. " && make -s LUA_VERSION=luajit all")
  assert(ok, "make LUA_VERSION=luajit failed:\n" .. out)
end

local function free_port()
  local ok, out = sh([[python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])']])
  assert(ok, "no free port: " .. out)
  return assert(tonumber(out:match("%d+")))
end

--- A complete nginx.conf around `http_body` (the inside of the http block):
-- the two modules, one worker, logs and temporary files under the prefix,
-- lua_package_path at the checkout's lua/ (and the prefix, for handler
-- modules a spec writes there) and lua_package_cpath at the LuaJIT build.
function nginx.conf(http_body, main)
  return table.concat({
    "load_module ${MODULES}/ndk_http_module.so;",
    "load_module ${MODULES}/ngx_http_lua_module.so;",
    "worker_processes 1;",
    "pid ${PREFIX}/logs/nginx.pid;",
    main or "",
    "events { worker_connections 1024; }",
    "http {",
    "  access_log off;",
    "  client_body_temp_path ${PREFIX}/tmp/body;",
    "  proxy_temp_path ${PREFIX}/tmp/proxy;",
    "  fastcgi_temp_path ${PREFIX}/tmp/fastcgi;",
    "  uwsgi_temp_path ${PREFIX}/tmp/uwsgi;",
    "  scgi_temp_path ${PREFIX}/tmp/scgi;",
    '  lua_package_path "${ROOT}/lua/?.lua;${ROOT}/lua/?/init.lua;${PREFIX}/?.lua;;";',
    '  lua_package_cpath "${ROOT}/build/luajit/?.so;;";',
    http_body,
    "}",
    "",
  }, "\n")
end

local Server = {}
Server.__index = Server

--- Start nginx: opts.conf (a whole config) or opts.http (see nginx.conf), opts.main (lines for
-- the main context), opts.files ({ [name] = text } written under the prefix first). ${PORT},
-- ${PREFIX}, ${ROOT}, ${MODULES} and the keys of opts.vars are replaced. Returns once it answers HTTP (at most 10 s).
function nginx.start(opts)
  local last_err
  for _ = 1, 3 do   -- another process may take the free port first: then try another
    local srv, err, busy = nginx.try_start(opts)
    if srv then return srv end
    last_err = err
    if not busy then break end
  end
  error(last_err, 2)
end

function nginx.try_start(opts)
  local prefix = child.tmpdir()
  for _, d in ipairs{ "logs", "tmp" } do assert(os.execute("mkdir -p " .. quote(prefix .. "/" .. d))) end
  local port = free_port()
  local text = opts.conf or nginx.conf(opts.http, opts.main)
  local vars = { PORT = tostring(port), PREFIX = prefix, ROOT = nginx.root, MODULES = nginx.modules }
  for k, v in pairs(opts.vars or {}) do vars[k] = tostring(v) end
  local function fill(s)
    return (s:gsub("%${([%u_]+)}", vars))
  end
  for name, body in pairs(opts.files or {}) do child.write(prefix .. "/" .. name, fill(body)) end
  local conf = prefix .. "/nginx.conf"
  child.write(conf, fill(text))
  local errlog = prefix .. "/logs/error.log"
  -- as root, the master would hand the worker to `nobody`: keep the caller's user
  local user = ""
  local ok, id = sh("id -u")
  if ok and id:match("^0%s") then user = " user root;" end
  local cmd = string.format("env -u LD_PRELOAD %s -p %s -c %s -e %s -g %s & n=$!; cat >/dev/null;"
    .. " kill -TERM $n 2>/dev/null; wait $n",
    nginx.binary, quote(prefix), quote(conf), quote(errlog), quote("daemon off;" .. user))
  local pipe = assert(io.popen(cmd, "w"))
  local self = setmetatable({ pipe = pipe, prefix = prefix, port = port, conf = conf, errlog = errlog,
    url = "http://127.0.0.1:" .. port }, Server)
  local deadline = os.time() + 10
  while true do
    local log = read_file(errlog) or ""
    if log:find("[emerg]", 1, true) then
      self:stop()
      return nil, "nginx did not start:\n" .. log, log:find("Address already in use", 1, true) ~= nil
    end
    local okc, out = sh("curl -s -o /dev/null -w '%{http_code}' --max-time 2 " .. quote(self.url .. "/"))
    if okc or out:match("^%d%d%d$") then
      if out:match("^[1-5]%d%d$") then return self end
    end
    if os.time() > deadline then
      self:stop()
      return nil, "nginx did not answer within 10 s:\n" .. log
    end
    sh("sleep 0.05")
  end
end

--- The error log so far (handlers' errors and warnings land there).
function Server:error_log()
  return read_file(self.errlog) or ""
end

--- GET (or opts.method with opts.body) path with the curl tool: status, body, headers (lowercase names).
function Server:get(path, opts)
  opts = opts or {}
  local hfile = os.tmpname()
  local parts = { "curl -sS --noproxy '*' --max-time", tostring(opts.timeout or 60), "-D", quote(hfile) }
  if opts.method then parts[#parts + 1] = "-X " .. quote(opts.method) end
  if opts.body then parts[#parts + 1] = "--data-binary " .. quote(opts.body) end
  parts[#parts + 1] = "-w '\\n%{http_code}'"
  parts[#parts + 1] = quote(self.url .. path)
  local ok, out = sh(table.concat(parts, " "))
  local head = read_file(hfile) or ""
  os.remove(hfile)
  local body, status = out:match("^(.*)\n(%d%d%d)$")
  assert(ok and status, "curl " .. path .. " failed: " .. out)
  local headers = {}
  for name, value in head:gmatch("([%w%-]+):%s*([^\r\n]*)") do headers[name:lower()] = value end
  return tonumber(status), body, headers
end

--- Stop nginx (SIGTERM, then waits for it) and remove its prefix. Idempotent.
function Server:stop()
  if self.stopped then return end
  self.stopped = true
  if self.pipe then
    self.pipe:close()
    self.pipe = nil
  end
  child.rmdir(self.prefix)
end

Server.__gc = Server.stop
Server.__close = Server.stop

return nginx
