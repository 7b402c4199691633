-- Every ```lua block of the README runs as it is written, against the emulator. Blocks
-- that name the emulator's URL run in this process with only that URL replaced; blocks
-- written for AWS (a region, no endpoint, credentials from the environment) run as a user
-- would run them: in a child Lua (the interpreter running the suite) whose environment points them at the emulator
-- (AWS_ENDPOINT_URL and the emulator's keys, an empty HOME). The last test checks that
-- the sections below hold every lua block of the README.
local compat = require "bedrock.compat"
local emulator = require "spec.support.emulator"
local child = require "spec.support.child"

-- a text chunk with its own environment, on 5.1 and LuaJIT as on 5.3+
local function load_with_env(code, name, env)
  if setfenv then
    local f, err = loadstring(code, name)
    if f then setfenv(f, env) end
    return f, err
  end
  return load(code, name, "t", env)
end

local function readme()
  local f = assert(io.open("README.md", "rb"))
  local text = f:read("*a")
  f:close()
  return text
end

-- the README sections whose blocks the tests run: from one heading to the next
local SECTIONS = {
  { "## Use", "### Async" },
  { "### Async", "### Bidirectional streams" },
  { "### Bidirectional streams", "## Checking bodies" },
  { "## Checking bodies", "### Per-model limits" },
  { "### Per-model limits", "## Conversations" },
  { "## Conversations", "### Tools that run themselves" },
  { "### Tools that run themselves", "### MCP servers" },
  { "### MCP servers", "## Converse, tokens" },
  { "## Converse, tokens, guardrails", "### Paging" },
  { "### Paging", "## Usage and budgets" },
  { "## Usage and budgets", "## Configuration" },
  { "## Sans-I/O pieces", "## The bedrock command" },
  { "## Inside nginx / OpenResty", "## The local emulator" },
}

local function section_range(text, from, to)
  local a = assert(text:find("\n" .. from, 1, true), from)
  local b = assert(text:find("\n" .. to, a + 1, true), to)
  return a, b
end

local function examples(from, to)
  local text = readme()
  local a, b = section_range(text, from, to)
  local out = {}
  for code in text:sub(a, b):gmatch("```lua\n(.-)```") do out[#out + 1] = code end
  return out
end

-- a search path with its relative entries (.busted's lpath) made absolute
local function absolute(path)
  local cwd = assert(os.getenv("PWD"))
  return (path:gsub("[^;]+", function(entry)
    if entry:sub(1, 1) == "/" then return entry end
    return cwd .. "/" .. entry:gsub("^%./", "")
  end))
end

-- run code in a child Lua with the environment a user would give to reach the emulator
local function run_as_user(emu, code)
  local home = child.tmpdir()
  local script = home .. "/example.lua"
  child.write(script, code)
  local env = {
    PATH = os.getenv("PATH"), LUA_PATH = absolute(package.path), LUA_CPATH = absolute(package.cpath), HOME = home,
    AWS_ENDPOINT_URL = emu.url, AWS_EC2_METADATA_DISABLED = "true",
    AWS_ACCESS_KEY_ID = emulator.credentials.access_key_id,
    AWS_SECRET_ACCESS_KEY = emulator.credentials.secret_access_key,
    -- under `make test-asan` the child loads the sanitized modules, so it needs the runtime too
    LD_PRELOAD = os.getenv("LD_PRELOAD"), ASAN_OPTIONS = os.getenv("ASAN_OPTIONS"),
    UBSAN_OPTIONS = os.getenv("UBSAN_OPTIONS"),
  }
  local parts = { "cd", child.quote(home), "&& env -i" }
  for k, v in pairs(env) do parts[#parts + 1] = k .. "=" .. child.quote(v) end
  parts[#parts + 1] = child.lua .. " example.lua 2>&1"
  local p = assert(io.popen(table.concat(parts, " ")))
  local out = p:read("*a")
  local ok = p:close()
  child.rmdir(home)
  assert(ok, "the example failed:\n" .. out)
  return out
end

describe("README examples", function()
  local emu
  setup(function() emu = emulator.shared() end)
  before_each(function() emu:reset() end)

  local function run(code)
    local printed = {}
    local env = setmetatable({
      print = function(...)
        local t = compat.pack(...)
        for i = 1, t.n do t[i] = tostring(t[i]) end
        printed[#printed + 1] = table.concat(t, "\t")
      end,
      io = { write = function(...) for _, s in ipairs{ ... } do printed[#printed + 1] = s end end },
    }, { __index = _G })
    code = code:gsub("http://127%.0%.0%.1:4566", emu.url)
    local chunk = assert(load_with_env(code, "=README", env))
    chunk()
    return table.concat(printed, "\n")
  end

  local function paths()
    local out = {}
    for _, e in ipairs(emu:requests()) do out[#out + 1] = e.path end
    return out
  end

  it("runs the Use example, pointed at the emulator by the environment", function()
    local blocks = examples("## Use", "### Async")
    assert.are.equal(1, #blocks)
    local out = run_as_user(emu, blocks[1])
    assert.matches("You said: Hello, Claude!\t%d+\t%d+\n", out)
    assert.are.same({ "/model/anthropic.claude-3-sonnet-20240229-v1%3A0/invoke",
      "/model/anthropic.claude-3-sonnet-20240229-v1%3A0/invoke-with-response-stream" }, paths())
  end)

  it("runs the async example: three streams at once (a for loop in a task: not on PUC 5.1)", function()
    local blocks = examples("### Async", "### Bidirectional streams")
    assert.are.equal(1, #blocks)
    local out = run_as_user(emu, blocks[1])
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.are.equal(3, #lines, out)
    for i = 1, 3 do assert.matches("Poem " .. i, lines[i], 1, true) end
    assert.are.equal(3, #paths())
  end)

  it("runs the body-check example after the Use example (its client): nothing is sent", function()
    local use = examples("## Use", "### Async")[1]
    local blocks = examples("## Checking bodies", "### Per-model limits")
    assert.are.equal(1, #blocks)
    local out = run_as_user(emu, use .. "\n" .. blocks[1])
    assert.matches("InvalidParameter\tbody.temperature\n", out, 1, true)
    assert.matches("\nInvalidParameter: body.temperature must be between 0 and 1, got 1.5 [anthropic messages body of ",
      out, 1, true)
    assert.are.equal(2, #paths())   -- the Use example's two calls only
  end)

  it("runs the conversation example: a send, a stream, a save and a resume", function()
    local blocks = examples("## Conversations", "### Tools that run themselves")
    assert.are.equal(1, #blocks)
    local out = run_as_user(emu, blocks[1])
    assert.matches("What is the capital of France%?\tend_turn\t%d+\n", out)
    assert.matches("And of Italy?", out, 1, true)
    local p = paths()
    assert.are.same({ "/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/invoke",
      "/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/invoke-with-response-stream" }, p)
  end)

  it("runs the sans-I/O example", function()
    local blocks = examples("## Sans-I/O pieces", "## The bedrock command")
    assert.are.equal(1, #blocks)
    local out = run(blocks[1])
    assert.matches("^AWS4%-HMAC%-SHA256 Credential=AKIDEXAMPLE/%d+/us%-east%-1/bedrock/aws4_request, "
      .. "SignedHeaders=content%-type;host;x%-amz%-date, Signature=%x+\nchunk\t7\tpayload\nevent\tchunk\tpayload\nevent\tchunk\tpayload$", out)
  end)

  it("runs the per-model limits example", function()
    local blocks = examples("### Per-model limits", "## Conversations")
    assert.are.equal(1, #blocks)
    local out = run(blocks[1])
    assert.matches("body.textGenerationConfig.maxTokenCount\tbody.textGenerationConfig.maxTokenCount must be "
      .. "between 0 and 4096, got 5000 [", out, 1, true)
    assert.matches("\n200\n", out, 1, true)
    assert.matches("\nbody.thinking.budget_tokens\n", out, 1, true)
    assert.matches("You said: Hello", out, 1, true)
    -- the refused bodies never reached the emulator
    local paths = {}
    for _, e in ipairs(emu:requests()) do paths[#paths + 1] = e.path end
    assert.are.same({ "/model/amazon.titan-text-express-v1/invoke",
      "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/invoke" }, paths)
  end)

  it("runs the operations example", function()
    local blocks = examples("## Converse, tokens, guardrails", "### Paging")
    assert.are.equal(1, #blocks)
    local out = run(blocks[1])
    -- counts print as integers (6, not 6.0): the core's JSON decoder keeps them
    assert.matches("You said: Hello!\tend_turn\t6\n", out, 1, true)
    assert.matches("tokens:\t4\t6\n", out, 1, true)
    assert.matches("\n2\nGUARDRAIL", out, 1, true)         -- count_tokens' inputTokens
    assert.matches("\n3\t3\n", out, 1, true)       -- meta.usage: integers
    assert.matches("GUARDRAIL_INTERVENED", out, 1, true)
    assert.matches("Completed", out, 1, true)
    assert.matches("arn:aws:bedrock:us-east-1:123456789012:async-invoke/", out, 1, true)
  end)

  it("runs the bidirectional stream example", function()
    local blocks = examples("### Bidirectional streams", "## Checking bodies")
    assert.are.equal(1, #blocks)
    local out = run(blocks[1])
    assert.are.equal("sessionStart\necho\nend of session", out)
  end)

  it("runs the paging example", function()
    local blocks = examples("### Paging", "## Usage and budgets")
    assert.are.equal(1, #blocks)
    local out = run(blocks[1])
    local arns = {}
    for arn in out:gmatch("(arn:aws:bedrock:[^\t]+)\tCompleted") do arns[#arns + 1] = arn end
    assert.are.equal(3, #arns)
    assert.matches("bedrock.pager(ListAsyncInvokes, 2 pages)", out, 1, true)
    assert.matches("InvalidParameter\tpage_size", out, 1, true)
    local lists = {}
    for _, e in ipairs(emu:requests()) do
      if e.route == "list_async_invokes" then lists[#lists + 1] = e end
    end
    assert.are.equal(2, #lists)
    assert.matches("maxResults=2", lists[1].query)
    assert.matches("maxResults=2", lists[2].query)
  end)

  it("runs the nginx.conf and handler of 'Inside nginx / OpenResty' in Debian's nginx #nginx", function()
    local nginx = require "spec.support.nginx"
    local cjson = require "cjson"
    local f = assert(io.open("README.md", "rb"))
    local text = f:read("*a")
    f:close()
    local a = assert(text:find("## Inside nginx / OpenResty", 1, true))
    local b = assert(text:find("## The local emulator", a, true))
    local section = text:sub(a, b)
    local confs, handlers = {}, {}
    for code in section:gmatch("```nginx\n(.-)```") do confs[#confs + 1] = code end
    for code in section:gmatch("```lua\n(.-)```") do handlers[#handlers + 1] = code end
    assert.are.equal(1, #confs)
    assert.are.equal(1, #handlers)
    -- only the checkout's path, the port and the emulator's URL are put in
    local conf = confs[1]:gsub("/path/to/lua%-bedrock", nginx.root)
    conf = conf:gsub("listen 127%.0%.0%.1:8080;", "listen 127.0.0.1:${PORT};")
    local handler = handlers[1]:gsub("http://127%.0%.0%.1:4566", emu.url)
    nginx.build()
    local srv = nginx.start{ conf = conf, files = { ["gateway.lua"] = handler } }
    local ok, err = pcall(function()
      local status, body = srv:get("/chat", { method = "POST", body = '{"prompt": "Hello"}' })
      assert.are.equal(200, status, body)
      local doc = cjson.decode(body)
      assert.are.equal("You said: Hello", doc.text)
      assert.is_number(doc.usage.input_tokens)
      status, body = srv:get("/chat/stream", { method = "POST", body = '{"prompt": "Tell me a story"}' })
      assert.are.equal(200, status, body)
      local parts = {}
      for data in body:gmatch("data: (%b{})\n\n") do
        local ev = cjson.decode(data)
        if ev.text then parts[#parts + 1] = ev.text end
      end
      assert.is_true(#parts > 1)
      assert.are.equal("You said: Tell me a story", table.concat(parts))
      assert.matches("event: done\n", body, 1, true)
      status, body = srv:get("/chat", { method = "POST", body = "not json" })
      assert.are.equal(400, status, body)
      assert.are.equal("BadRequest", cjson.decode(body).error)
      -- the emulator saw signed requests on the invoke and stream routes
      local routes = {}
      for _, e in ipairs(emu:requests()) do routes[#routes + 1] = e.route .. " " .. e.auth end
      assert.are.same({ "invoke sigv4", "stream sigv4" }, routes)
      assert.is_nil(srv:error_log():match("[^\n]*lua entry thread aborted[^\n]*"))
    end)
    srv:stop()
    if not ok then error(err, 0) end
  end)

  it("runs the usage example", function()
    local blocks = examples("## Usage and budgets", "## Configuration")
    assert.are.equal(1, #blocks)
    local out = run(blocks[1])
    assert.matches("anthropic.claude-3-sonnet-20240229-v1:0\tConverse\t1\t3\t", out, 1, true)
    assert.matches("\n4\t", out, 1, true)
  end)

  it("runs the Lua tool example", function()
    local blocks = examples("### Tools that run themselves", "### MCP servers")
    assert.are.equal(1, #blocks)
    emu:scenario("us.anthropic.claude-3-7-sonnet-20250219-v1:0",
      { tool_rounds = { { name = "add", input = { a = 2, b = 3 } } } })
    local out = run(blocks[1])
    assert.are.equal("Tool results: 5\t2\tend_turn\nadd\t2\t3\t5", out)
  end)

  it("runs the MCP example with server-everything", function()
    local blocks = examples("### MCP servers", "## Converse, tokens")
    assert.are.equal(1, #blocks)
    emu:scenario("us.anthropic.claude-3-7-sonnet-20250219-v1:0",
      { tool_rounds = { { name = "echo", input = { message = "hello" } } } })
    local out = run(blocks[1])
    assert.are.equal("mcp-servers/everything\t2025-11-25\nThe sum of 2 and 3 is 5.\n"
      .. "echo\tTool results: Echo: hello", out)
  end)

  it("covers every lua block of the README", function()
    local text = readme()
    local covered = {}
    for _, sec in ipairs(SECTIONS) do
      local a, b = section_range(text, sec[1], sec[2])
      for pos in text:sub(a, b):gmatch("()```lua\n") do covered[a + pos - 1] = true end
    end
    local n = 0
    for pos in text:gmatch("()```lua\n") do
      n = n + 1
      assert.is_true(covered[pos], "the README's lua block at byte " .. pos .. " is run by no test")
    end
    assert.are.equal(13, n)
  end)
end)
