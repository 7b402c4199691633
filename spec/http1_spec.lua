-- bedrock.core's own HTTP/1.1 client (src/http1.c) on the wire, against
-- spec/support/wire.py, which answers byte for byte and names the
-- connection of each answer (X-Conn): framings, 1xx skipped, keep-alive
-- decided per answer, a kept connection checked before reuse, a reused one
-- that dies before any reply, malformed answers, and the request as sent.
local core = require "bedrock.core"
local emulator = require "spec.support.emulator"

local WIRE = emulator.script:match("^(.*)/[^/]*$") .. "/wire.py"

describe("the HTTP/1.1 client", function()
  local wire, e

  setup(function() wire = emulator.start{ script = WIRE } end)
  teardown(function() if wire then wire:stop() end end)
  before_each(function() e = core.engine() end)
  after_each(function() e:close() end)

  local function fetch(path, opts)
    opts = opts or {}
    local x = assert(e:request{ method = opts.method or "GET", url = opts.url or (wire.url .. path),
      headers = opts.headers, body = opts.body, total_timeout_ms = 5000 })
    while x:state() == "running" do e:pump(100) end
    local code, detail = x:error()
    local r = { state = x:state(), status = (x:status()), body = x:body(), headers = x:headers(),
      sends = x:sends(), code = code, detail = detail }
    r.conn = tonumber(r.headers["x-conn"])
    x:close()
    return r
  end

  it("reads a Content-Length body and keeps the connection for the next request", function()
    local a, b = fetch("/length"), fetch("/length")
    assert.are.equal("done", a.state)
    assert.are.equal(200, a.status)
    assert.are.equal("hello", a.body)
    assert.are.equal(1, a.sends)
    assert.are.equal(a.conn, b.conn)
  end)

  it("reads a chunked body with extensions and trailers, across writes, and keeps the connection", function()
    local a = fetch("/chunked")
    assert.are.equal("done", a.state, a.detail)
    assert.are.equal("hello, world", a.body)
    assert.is_nil(a.headers["x-trailer"])
    assert.are.equal(a.conn, fetch("/length").conn)
  end)

  it("reads an answer that arrives a few bytes at a time", function()
    local a = fetch("/split")
    assert.are.equal("done", a.state, a.detail)
    assert.are.equal("0123456789", a.body)
    assert.are.equal("text/plain", a.headers["content-type"])
  end)

  it("skips 1xx answers: the final status and its headers only", function()
    local a = fetch("/continue")
    assert.are.equal(201, a.status)
    assert.are.equal("ok", a.body)
    assert.is_nil(a.headers["x-early"])
  end)

  it("does not reuse a connection after HTTP/1.0 without keep-alive, Connection: close, or a body ended by the close", function()
    for _, path in ipairs{ "/http10", "/close", "/until-close" } do
      local a = fetch(path)
      assert.are.equal("done", a.state, path .. ": " .. tostring(a.detail))
      assert.are_not.equal(a.conn, fetch("/length").conn, path)
    end
    assert.are.equal("all of it", fetch("/until-close").body)
  end)

  it("reuses an HTTP/1.0 connection that asked for keep-alive", function()
    local a = fetch("/http10-keep")
    assert.are.equal(a.conn, fetch("/length").conn)
  end)

  it("does not reuse a connection that carried bytes past the answer", function()
    local a = fetch("/junk-after")
    assert.are.equal("ok", a.body)
    assert.are_not.equal(a.conn, fetch("/length").conn)
  end)

  it("notices a kept connection the server closed while idle, and sends on a new one", function()
    local a = fetch("/idle-close")
    core.sleep(0.3)
    local b = fetch("/length")
    assert.are.equal("done", b.state, b.detail)
    assert.are.equal(1, b.sends)
    assert.are_not.equal(a.conn, b.conn)
  end)

  it("fails a reused connection that closes before any reply: ConnectionError, sent once, not sent again", function()
    local a = fetch("/arm-silent-close")
    assert.are.equal("ok", a.body)
    local b = fetch("/length")
    assert.are.equal("failed", b.state)
    assert.are.equal("ConnectionError", b.code)
    assert.are.equal("the connection closed before any reply (the request may have reached the server)", b.detail)
    assert.are.equal(1, b.sends)
    -- the next request takes a new connection
    assert.are.equal("hello", fetch("/length").body)
  end)

  it("fails an answer cut short, and a status line that is not HTTP/1.x", function()
    local a = fetch("/truncated")
    assert.are.equal("ConnectionError", a.code)
    assert.matches("closed before the response ended", a.detail, 1, true)
    local b = fetch("/bad-status")
    assert.are.equal("ConnectionError", b.code)
    assert.matches("not HTTP/1.x", b.detail, 1, true)
  end)

  it("reads no body after HEAD, and keeps the connection", function()
    local a = fetch("/head", { method = "HEAD" })
    assert.are.equal("done", a.state, a.detail)
    assert.are.equal("", a.body)
    assert.are.equal(a.conn, fetch("/length").conn)
  end)

  it("sends the caller's headers, Host, and Content-Length for POST; 'Name:' sends nothing, 'Name;' an empty value", function()
    local a = fetch("/echo?q=1#frag", { method = "POST", body = "the body",
      headers = { "X-One: 1", "Expect:", "X-Empty;", "Accept:" } })
    local head, body = a.body:match("^(.-)\r\n\r\n%-%-body%-%-\r\n(.*)$")
    assert.are.equal("the body", body)
    local lines = {}
    for l in head:gmatch("[^\r\n]+") do lines[#lines + 1] = l end
    assert.are.same({ "POST /echo?q=1 HTTP/1.1", "X-One: 1", "X-Empty:", "Host: 127.0.0.1:" .. wire.port,
      "Content-Length: 8" }, lines)
    -- a GET without a body has no Content-Length; the caller's Host replaces ours
    local g = fetch("/echo", { headers = { "Host: example.test" } })
    assert.are.same("GET /echo HTTP/1.1\r\nHost: example.test\r\n\r\n--body--\r\n", g.body)
    -- an empty path is "/", a query alone gets one
    local q = fetch(nil, { url = wire.url .. "?a=b" })
    assert.are.equal(404, q.status)
  end)

  it("refuses what it cannot send before sending anything", function()
    for _, case in ipairs{
      { "ftp://127.0.0.1/x", "unsupported URL scheme 'ftp'" },
      { "127.0.0.1/x", "must be absolute" },
      { "http://user:pw@127.0.0.1/", "user name or password" },
      { "http:///x", "no host" },
      { "http://127.0.0.1:0/", "port" },
      { "http://127.0.0.1:70000/", "port" },
      { "http://[::1/", "closing ']'" },
      { "http://exa mple/", "white space" },
    } do
      local x, err = e:request{ method = "GET", url = case[1] }
      assert.is_nil(x, case[1])
      assert.matches(case[2], err, 1, true)
      assert.is_nil(err:find("pw", 1, true))
    end
    local _, err = e:request{ method = "GET", url = wire.url .. "/", headers = { "X-Big: " .. string.rep("b", 1024 * 1024) } }
    assert.matches("could not make the request", err, 1, true)
  end)

  it("names the address and port a connect failed on, as libcurl does (an IPv6 literal here)", function()
    -- the wire server listens on 127.0.0.1 only: [::1] is refused
    local a = fetch(nil, { url = "http://[::1]:" .. wire.port .. "/length" })
    assert.are.equal("ConnectionError", a.code)
    assert.matches("Failed to connect to ::1 port " .. wire.port, a.detail, 1, true)
  end)

  it("caps the connections at the pool's size: transfers past it wait, in order, and all complete", function()
    e:limits(2)
    local xs = {}
    for i = 1, 6 do xs[i] = assert(e:request{ method = "GET", url = wire.url .. "/chunked" }) end
    local conns = {}
    while e:running() > 0 do e:pump(100) end
    for i = 1, 6 do
      assert.are.equal("done", xs[i]:state())
      assert.are.equal("hello, world", xs[i]:body())
      conns[xs[i]:headers()["x-conn"]] = true
      xs[i]:close()
    end
    local n = 0
    for _ in pairs(conns) do n = n + 1 end
    assert.is_true(n <= 2, n .. " connections for a pool of 2")
  end)
end)
