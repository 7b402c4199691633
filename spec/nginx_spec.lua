-- lua-bedrock inside Debian's real nginx (libnginx-mod-http-lua, OpenResty's luajit2): the
-- handlers below call the emulator through the cosocket transport (bedrock.transport.ngx),
-- and this spec checks what an HTTP client of that nginx sees, plus the emulator's request log.
-- nginx runs with its own prefix, config and 127.0.0.1 port, one worker, and is stopped in
-- teardown (spec/support/nginx.lua).
local cjson = require "cjson"
local emulator = require "spec.support.emulator"
local nginx = require "spec.support.nginx"
local child = require "spec.support.child"
local fakes = require "spec.support.fakes"

local CLAUDE = "anthropic.claude-3-sonnet-20240229-v1:0"

-- The handlers: one module, loaded in init_by_lua (so its sync client is made before the
-- worker forks, outside any cosocket phase) and used by every location.
local APP = [=[
local bedrock = require "bedrock"
local cjson = require "cjson"

local app = {}

local function config(extra)
  local cfg = { endpoint_url = "${EMU}", region_name = "us-east-1",
    access_key_id = "AKIAEMULATOREXAMPLE1", secret_access_key = "emulator+secret/EXAMPLEKEY0000000000000",
    timeout = 10 }
  for k, v in pairs(extra or {}) do cfg[k] = v end
  return cfg
end

-- one sync client per worker, shared by every request it serves
local client = bedrock.client(config())
local down = bedrock.client(config{ endpoint_url = "http://127.0.0.1:${DOWN_PORT}", max_retries = 0 })
-- a host name, and no resolver directive in this nginx.conf
local unresolved = bedrock.client(config{ endpoint_url = "http://bedrock-runtime.invalid", max_retries = 0 })

local function body(text)
  return { anthropic_version = "bedrock-2023-05-31", max_tokens = 50,
    messages = { { role = "user", content = text or "Hello from nginx" } } }
end

-- An error object as an HTTP reply: the service's status, 502 for a transport failure, 504
-- for a timeout.
local function fail(err)
  ngx.status = err.status or (err.code == "TimeoutError" and 504) or 502
  ngx.header["Content-Type"] = "application/json"
  ngx.say(cjson.encode{ code = err.code, message = err.message, attempts = err.attempts,
    retryable = err.retryable, phase = err.phase, reason = err.reason })
end

-- read_timeout 1 s, no retry; total_timeout 1 s
local impatient = bedrock.client(config{ read_timeout = 1, max_retries = 0 })
local hurried = bedrock.client(config{ total_timeout = 1 })
-- keys from a credential_process that takes a second (the profile in nginx.conf's env)
local processed = bedrock.client{ endpoint_url = "${EMU}", region_name = "us-east-1", timeout = 10,
  profile_name = "slow-process" }
-- no keys: the credential chain ends at IMDS (its endpoint in nginx.conf's env)
local chained = bedrock.client{ endpoint_url = "${EMU}", region_name = "us-east-1", timeout = 10 }

function app.invoke()
  local c = ngx.var.arg_down and down or ngx.var.arg_unresolved and unresolved
    or ngx.var.arg_impatient and impatient or ngx.var.arg_hurried and hurried
    or ngx.var.arg_chain and chained or ngx.var.arg_process and processed or client
  local reply, meta = c:invoke_model{ model_id = ngx.var.arg_model or "${CLAUDE}", body = body() }
  if not reply then return fail(meta) end
  ngx.header["Content-Type"] = "application/json"
  ngx.say(cjson.encode{ text = reply.content[1].text, attempts = meta.attempts,
    request_id = meta.request_id, pid = ngx.worker.pid(), transport = require("bedrock.transport").kind(),
    credentials = c:credentials_source() })
end

-- A response stream relayed as server-sent events, each event flushed as it arrives.
function app.sse()
  local stream = client:invoke_model_with_response_stream{ model_id = ngx.var.arg_model or "${CLAUDE}",
    body = body() }
  local ev, err = stream:next()
  if err then return fail(err) end
  ngx.header["Content-Type"] = "text/event-stream"
  ngx.header["Cache-Control"] = "no-cache"
  while ev do
    ngx.print("data: ", cjson.encode(ev), "\n\n")
    ngx.flush(true)
    ev, err = stream:next()
  end
  if err then
    ngx.print("event: error\ndata: ", cjson.encode{ code = err.code, message = err.message,
      reason = err.reason }, "\n\n")
  else
    ngx.print("event: done\ndata: {}\n\n")
  end
end

-- converse_stream: the text of its contentBlockDelta events, and the usage of its metadata event
function app.converse_stream()
  local text, usage = {}, nil
  for ev in client:converse_stream{ model_id = "${CLAUDE}",
      messages = { { role = "user", content = { { text = "Converse in nginx" } } } } } do
    if ev.type == "contentBlockDelta" and ev.delta.text then text[#text + 1] = ev.delta.text end
    if ev.type == "metadata" then usage = ev.usage end
  end
  ngx.say(cjson.encode{ text = table.concat(text), usage = usage })
end

-- The async client inside nginx: bedrock.run and bedrock.spawn are ngx.thread threads.
local aclient = bedrock.async_client(config())
function app.run()
  local texts = bedrock.run(function()
    local tasks = {}
    for i = 1, 3 do
      tasks[i] = bedrock.spawn(function()
        local reply, err = aclient:invoke_model{ model_id = ngx.var.arg_model, body = body("task " .. i) }
        if not reply then error(err) end
        return reply.content[1].text
      end)
    end
    local out = {}
    for i = 1, 3 do out[i] = tasks[i]:wait() end
    return out
  end)
  ngx.say(cjson.encode(texts))
end

-- The bidirectional stream needs HTTP/2: refused inside nginx, with a clear error.
function app.bidi()
  local session = client:invoke_model_with_bidirectional_stream{ model_id = "amazon.nova-sonic-v1:0" }
  local ok, err = session:send{ event = { sessionStart = {} } }
  session:close()
  ngx.say(cjson.encode{ ok = ok or false, code = err and err.code, message = err and err.message })
end

-- A task that fails and is never waited for: bedrock.run raises its error once every task ended.
function app.run_failing()
  local finished = false
  local ok, err = pcall(bedrock.run, function()
    bedrock.spawn(function() error(bedrock.errors.invalid("task failed")) end)
    bedrock.spawn(function() bedrock.sleep(0.2); finished = true end)
  end)
  ngx.say(cjson.encode{ ok = ok, code = bedrock.is_error(err) and err.code, message = err and err.message,
    finished = finished })
end

-- https to the emulator: verified against ${CA} where lua_ssl_trusted_certificate names it
local tls_client = bedrock.client(config{ endpoint_url = "${TLS_EMU}", max_retries = 0 })
function app.tls()
  local reply, meta = tls_client:invoke_model{ model_id = "${CLAUDE}", body = body("over TLS") }
  if not reply then return fail(meta) end
  ngx.say(cjson.encode{ text = reply.content[1].text })
end

return app
]=]

local HTTP = [[
  init_by_lua_block { require "app" }
  server {
    listen 127.0.0.1:${PORT};
    location = / { return 200 "up\n"; }
    location = /invoke { content_by_lua_block { require("app").invoke() } }
    location = /sse { content_by_lua_block { require("app").sse() } }
    location = /run { content_by_lua_block { require("app").run() } }
    location = /run-failing { content_by_lua_block { require("app").run_failing() } }
    location = /bidi { content_by_lua_block { require("app").bidi() } }
    location = /converse-stream { content_by_lua_block { require("app").converse_stream() } }
    location = /tls-untrusted { content_by_lua_block { require("app").tls() } }
  }
  server {
    listen 127.0.0.1:${PORT} ;
    server_name trusted.test;
    lua_ssl_trusted_certificate ${CA};
    location = /tls { content_by_lua_block { require("app").tls() } }
  }
]]

-- Reads a server-sent-events response, printing the time each data line arrived.
local SSE_CLIENT = [[
import sys, time, http.client, json
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
t0 = time.monotonic()
c.request("GET", sys.argv[2])
r = c.getresponse()
out = {"status": r.status, "content_type": r.getheader("Content-Type"), "events": []}
while True:
    line = r.readline()
    if not line:
        break
    line = line.decode().rstrip("\r\n")
    if line.startswith("data: ") or line.startswith("event: "):
        out["events"].append([time.monotonic() - t0, line])
print(json.dumps(out))
]]

local function sh(cmd)
  local p = assert(io.popen("env -u LD_PRELOAD sh -c " .. child.quote(cmd) .. " 2>&1"))
  local out = p:read("*a")
  local ok = p:close()
  assert(ok, "command failed: " .. cmd .. "\n" .. out)
  return out
end

-- A throwaway CA and a certificate for 127.0.0.1 (CN and IP SAN) signed by it.
local function make_pki(dir)
  local ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
  sh(("cd %s && openssl req -x509 %s -keyout ca.key -out ca.pem -days 2 -subj '/CN=lua-bedrock nginx test CA'"
    .. " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign")
    :format(child.quote(dir), ec))
  child.write(dir .. "/server.ext", "subjectAltName = IP:127.0.0.1\nbasicConstraints = CA:FALSE\n"
    .. "keyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\n")
  sh(("cd %s && openssl req %s -keyout server.key -out server.csr -subj /CN=127.0.0.1"
    .. " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
    .. " -out server.pem -days 2 -extfile server.ext"):format(child.quote(dir), ec))
end

local function by_model(log, model)
  local out = {}
  for _, e in ipairs(log) do
    if e.model_id == model then out[#out + 1] = e end
  end
  return out
end

describe("inside nginx #nginx (lua-nginx-module, cosockets)", function()
  local emu, tls_emu, srv, pki, fake

  setup(function()
    nginx.build()
    emu = emulator.start()
    fake = fakes.start()
    -- the container endpoint hands out the emulator's temporary keys
    fake:set{ creds = { { AccessKeyId = emulator.temporary_credentials.access_key_id,
      SecretAccessKey = emulator.temporary_credentials.secret_access_key,
      Token = emulator.temporary_credentials.session_token } } }
    pki = child.tmpdir()
    make_pki(pki)
    tls_emu = emulator.start{ tls_cert = pki .. "/server.pem", tls_key = pki .. "/server.key",
      tls_ca = pki .. "/ca.pem" }
    local t = emulator.temporary_credentials
    srv = nginx.start{ http = HTTP, files = { ["app.lua"] = APP,
        ["aws_config"] = "[profile slow-process]\ncredential_process = sh ${PREFIX}/creds.sh\n",
        ["creds.sh"] = "sleep 1\nprintf '%s' '" .. cjson.encode{ Version = 1, AccessKeyId = t.access_key_id,
          SecretAccessKey = t.secret_access_key, SessionToken = t.session_token } .. "'\n" },
      main = "env AWS_EC2_METADATA_SERVICE_ENDPOINT=" .. fake.url .. ";\n"
        .. "env AWS_CONFIG_FILE=${PREFIX}/aws_config;",
      vars = { EMU = emu.url, TLS_EMU = tls_emu.url, CA = pki .. "/ca.pem", CLAUDE = CLAUDE,
        DOWN_PORT = 1 } }
  end)

  teardown(function()
    if srv then srv:stop() end
    if emu then emu:stop() end
    if tls_emu then tls_emu:stop() end
    if fake then fake:stop() end
    child.rmdir(pki)
  end)

  before_each(function() emu:reset() end)

  -- what nginx logged at error level while the test ran (a handler's raise lands there)
  local function no_lua_errors()
    local log = srv:error_log()
    assert.is_nil(log:match("[^\n]*lua entry thread aborted[^\n]*"))
    assert.is_nil(log:match("[^\n]*runtime error[^\n]*"))
  end

  it("runs invoke_model in a handler, over a pooled keep-alive connection", function()
    local status, body, headers = srv:get("/invoke")
    assert.are.equal(200, status, body)
    assert.matches("application/json", headers["content-type"])
    local doc = cjson.decode(body)
    assert.are.equal("You said: Hello from nginx", doc.text)
    assert.are.equal(1, doc.attempts)
    assert.are.equal("ngx", doc.transport)
    -- a second request from the same worker takes the pooled connection (setkeepalive)
    status = srv:get("/invoke")
    assert.are.equal(200, status)
    local log = by_model(emu:requests(), CLAUDE)
    assert.are.equal(2, #log)
    assert.are.equal("sigv4", log[1].auth)
    assert.are.equal(doc.request_id, log[1].request_id)
    assert.are.equal(log[1].connection, log[2].connection)
    no_lua_errors()
  end)

  it("runs converse_stream", function()
    local status, body = srv:get("/converse-stream")
    assert.are.equal(200, status, body)
    local doc = cjson.decode(body)
    assert.are.equal("You said: Converse in nginx", doc.text)
    assert.is_number(doc.usage.inputTokens)
    assert.are.equal("converse_stream", emu:requests()[1].route)
    no_lua_errors()
  end)

  it("relays a response stream as server-sent events, each event as it arrives", function()
    local model = "anthropic.claude-3-haiku-20240307-v1:0"
    local delay = 250
    emu:scenario(model, { text = "one two three four five", deltas = 5, event_delay_ms = delay })
    local script = os.tmpname()
    child.write(script, SSE_CLIENT)
    local out = sh("python3 " .. child.quote(script) .. " " .. srv.port .. " "
      .. child.quote("/sse?model=" .. model))
    os.remove(script)
    local doc = cjson.decode(out)
    assert.are.equal(200, doc.status)
    assert.matches("^text/event%-stream", doc.content_type)
    local events, text = {}, {}
    for _, e in ipairs(doc.events) do
      if e[2]:match("^data: ") and not e[2]:match("^data: {}$") then
        local ev = cjson.decode(e[2]:sub(7))
        events[#events + 1] = { t = e[1], ev = ev }
        if ev.type == "content_block_delta" then text[#text + 1] = ev.delta.text end
      end
    end
    assert.are.equal("event: done", doc.events[#doc.events - 1][2])
    assert.are.equal("message_start", events[1].ev.type)
    assert.are.equal("message_stop", events[#events].ev.type)
    assert.are.equal("one two three four five", table.concat(text))
    -- the emulator waits `delay` ms before each event after the first: had nginx buffered the
    -- reply, every event would reach the client at once; relayed, the first arrives at least
    -- (n - 1) * delay before the last was even sent
    local n = #events
    assert.is_true(n >= 7, "events: " .. n)
    assert.is_true(events[n].t - events[1].t >= (n - 1) * delay / 1000 * 0.8,
      string.format("first event at %.3f s, last at %.3f s", events[1].t, events[n].t))
    no_lua_errors()
  end)

  it("serves 50 concurrent requests in one worker at once", function()
    local model = "anthropic.claude-3-5-sonnet-20240620-v1:0"
    local delay_ms = 2000
    emu:scenario(model, { delay_ms = delay_ms })
    local url = srv.url .. "/invoke?model=" .. model
    local urls = {}
    for i = 1, 50 do urls[i] = child.quote(url .. "&n=" .. i) end
    local out = sh("curl -sS --no-progress-meter --noproxy '*' --max-time 60 --parallel --parallel-immediate --parallel-max 50 "
      .. table.concat(urls, " "))
    local pids, n = {}, 0
    for line in out:gmatch("[^\n]+") do
      local ok, doc = pcall(cjson.decode, line)
      assert(ok and type(doc) == "table", "not a JSON reply: " .. line)
      assert.is_string(doc.text, line)
      pids[doc.pid] = true
      n = n + 1
    end
    assert.are.equal(50, n)
    local workers = 0
    for _ in pairs(pids) do workers = workers + 1 end
    assert.are.equal(1, workers)
    -- the emulator holds each request delay_ms before answering: all 50 reached it within one
    -- such wait, each on its own connection (an HTTP/1.1 connection carries one request at a
    -- time, and the pool would have reused one for requests made one after another)
    local log = by_model(emu:requests(), model)
    assert.are.equal(50, #log)
    local first, last, conns, distinct = math.huge, -math.huge, {}, 0
    for _, e in ipairs(log) do
      first, last = math.min(first, e.t), math.max(last, e.t)
      if not conns[e.connection] then conns[e.connection] = true; distinct = distinct + 1 end
    end
    assert.are.equal(50, distinct)
    assert.is_true(last - first < delay_ms / 1000, string.format("arrivals spread over %.3f s", last - first))
    no_lua_errors()
  end)

  it("maps an error to an HTTP status", function()
    local model = "anthropic.claude-v2"
    emu:scenario(model, { fail_first = 5, fail_code = "AccessDeniedException",
      fail_message = "You don't have access to the model" })
    local status, body = srv:get("/invoke?model=" .. model)
    assert.are.equal(403, status, body)
    local doc = cjson.decode(body)
    assert.are.equal("AccessDeniedException", doc.code)
    assert.are.equal("You don't have access to the model", doc.message)
    assert.are.equal(1, doc.attempts)
    assert.is_false(doc.retryable)
    -- a stream that fails before its first event: the same mapping
    status, body = srv:get("/sse?model=" .. model)
    assert.are.equal(403, status, body)
    -- nothing listening: ConnectionError, 502
    status, body = srv:get("/invoke?down=1")
    assert.are.equal(502, status, body)
    assert.are.equal("ConnectionError", cjson.decode(body).code)
    -- a host name without nginx's resolver: ConnectionError saying so
    status, body = srv:get("/invoke?unresolved=1")
    assert.are.equal(502, status, body)
    doc = cjson.decode(body)
    assert.are.equal("ConnectionError", doc.code)
    assert.matches("no resolver defined", doc.message, 1, true)
    assert.matches("set nginx's resolver directive", doc.message, 1, true)
    no_lua_errors()
  end)

  it("retries after a scripted throttle", function()
    local model = "anthropic.claude-instant-v1"
    emu:scenario(model, { fail_first = 2 })   -- two ThrottlingException (429) replies first
    local status, body = srv:get("/invoke?model=" .. model)
    assert.are.equal(200, status, body)
    local doc = cjson.decode(body)
    assert.are.equal(3, doc.attempts)
    local log = by_model(emu:requests(), model)
    assert.are.equal(3, #log)
    assert.are.same({ 429, 429, 200 }, { log[1].status, log[2].status, log[3].status })
    no_lua_errors()
  end)

  it("maps a read timeout to 504, and a stream that fails midway to an error event", function()
    local model = "anthropic.claude-3-5-haiku-20241022-v1:0"
    emu:scenario(model, { delay_ms = 3000 })
    local status, body = srv:get("/invoke?impatient=1&model=" .. model)
    assert.are.equal(504, status, body)
    local doc = cjson.decode(body)
    assert.are.equal("TimeoutError", doc.code)
    assert.are.equal("read", doc.phase)
    assert.are.equal("no data from the server for 1000 ms", doc.message)
    status, body = srv:get("/invoke?hurried=1&model=" .. model)
    assert.are.equal(504, status, body)
    doc = cjson.decode(body)
    assert.are.equal("TimeoutError", doc.code)
    assert.are.equal("total", doc.phase)
    -- a reset after two events: they are relayed, then the error, never a quiet end
    emu:scenario(model, { reset_after_events = 2 })
    status, body = srv:get("/sse?model=" .. model)
    assert.are.equal(200, status, body)
    local relayed = 0
    for line in body:gmatch("[^\n]+") do
      local data = line:match("^data: ({.*})$")
      if data and cjson.decode(data).type then relayed = relayed + 1 end
    end
    assert.are.equal(2, relayed, body)
    local err = cjson.decode((assert(body:match("event: error\ndata: (%b{})"), body)))
    assert.are.equal("ConnectionError", err.code)
    assert.is_nil(body:find("event: done", 1, true))
    -- a corrupt CRC after one event: EventStreamError from the C decoder
    emu:scenario(model, { corrupt_crc_after_events = 1 })
    status, body = srv:get("/sse?model=" .. model)
    assert.are.equal(200, status, body)
    err = cjson.decode((assert(body:match("event: error\ndata: (%b{})"), body)))
    assert.are.equal("EventStreamError", err.code)
    assert.are.equal("EVS_MESSAGE_CRC", err.reason)
    no_lua_errors()
  end)

  it("fetches credentials from IMDS over cosockets, once for concurrent requests", function()
    fake:reset()
    fake:set{ imds_delay_ms = 300, creds = { { AccessKeyId = emulator.temporary_credentials.access_key_id,
      SecretAccessKey = emulator.temporary_credentials.secret_access_key,
      Token = emulator.temporary_credentials.session_token } } }
    local urls = {}
    for i = 1, 10 do urls[i] = child.quote(srv.url .. "/invoke?chain=1&n=" .. i) end
    local out = sh("curl -sS --no-progress-meter --noproxy '*' --max-time 60 --parallel --parallel-immediate "
      .. "--parallel-max 10 " .. table.concat(urls, " "))
    local n = 0
    for line in out:gmatch("[^\n]+") do
      local ok, doc = pcall(cjson.decode, line)
      assert(ok and type(doc) == "table" and doc.text, "not a reply: " .. line)
      assert.are.equal("imds", doc.credentials)
      n = n + 1
    end
    assert.are.equal(10, n)
    -- one token, one role name, one set of keys: the other nine requests waited for that refresh
    local paths = {}
    for _, e in ipairs(fake:requests()) do paths[#paths + 1] = e.method .. " " .. e.path end
    assert.are.same({ "PUT /latest/api/token", "GET /latest/meta-data/iam/security-credentials/",
      "GET /latest/meta-data/iam/security-credentials/fake-role" }, paths)
    local log = by_model(emu:requests(), CLAUDE)
    assert.are.equal(10, #log)
    assert.are.equal("sigv4", log[1].auth)
    no_lua_errors()
  end)

  it("refuses a credential_process's output (nginx reaps it) without blocking the worker meanwhile", function()
    local model = "anthropic.claude-3-haiku-20240307-v1:0"
    -- the process sleeps 1 s; a plain request made meanwhile is answered first (curl --parallel
    -- prints each reply as it completes): the worker polls the process between ngx.sleep calls
    local out = sh("curl -sS --no-progress-meter --noproxy '*' --max-time 60 --parallel --parallel-immediate "
      .. child.quote(srv.url .. "/invoke?process=1") .. " "
      .. "--next -sS --no-progress-meter --noproxy '*' " .. child.quote(srv.url .. "/invoke?model=" .. model))
    local replies = {}
    for line in out:gmatch("[^\n]+") do
      local ok, doc = pcall(cjson.decode, line)
      assert(ok and type(doc) == "table", "not JSON: " .. line)
      replies[#replies + 1] = doc
    end
    assert.are.equal(2, #replies, out)
    assert.are.equal("explicit", replies[1].credentials)
    assert.are.equal("CredentialsError", replies[2].code)
    assert.matches("credential_process of profile 'slow-process': its exit status is unknown", replies[2].message, 1, true)
    no_lua_errors()
  end)

  it("runs bedrock.run and bedrock.spawn as ngx.thread threads", function()
    local model = "anthropic.claude-3-opus-20240229-v1:0"
    emu:scenario(model, { delay_ms = 500 })
    local status, body = srv:get("/run?model=" .. model)
    assert.are.equal(200, status, body)
    local texts = cjson.decode(body)
    assert.are.equal(3, #texts)
    assert.matches("task 1", texts[1])
    assert.matches("task 3", texts[3])
    -- the three calls were in flight together: three connections
    local log = by_model(emu:requests(), model)
    assert.are.equal(3, #log)
    assert.are_not.equal(log[1].connection, log[2].connection)
    assert.are_not.equal(log[2].connection, log[3].connection)
    -- an error nobody waited for is raised by run, after the other task finished
    status, body = srv:get("/run-failing")
    assert.are.equal(200, status, body)
    assert.are.same({ ok = false, code = "InvalidParameter", message = "task failed", finished = true },
      cjson.decode(body))
    no_lua_errors()
  end)

  it("refuses the bidirectional stream (HTTP/2) with InvalidParameter", function()
    local status, body = srv:get("/bidi")
    assert.are.equal(200, status, body)
    local doc = cjson.decode(body)
    assert.is_false(doc.ok)
    assert.are.equal("InvalidParameter", doc.code)
    assert.matches("needs HTTP/2", doc.message, 1, true)
    assert.are.equal(0, #emu:requests())
    no_lua_errors()
  end)

  it("verifies TLS: an untrusted certificate is a TLSError, a trusted one works", function()
    local status, body = srv:get("/tls-untrusted")
    assert.are.equal(502, status, body .. "\n" .. srv:error_log():sub(-3000))
    local doc = cjson.decode(body)
    assert.are.equal("TLSError", doc.code)
    assert.matches("TLS certificate verification failed", doc.message, 1, true)
    -- the server block that trusts the test CA
    body = sh("curl -sS --noproxy '*' --max-time 30 -H 'Host: trusted.test' " .. child.quote(srv.url .. "/tls"))
    assert.are.equal("You said: over TLS", cjson.decode(body).text)
  end)
end)
