-- bedrock.mcp against real servers: @modelcontextprotocol/server-everything
-- (spec/support/npm, installed by `make deps`) over stdio and over
-- Streamable HTTP, and the fake server of spec/support/mcp_fake.lua for
-- paging, the server's ping, JSON-RPC errors, an exit mid-call and timeouts.
local bedrock = require "bedrock"
local mcp = require "bedrock.mcp"
local support = require "spec.support.mcp"

assert(support.installed(), "server-everything is not installed: run `make deps`")

local function names(list)
  local out = {}
  for _, t in ipairs(list) do out[#out + 1] = t.name end
  table.sort(out)
  return out
end

local function has(list, name)
  for _, n in ipairs(list) do if n == name then return true end end
  return false
end

describe("bedrock.mcp over stdio with server-everything", function()
  local server
  setup(function() server = assert(mcp.connect(support.everything)) end)
  teardown(function() server:close() end)

  it("negotiates the current protocol revision and knows the server", function()
    assert.are.equal(mcp, bedrock.mcp)
    assert.are.equal("2025-11-25", server.protocol_version)
    assert.are.equal("mcp-servers/everything", server.info.name)
    assert.is_table(server.capabilities.tools)
    assert.are.equal("bedrock.mcp.server(everything, open)", tostring(server))
  end)

  it("lists its tools with their input schemas", function()
    local tools = assert(server:tools())
    local n = names(tools)
    assert.is_true(has(n, "echo"), table.concat(n, " "))
    assert.is_true(has(n, "get-sum"))
    for _, t in ipairs(tools) do
      if t.name == "echo" then
        assert.are.equal("object", t.inputSchema.type)
        assert.are.equal("string", t.inputSchema.properties.message.type)
      end
    end
  end)

  it("calls echo and the sum tool", function()
    local r = assert(server:call("echo", { message = "hello MCP" }))
    assert.are.same({ { type = "text", text = "Echo: hello MCP" } }, r.content)
    r = assert(server:call("get-sum", { a = 2, b = 3 }))
    assert.are.equal("The sum of 2 and 3 is 5.", r.content[1].text)
  end)

  it("gives a tool's own failure as a result with isError, not as an error", function()
    local r = assert(server:call("get-sum", { a = "two" }))
    assert.is_true(r.isError)
    assert.is_string(r.content[1].text)
  end)

  it("lists and reads resources, lists and gets prompts, pings", function()
    local resources = assert(server:resources())
    assert.is_true(#resources > 0)
    local r = assert(server:read(resources[1].uri))
    assert.are.equal(resources[1].uri, r.contents[1].uri)
    assert.is_string(r.contents[1].text)
    local prompts = assert(server:prompts())
    assert.is_true(has(names(prompts), "simple-prompt"))
    local p = assert(server:prompt("simple-prompt"))
    assert.are.equal("user", p.messages[1].role)
    assert.are.equal("This is a simple prompt without arguments.", p.messages[1].content.text)
    assert.is_true(server:ping())
  end)

  it("gets a prompt with arguments and lists resource templates", function()
    local p = assert(server:prompt("args-prompt", { city = "Lyon", state = "Rhone" }))
    assert.are.equal("What's weather in Lyon, Rhone?", p.messages[1].content.text)
    local none, err = server:prompt("args-prompt")             -- city is required
    assert.is_nil(none)
    assert.are.equal("McpError", err.code)
    local templates = assert(server:resource_templates())
    assert.is_true(#templates > 0)
    assert.is_string(templates[1].uriTemplate)
  end)

  it("turns a JSON-RPC error into an error object with the code, and goes on", function()
    local r, err = server:request("no/such/method")
    assert.is_nil(r)
    assert.are.equal("McpError", err.code)
    assert.are.equal(-32601, err.rpc_code)
    assert.matches("no/such/method failed %(%-32601%)", err.message)
    r, err = server:read("demo://no/such/resource")
    assert.is_nil(r)
    assert.are.equal("McpError", err.code)
    assert.is_number(err.rpc_code)
    assert.are.equal("Echo: still here", assert(server:call("echo", { message = "still here" })).content[1].text)
  end)

  it("refuses bad connect options with an error, not a raise", function()
    local s, err = mcp.connect{ command = "" }
    assert.is_nil(s)
    assert.are.equal("InvalidParameter", err.code)
    s, err = mcp.connect{ url = "ftp://x" }
    assert.are.equal("InvalidParameter", err.code)
    s, err = mcp.connect{ command = "true", colour = "blue" }
    assert.matches("unknown mcp.connect option 'colour'", err.message)
    local r, terr = server:call("echo", { message = "x" }, { timeout = "soon" })
    assert.is_nil(r)
    assert.are.equal("InvalidParameter", terr.code)
  end)

  it("runs in an async client's tasks, several calls at once on one server", function()
    local texts = bedrock.run(function()
      local tasks = {}
      for i = 1, 3 do
        tasks[i] = bedrock.spawn(function()
          return assert(server:call("echo", { message = "task " .. i })).content[1].text
        end)
      end
      local out = {}
      for i, t in ipairs(tasks) do out[i] = t:wait() end
      return out
    end)
    assert.are.same({ "Echo: task 1", "Echo: task 2", "Echo: task 3" }, texts)
  end)
end)

describe("bedrock.mcp over stdio with the fake server", function()
  it("follows tools/list pages, skips stray output and answers the server's ping", function()
    local s = assert(mcp.connect(support.fake()))
    assert.are.equal("2025-06-18", s.protocol_version)   -- the server's older revision is accepted
    assert.are.equal("a fake server for the specs", s.instructions)
    local tools = assert(s:tools())
    assert.are.same({ "die", "echo", "fail", "pinger", "slow" }, names(tools))   -- three pages of two
    local r = assert(s:call("pinger"))
    assert.are.equal("the client answered my ping", r.content[1].text)
    assert.are.same({ "ping" }, s.answered)
    assert.are.equal(1, s.noise)                         -- the banner line
    s:close()
  end)

  it("refuses a protocol version it does not speak", function()
    local s, err = mcp.connect(support.fake{ "--version", "1999-01-01" })
    assert.is_nil(s)
    assert.are.equal("McpProtocolError", err.code)
    assert.matches("speaks protocol version 1999%-01%-01", err.message)
  end)

  it("gives the JSON-RPC error of a call with its code and data", function()
    local s = assert(mcp.connect(support.fake()))
    local r, err = s:call("fail")
    assert.is_nil(r)
    assert.are.equal("McpError", err.code)
    assert.are.equal(-32602, err.rpc_code)
    assert.are.same({ why = "asked to" }, err.data)
    assert.matches("fail always fails", tostring(err))
    assert.are.equal("fake echo: ok", assert(s:call("echo", { message = "ok" })).content[1].text)
    s:close()
  end)

  it("reports a server that exits mid-call with its status and stderr, then every call fails fast", function()
    local s = assert(mcp.connect(support.fake()))
    local r, err = s:call("die")
    assert.is_nil(r)
    assert.are.equal("McpClosed", err.code)
    assert.are.equal(3, err.exit_code)
    assert.matches("exit status 3", err.message)
    assert.matches("dying on purpose", err.message)
    local r2, err2 = s:call("echo", { message = "x" })
    assert.is_nil(r2)
    assert.are.equal(err, err2)
    s:close()
  end)

  it("times a request out, tells the server, and takes the late answer for nobody", function()
    local s = assert(mcp.connect(support.fake()))
    local r, err = s:call("slow", { seconds = 0.5 }, { timeout = 0.1 })
    assert.is_nil(r)
    assert.are.equal("TimeoutError", err.code)
    assert.matches("no answer to request %d+ within 0.1 s", err.message)
    -- the late answer arrives while the next call waits and is dropped
    assert.are.equal("fake echo: after", assert(s:call("echo", { message = "after" })).content[1].text)
    local _, stderr = s.transport.proc:output()
    assert.matches("got notifications/cancelled\ngot tools/call\n", stderr)
    s:close()
  end)

  it("fails to start a server that is not there with McpClosed", function()
    local s, err = mcp.connect{ command = "exec /nonexistent/mcp-server", timeout = 5 }
    assert.is_nil(s)
    assert.are.equal("McpClosed", err.code)
    assert.matches("exit status 127", err.message)
  end)

  it("kills and reaps the server on close and when collected", function()
    local function running(tag)
      local h = io.popen("env -u LD_PRELOAD pgrep -f -- '^lua5.4 .*" .. tag .. "' | wc -l")
      local n = tonumber(h:read("*a"))
      h:close()
      return n
    end
    local s = assert(mcp.connect(support.fake{ "--prefix", "gc1_" }))
    assert.are.equal(1, running("--prefix gc1_"))
    s:close()
    assert.are.equal(0, running("--prefix gc1_"))
    s = assert(mcp.connect(support.fake{ "--prefix", "gc2_" }))
    assert.are.equal(1, running("--prefix gc2_"))
    s = nil   -- luacheck: ignore
    collectgarbage()
    collectgarbage()
    assert.are.equal(0, running("--prefix gc2_"))
  end)
end)

describe("bedrock.mcp over Streamable HTTP with server-everything", function()
  local url, proc
  setup(function() url, proc = support.start_http() end)
  teardown(function() proc:close() end)

  it("initializes a session, calls tools, reads a resource and deletes the session on close", function()
    local s = assert(mcp.connect{ url = url, name = "everything-http" })
    assert.are.equal("2025-11-25", s.protocol_version)
    assert.is_string(s.transport.session_id)
    assert.is_true(has(names(assert(s:tools())), "echo"))
    assert.are.equal("text/event-stream", s.transport.last_content_type:match("^[^;]+"))
    assert.are.equal("Echo: over HTTP", assert(s:call("echo", { message = "over HTTP" })).content[1].text)
    local resources = assert(s:resources())
    local r = assert(s:read(resources[1].uri))
    assert.is_string(r.contents[1].text)
    local none, err = s:request("no/such/method")
    assert.is_nil(none)
    assert.are.equal(-32601, err.rpc_code)
    assert.is_true(s:ping())
    local sid = s.transport.session_id
    s:close()
    local _, cerr = s:ping()
    assert.are.equal("McpClosed", cerr.code)
    -- the session is gone on the server: a request with its id is refused
    local http = require "bedrock.transport.http"
    local resp = assert(http.fetch(nil, { method = "POST", url = url, body = '{"jsonrpc":"2.0","id":1,"method":"ping"}',
      headers = { ["Content-Type"] = "application/json", Accept = "application/json, text/event-stream",
        ["Mcp-Session-Id"] = sid, ["MCP-Protocol-Version"] = "2025-11-25" } }))
    assert.is_true(resp.status >= 400, tostring(resp.status))
  end)

  it("works from an async client's task", function()
    local text = bedrock.run(function()
      local s = assert(mcp.connect{ url = url })
      local r = assert(s:call("get-sum", { a = 20, b = 22 }))
      s:close()
      return r.content[1].text
    end)
    assert.are.equal("The sum of 20 and 22 is 42.", text)
  end)

  it("reads application/json replies too; a server gone mid-session gives ConnectionError", function()
    local jurl, jproc = support.start_http(true)
    local s = assert(mcp.connect{ url = jurl })
    assert.are.equal("Echo: json", assert(s:call("echo", { message = "json" })).content[1].text)
    assert.are.equal("application/json", s.transport.last_content_type:match("^[^;]+"))
    local none, err = s:request("no/such/method")
    assert.is_nil(none)
    assert.are.equal(-32601, err.rpc_code)
    jproc:close()
    local r, cerr = s:call("echo", { message = "anyone?" })
    assert.is_nil(r)
    assert.are.equal("ConnectionError", cerr.code)
    s:close()
  end)

  it("gives ConnectionError for an endpoint that is not there", function()
    local s, err = mcp.connect{ url = "http://127.0.0.1:1/mcp", timeout = 5 }
    assert.is_nil(s)
    assert.are.equal("ConnectionError", err.code)
  end)

  it("reads an SSE body's events", function()
    local events = require("bedrock.mcp.http").sse_events("event: message\nid: 1\ndata: {\"a\":1}\n\n"
      .. "data: {\"b\":\r\ndata: 2}\r\n\r\n: a comment\n\n")
    assert.are.same({ '{"a":1}', '{"b":\n2}' }, events)
  end)
end)
