--- The nginx transport: HTTP/1.1 over ngx.socket.tcp, for code running in
-- an nginx worker (OpenResty, or nginx with lua-nginx-module) in a phase
-- with cosockets. Its transfers answer the same questions as the C
-- engine's (state, status, headers, body, next_event, error, close), so the
-- client, its streams, the retry policy and the credential providers run
-- unchanged over it. Waiting on a transfer reads from the socket, which
-- yields the request's coroutine to nginx: the worker serves other requests
-- meanwhile, and a sync bedrock.client never blocks it.
--
-- TLS: sslhandshake with the endpoint's host as SNI and certificate
-- verification always on (nginx's lua_ssl_trusted_certificate is the trust
-- store; ca_file and ca_path are the engine's and do not apply here).
-- Keep-alive: a response read to its end goes back to nginx's connection
-- pool (setkeepalive), one pool per scheme, host and port. Timeouts: the
-- client's connect_timeout (TCP and TLS), read_timeout (each silence) and
-- total_timeout, with the C engine's error codes and phases.
-- Event streams are decoded by the C decoder, fed the bytes as they arrive.
-- Not here: the HTTP/2 bidirectional stream (cosockets speak HTTP/1.1).
-- Also here: bedrock.run / spawn / sleep on ngx.thread (the end of the file).
local ngx_transport = {}

local MAX_BODY = 256 * 1024 * 1024   -- a non-stream body, as the C engine (XFER_MAX_BODY)
local MAX_HEAD = 64 * 1024           -- status line and headers together
local READ_SIZE = 64 * 1024          -- one read of a body without chunks

local codec  -- bedrock.codec (the C event-stream decoder, no libcurl), loaded on first use
local function new_decoder()
  codec = codec or require("bedrock.codec")
  return codec.decoder()
end

local function now()
  ngx.update_time()
  return ngx.now()
end

local Transfer = { __name = "bedrock.ngx.Transfer" }
Transfer.__index = Transfer

local serial = 0

--- Split an absolute http(s) URL: scheme, host (for connect), port, Host
-- header (the port only when not the scheme's default, as the signer signs
-- it), request target. nil, message when it is not one.
local function split_url(url)
  local scheme, authority, rest = url:match("^(%a[%w+.-]*)://([^/?#]*)(.*)$")
  if not scheme then return nil, "the URL must be absolute (scheme://host/path)" end
  scheme = scheme:lower()
  if scheme ~= "http" and scheme ~= "https" then
    return nil, "nginx cosockets speak http and https, not " .. scheme
  end
  if authority:find("@", 1, true) then return nil, "user information in the URL is not supported" end
  local host, port
  if authority:sub(1, 1) == "[" then
    host, port = authority:match("^(%[[^%]]+%]):?(%d*)$")
  else
    host, port = authority:match("^([^:]+):?(%d*)$")
  end
  if not host or host == "" then return nil, "the URL has no host" end
  local default = scheme == "https" and 443 or 80
  port = tonumber(port) or default
  if port < 1 or port > 65535 then return nil, "the URL's port is out of range" end
  local host_header = port == default and host or (host .. ":" .. port)
  rest = rest:gsub("#.*$", "")
  if rest == "" then
    rest = "/"
  elseif rest:sub(1, 1) == "?" then
    rest = "/" .. rest
  end
  return scheme, host, port, host_header, rest
end

--- engine:request(opts) with the C engine's options (method, url,
-- headers = { "Name: value", ... } where "Name:" alone means "do not send",
-- body, stream, connect_timeout_ms, idle_timeout_ms, total_timeout_ms, max_body_bytes;
-- no_proxy means nothing here: cosockets use no proxy):
-- a transfer that starts on its first wait, or nil, message.
local function request(_, o)
  if o.duplex then
    return nil, "InvokeModelWithBidirectionalStream needs HTTP/2, which nginx cosockets do not speak;"
      .. " call it outside nginx"
  end
  local method, url = o.method or "GET", o.url
  if type(url) ~= "string" or type(method) ~= "string" then return nil, "a transfer needs a method and a URL" end
  if url:find("[\r\n%z ]") or method:find("[\r\n%z ]") then return nil, "CR, LF or a space in the method or URL" end
  local scheme, host, port, host_header, target = split_url(url)
  if not scheme then return nil, host end
  local body = o.body or ""
  local head = { method, " ", target, " HTTP/1.1\r\nHost: ", host_header, "\r\n" }
  for _, line in ipairs(o.headers or {}) do
    if line:find("[\r\n%z]") then return nil, "CR or LF in a header value" end
    local name, value = line:match("^([^:]+):%s*(.-)%s*$")
    if not name then return nil, "a header line without a name: " .. line:sub(1, 40) end
    local lname = name:lower()
    -- the transport owns framing and the Host line
    if value ~= "" and lname ~= "host" and lname ~= "content-length" and lname ~= "transfer-encoding"
        and lname ~= "connection" then
      head[#head + 1] = name .. ": " .. value .. "\r\n"
    end
  end
  if body ~= "" or method ~= "GET" then head[#head + 1] = "Content-Length: " .. #body .. "\r\n" end
  head[#head + 1] = "\r\n"
  head[#head + 1] = body
  serial = serial + 1
  local started = now()
  local total = tonumber(o.total_timeout_ms) or 0
  return setmetatable({
    n = serial, method = method, scheme = scheme, host = host, port = port, wire = head,
    stream = o.stream and true or false,
    max_body = tonumber(o.max_body_bytes) or MAX_BODY,   -- max_response_bytes, as the engine takes it
    connect_ms = math.max(1, tonumber(o.connect_timeout_ms) or 30000),
    idle_ms = math.max(1, tonumber(o.idle_timeout_ms) or 30000),
    total_ms = total, deadline = total > 0 and started + total / 1000 or nil,
    started = started, st = "running", step = "connect", code = 0, complete = false,
    head = {}, parts = {}, size = 0, queue = {}, qhead = 1, qtail = 0, pre = "", fpos = 0, sent = 0,
  }, Transfer)
end

ngx_transport.engine = { request = request }

--- Whether x is one of this transport's transfers.
function ngx_transport.owns(x)
  return getmetatable(x) == Transfer
end

-- ----------------------------------------------------------------- failure

local function drop_socket(self)
  if self.sock then
    self.sock:close()
    self.sock = nil
  end
end

local function fail(self, code, detail, sub)
  drop_socket(self)
  self.st = "failed"
  self.err_code, self.err_detail, self.err_sub = code, detail, sub
  self.ended = now()
  return nil
end

--- Arm the socket's timeouts for the next operation: the phase's own limit,
-- or what is left of total_timeout when that is sooner. false when the
-- total has already passed.
local function arm(self, ms)
  self.by_total = false
  if self.deadline then
    local left = math.floor((self.deadline - now()) * 1000)
    if left <= 0 then
      return fail(self, "TimeoutError", string.format("timed out: the transfer took longer than %d ms",
        self.total_ms), "total")
    end
    if left < ms then ms, self.by_total = left, true end
  end
  self.sock:settimeout(ms)
  return true
end

--- The failure of a socket operation (err as cosockets give it). phase:
-- "connect" while the connection is set up, else "read".
local function io_failure(self, err, phase, what)
  if err == "timeout" then
    if self.by_total then
      return fail(self, "TimeoutError", string.format("timed out: the transfer took longer than %d ms",
        self.total_ms), "total")
    end
    if phase == "connect" then
      return fail(self, "TimeoutError", string.format("no connection to %s:%d within %d ms", self.host,
        self.port, self.connect_ms), "connect")
    end
    return fail(self, "TimeoutError", string.format("no data from the server for %d ms", self.idle_ms), "read")
  end
  if err and err:find("no resolver defined", 1, true) then
    err = err .. " (set nginx's resolver directive)"
  end
  return fail(self, "ConnectionError", what .. ": " .. tostring(err))
end

-- ------------------------------------------------------------------ phases

local function connect(self)
  local sock, err = ngx.socket.tcp()
  if not sock then return fail(self, "ConnectionError", "cannot make a socket: " .. tostring(err)) end
  self.sock = sock
  if not arm(self, self.connect_ms) then return false end
  local ok
  ok, err = sock:connect(self.host, self.port,
    { pool = self.scheme .. "://" .. self.host .. ":" .. self.port })
  if not ok then return io_failure(self, err, "connect", "cannot connect to " .. self.host .. ":" .. self.port) end
  if self.scheme == "https" and (sock:getreusedtimes() or 0) == 0 then
    if not arm(self, self.connect_ms) then return false end
    -- verification on, the endpoint's host as SNI and as the name the
    -- certificate must carry
    local host = self.host:gsub("^%[(.*)%]$", "%1")
    local session
    session, err = sock:sslhandshake(nil, host, true)
    if not session then
      if err == "timeout" then return io_failure(self, err, "connect") end
      return fail(self, "TLSError", "TLS certificate verification failed: " .. tostring(err))
    end
  end
  if not arm(self, self.idle_ms) then return false end
  local sent
  sent, err = sock:send(self.wire)
  self.wire = nil
  if not sent then
    return io_failure(self, err, "read", "the connection failed while the request was sent")
  end
  self.sent = 1
  return true
end

local function read_line(self)
  if not arm(self, self.idle_ms) then return nil end
  local line, err = self.sock:receive("*l")
  if not line then
    if err == "closed" and not self.complete then
      return fail(self, "ConnectionError",
        "the connection closed before any reply (the request may have reached the server)")
    end
    return io_failure(self, err, "read", "the connection failed while the response was read")
  end
  self.head_bytes = (self.head_bytes or 0) + #line + 2
  return line
end

local function read_head(self)
  while true do
    local line = read_line(self)
    if not line then return false end
    local major, minor, code = line:match("^HTTP/(%d)%.(%d) (%d%d%d)")
    if not code then
      return fail(self, "ConnectionError", "not an HTTP/1.x response: " .. line:sub(1, 60))
    end
    code = tonumber(code)
    local headers = {}
    while true do
      line = read_line(self)
      if not line then return false end
      if line == "" then break end
      if self.head_bytes > MAX_HEAD then
        return fail(self, "ConnectionError", "the response headers are over " .. MAX_HEAD .. " bytes")
      end
      local name, value = line:match("^([^:%s]+):%s*(.-)%s*$")
      if name then
        name = name:lower()
        local old = headers[name]
        headers[name] = old and (old .. ", " .. value) or value
      end
    end
    if code >= 200 or code == 101 then
      self.code, self.head, self.complete = code, headers, true
      local conn = (headers["connection"] or ""):lower()
      self.keep = not conn:find("close", 1, true) and (major .. "." .. minor) ~= "1.0"
      local te = (headers["transfer-encoding"] or ""):lower()
      if self.method == "HEAD" or code == 204 or code == 304 then
        self.framing, self.left = "length", 0
      elseif te:find("chunked", 1, true) then
        self.framing = "chunked"
      elseif headers["content-length"] then
        local n = tonumber(headers["content-length"]:match("^%d+$") or "")
        if not n then return fail(self, "ConnectionError", "a bad Content-Length: " .. headers["content-length"]:sub(1, 40)) end
        -- a body over the cap fails before it is read, as in the C engine
        if not (self.stream and code >= 200 and code <= 299) and n > self.max_body then
          return fail(self, "ResponseTooLarge", "the response body is too large (Content-Length " .. n .. ")")
        end
        self.framing, self.left = "length", n
      else
        self.framing, self.keep = "close", false
      end
      return true
    end
    -- 1xx (100 Continue): the real status follows
  end
end

--- The next piece of the body: a string, "" at its end, or nil on failure.
local function read_piece(self)
  local sock, data, err, partial = self.sock
  if self.framing == "chunked" then
    if self.left == nil or self.left == 0 then
      if self.left == 0 then
        -- the CRLF after the previous chunk's data
        if not arm(self, self.idle_ms) then return nil end
        data, err = sock:receive(2)
        if data ~= "\r\n" then
          if data then return fail(self, "ConnectionError", "a chunk not followed by CRLF") end
          return io_failure(self, err, "read", "the connection failed inside the response body")
        end
      end
      local line = read_line(self)
      if not line then return nil end
      local size = tonumber(line:match("^%s*(%x+)") or "", 16)
      if not size then return fail(self, "ConnectionError", "a bad chunk size line: " .. line:sub(1, 40)) end
      if size == 0 then
        repeat   -- trailers, up to the empty line
          line = read_line(self)
          if not line then return nil end
        until line == ""
        self.left = nil
        return ""
      end
      self.left = size
    end
    if not arm(self, self.idle_ms) then return nil end
    data, err = sock:receiveany(math.min(self.left, READ_SIZE))
    if not data then
      return io_failure(self, err, "read", "the connection failed inside the response body")
    end
    self.left = self.left - #data
    return data
  elseif self.framing == "length" then
    if self.left == 0 then return "" end
    if not arm(self, self.idle_ms) then return nil end
    data, err = sock:receiveany(math.min(self.left, READ_SIZE))
    if not data then
      return io_failure(self, err, "read", "the connection closed inside the response body")
    end
    self.left = self.left - #data
    return data
  end
  if not arm(self, self.idle_ms) then return nil end
  data, err, partial = sock:receiveany(READ_SIZE)
  if not data then
    if err == "closed" then return partial or "" end   -- a body that ends with the connection
    return io_failure(self, err, "read", "the connection failed inside the response body")
  end
  return data
end

local function finish(self)
  if self.stream and self.decoder and self.code >= 200 and self.code <= 299 then
    local pending = self.decoder:pending()
    if pending > 0 then
      return fail(self, "EventStreamError", string.format(
        "the response ended inside an event-stream frame (%d bytes of it arrived)", pending), "EVS_TRUNCATED")
    end
  end
  if self.keep and self.framing ~= "close" then
    self.sock:setkeepalive()
  else
    self.sock:close()
  end
  self.sock = nil
  self.st = "done"
  self.ended = now()
  return true
end

--- Whether the piece just read (read_piece's result) was the body's last.
local function body_ended(self, data)
  if self.framing == "chunked" then return data == "" and self.left == nil end
  if self.framing == "length" then return self.left == 0 end
  return data == ""
end

-- Feed data to the decoder so that no call holds the end of more than one
-- frame (a frame's first 4 bytes give its length): the messages before a
-- bad frame are queued before its error, as the C engine queues them.
local byte = string.byte
local function feed(self, data)
  local dec, q, tail = self.decoder, self.queue, self.qtail
  local pos, n = 1, #data
  while pos <= n do
    local k
    if not self.flen then
      k = math.min(4 - #self.pre, n - pos + 1)
      self.pre = self.pre .. data:sub(pos, pos + k - 1)
      if #self.pre == 4 then
        local b1, b2, b3, b4 = byte(self.pre, 1, 4)
        self.flen, self.pre = ((b1 * 256 + b2) * 256 + b3) * 256 + b4, ""
      end
    else
      k = math.max(0, math.min(self.flen - self.fpos, n - pos + 1))
    end
    if k > 0 then
      local ok, msgs = pcall(dec.feed, dec, pos == 1 and k == n and data or data:sub(pos, pos + k - 1))
      if not ok then
        self.qtail = tail
        local msg = tostring(msgs)
        local code, text = msg:match("(EVS_[%u_]+): (.*)$")
        return fail(self, "EventStreamError", text or msg, code)
      end
      for i = 1, #msgs do
        tail = tail + 1
        q[tail] = msgs[i]
      end
      pos, self.fpos = pos + k, self.fpos + k
    end
    if self.flen and self.fpos >= self.flen then self.flen, self.fpos = nil, 0 end
  end
  self.qtail = tail
  return true
end

--- Move the transfer on: connect and read the head; then, for an event
-- stream with a 2xx, one piece of the body per call (the events it
-- completes are queued for next_event); any other body is read whole.
-- Every socket operation yields to nginx while it waits.
function Transfer:wait()
  if self.st ~= "running" then return end
  if self.step == "connect" then
    if not connect(self) or not read_head(self) then return end
    self.step = "body"
    if self.stream and self.code >= 200 and self.code <= 299 then
      self.decoder = new_decoder()
      return   -- the caller sees the headers before any event
    end
  end
  if self.decoder then
    local data = read_piece(self)
    if data == nil then return end
    if data ~= "" and not feed(self, data) then return end
    if body_ended(self, data) then finish(self) end
    return
  end
  while true do
    local data = read_piece(self)
    if data == nil then return end
    if data ~= "" then
      self.size = self.size + #data
      if self.size > self.max_body then
        fail(self, "ResponseTooLarge", "the response body is too large")
        return
      end
      self.parts[#self.parts + 1] = data
    end
    if body_ended(self, data) then
      finish(self)
      return
    end
  end
end

-- ------------------------------------------------- what the client reads

function Transfer:id() return self.n end
function Transfer:state() return self.st end
function Transfer:status() return self.code, self.complete end
function Transfer:headers() return self.head end
function Transfer:sends() return self.sent end

function Transfer:body()
  if #self.parts > 1 then self.parts = { table.concat(self.parts) } end
  return self.parts[1] or ""
end

function Transfer:elapsed_ms()
  return ((self.ended or now()) - self.started) * 1000
end

--- code, detail, sub (the timeout's phase, or the event-stream error code)
-- of a failed transfer; nothing otherwise.
function Transfer:error()
  if self.st ~= "failed" then return end
  return self.err_code, self.err_detail, self.err_sub
end

--- The next queued event-stream message, as the C engine's transfer's
-- next_event gives it: "event", type, payload, false | "exception", type,
-- payload | message type, error code, error message | nothing.
function Transfer:next_event()
  local q, i = self.queue, self.qhead
  local m = q[i]
  if not m then return end
  q[i] = nil
  self.qhead = i + 1
  local h = m.headers
  local mt = h[":message-type"]
  if type(mt) ~= "string" or mt == "event" then
    return "event", h[":event-type"], m.payload, false
  end
  if mt == "exception" then return "exception", h[":exception-type"], m.payload end
  return mt, h[":error-code"], h[":error-message"]
end

--- Abort: the connection is closed, not pooled (idempotent).
function Transfer:close()
  drop_socket(self)
  if self.st == "running" then
    self.st = "failed"
    self.err_code, self.err_detail = "Aborted", "the transfer was closed"
    self.ended = now()
  end
  self.decoder = nil
end

-- -------------------------------------------------------------- tasks

-- bedrock.run / bedrock.spawn / bedrock.sleep inside nginx: tasks are
-- ngx.thread light threads of the current request, and waiting is nginx's.
-- What a task returns or raises is kept, so task:wait() works from any
-- task (ngx.thread.wait itself only from the thread that spawned it).

local Task = { __name = "bedrock.task" }
Task.__index = Task

local unpack = table.unpack or unpack
local function pack(...) return { n = select("#", ...), ... } end

local function run_state()
  local ctx = ngx.ctx
  return ctx and rawget(ctx, "bedrock_run")
end

function ngx_transport.spawn(fn, ...)
  if type(fn) ~= "function" then
    error(require("bedrock.errors").invalid("bedrock.spawn needs a function"), 2)
  end
  local S = run_state()
  if not S then
    error(require("bedrock.errors").new{ code = "InvalidParameter",
      message = "bedrock.spawn must run inside bedrock.run (in its function or a task it spawned)" }, 2)
  end
  local t = setmetatable({ done = false }, Task)
  local args = pack(...)
  local th, err = ngx.thread.spawn(function()
    local res = pack(pcall(fn, unpack(args, 1, args.n)))
    if res[1] then t.results = pack(unpack(res, 2, res.n)) else t.err = res[2] end
    t.done = true
  end)
  if not th then error(require("bedrock.errors").invalid("ngx.thread.spawn failed: " .. tostring(err)), 2) end
  t.thread = th
  S.tasks[#S.tasks + 1] = t
  return t
end

-- Until t has ended: the spawning thread waits on the thread itself,
-- others (ngx.thread.wait is the parent's only) poll.
local function settle(t)
  if not t.done and not pcall(ngx.thread.wait, t.thread) then
    while not t.done do ngx.sleep(0.001) end
  end
end

--- Wait for a task: its results, or its error raised here.
function Task:wait()
  self.joined = true
  settle(self)
  if self.err ~= nil then error(self.err, 0) end
  return unpack(self.results, 1, self.results.n)
end

function Task:is_done() return self.done end

function ngx_transport.run(fn, ...)
  if type(fn) ~= "function" then
    error(require("bedrock.errors").invalid("bedrock.run needs a function"), 2)
  end
  local ctx = ngx.ctx
  if rawget(ctx, "bedrock_run") then
    error(require("bedrock.errors").invalid("bedrock.run cannot be nested"), 2)
  end
  local S = { tasks = {} }
  ctx.bedrock_run = S
  local res = pack(pcall(fn, ...))
  -- every task ends before run returns, as with the scheduler (tasks may
  -- spawn more while this loop waits)
  local i = 1
  while i <= #S.tasks do
    settle(S.tasks[i])
    i = i + 1
  end
  ctx.bedrock_run = nil
  if not res[1] then error(res[2], 0) end
  for _, t in ipairs(S.tasks) do
    if t.err ~= nil and not t.joined then error(t.err, 0) end
  end
  return unpack(res, 2, res.n)
end

function ngx_transport.sleep(seconds)
  ngx.sleep(seconds > 0 and seconds or 0)
end

return ngx_transport
