-- The README's examples for the operations and for usage run as they are
-- against the emulator (only its URL is put in).
local compat = require "bedrock.compat"
local emulator = require "spec.support.emulator"

-- a text chunk with its own environment, on 5.1 and LuaJIT as on 5.3+
local function load_with_env(code, name, env)
  if setfenv then
    local f, err = loadstring(code, name)
    if f then setfenv(f, env) end
    return f, err
  end
  return load(code, name, "t", env)
end

local function examples(from, to)
  local f = assert(io.open("README.md", "rb"))
  local text = f:read("*a")
  f:close()
  local a = assert(text:find(from, 1, true), from)
  local b = assert(text:find(to, a, true), to)
  local out = {}
  for code in text:sub(a, b):gmatch("```lua\n(.-)```") do out[#out + 1] = code end
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
    assert.matches("You said: Hello!\tend_turn", out, 1, true)
    assert.matches("tokens:\t4", out, 1, true)
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

  it("runs the nginx.conf and handler of 'Inside nginx / OpenResty' in Debian's nginx", function()
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
end)
