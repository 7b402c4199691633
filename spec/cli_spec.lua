-- The bedrock command (bin/bedrock, bedrock.cli) run as a process against the
-- emulator: every verb, --json, exit statuses, the configuration it shares
-- with the library, chat through a pseudo-terminal (spec/support/pty_drive.py)
-- with Ctrl-C, and `bedrock emulator` answering an invoke.
local child = require "spec.support.child"
local cjson = require "cjson"
local emulator = require "spec.support.emulator"

local ROOT = (debug.getinfo(1, "S").source:sub(2):match("^(.*)/spec/[^/]*$")) or "."
if ROOT:sub(1, 1) ~= "/" then ROOT = os.getenv("PWD") .. "/" .. ROOT end
local BEDROCK = ROOT .. "/bin/bedrock"
local PTY = ROOT .. "/spec/support/pty_drive.py"
local CLAUDE = "anthropic.claude-3-sonnet-20240229-v1:0"
local NOVA = "amazon.nova-lite-v1:0"
local BODY = '{"anthropic_version":"bedrock-2023-05-31","max_tokens":50,'
  .. '"messages":[{"role":"user","content":"Hello there"}]}'

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function write_file(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local scratch = {}
local function tmpname()
  local n = os.tmpname()
  scratch[#scratch + 1] = n
  return n
end

local emu
local home   -- an empty HOME: no ~/.aws of the machine's

-- The environment of a run: nothing inherited but PATH (env -i), the
-- emulator's keys and endpoint unless `env` says otherwise (false unsets).
local function env_prefix(env)
  local vars = {
    PATH = os.getenv("PATH"), HOME = home, AWS_EC2_METADATA_DISABLED = "true",
    AWS_ENDPOINT_URL = emu.url, AWS_REGION = "us-east-1",
    AWS_ACCESS_KEY_ID = emulator.credentials.access_key_id,
    AWS_SECRET_ACCESS_KEY = emulator.credentials.secret_access_key,
  }
  for k, v in pairs(env or {}) do
    if v == false then vars[k] = nil else vars[k] = v end
  end
  local parts = { "env -i" }
  for k, v in pairs(vars) do parts[#parts + 1] = k .. "=" .. quote(v) end
  return table.concat(parts, " ")
end

--- Run bin/bedrock ARGS (a list) with `stdin` text: status, stdout, stderr.
local function run(args, opts)
  opts = opts or {}
  local qargs = {}
  for i, a in ipairs(args) do qargs[i] = quote(a) end
  local inp, out, err = tmpname(), tmpname(), tmpname()
  write_file(inp, opts.stdin or "")
  local cmd = string.format("cd %s && %s %s %s < %s > %s 2> %s", quote(opts.cwd or "/"), env_prefix(opts.env),
    quote(BEDROCK), table.concat(qargs, " "), quote(inp), quote(out), quote(err))
  local ok, how, code = child.execute(cmd)
  local status = ok and 0 or (how == "exit" and code or 128 + code)
  return status, read_file(out), read_file(err)
end

--- Drive bin/bedrock ARGS through a pty with expect steps (see pty_drive.py).
local function run_pty(args, steps, env)
  local qargs = {}
  for i, a in ipairs(args) do qargs[i] = quote(a) end
  local out = tmpname()
  local cmd = string.format("cd / && %s %s %s -- %s %s > %s", env_prefix(env), "/usr/bin/python3 " .. quote(PTY),
    quote(cjson.encode(steps)), quote(BEDROCK), table.concat(qargs, " "), quote(out))
  os.execute(cmd)
  return cjson.decode(read_file(out))
end

local function lines(s)
  local t = {}
  for l in s:gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

-- Requests the emulator logged for a route (the control calls are not logged).
local function logged(route)
  local t = {}
  for _, r in ipairs(emu:requests()) do
    if r.route == route then t[#t + 1] = r end
  end
  return t
end

describe("bedrock command", function()
  setup(function()
    emu = emulator.start()
    home = os.tmpname()
    os.remove(home)
    assert(child.execute("mkdir -p " .. quote(home)))
  end)
  teardown(function()
    if emu then emu:stop() end
    for _, n in ipairs(scratch) do os.remove(n) end
    os.execute("rm -rf " .. quote(home))
  end)
  before_each(function() emu:reset() end)

  describe("help and usage", function()
    it("has --help for the command and each verb, on stdout with status 0", function()
      local status, out = run{ "--help" }
      assert.equal(0, status)
      assert.matches("usage: bedrock VERB", out, 1, true)
      for _, verb in ipairs{ "chat", "invoke", "converse", "count-tokens", "emulator" } do
        local st, o, e = run{ verb, "--help" }
        assert.equal(0, st, verb)
        assert.matches("usage: bedrock " .. verb, o, 1, true)
        assert.matches("Exit status: 0 ok", o, 1, true)
        assert.equal("", e)
      end
      assert.equal(0, (run{ "help", "converse" }))
    end)

    it("exits 2 on an unknown verb, an unknown option and a missing model, sending nothing", function()
      local st, _, err = run{ "frobnicate" }
      assert.equal(2, st)
      assert.matches("unknown verb frobnicate", err, 1, true)
      st, _, err = run{ "invoke", CLAUDE, BODY, "--bogus" }
      assert.equal(2, st)
      assert.matches("unknown option --bogus", err, 1, true)
      st, _, err = run{ "converse" }
      assert.equal(2, st)
      assert.matches("needs a MODEL", err, 1, true)
      st = run{ "converse", NOVA, "hi", "--max-tokens", "many" }
      assert.equal(2, st)
      assert.equal(0, #emu:requests())
    end)
  end)

  describe("invoke", function()
    it("sends a body given as an argument and prints the reply, token counts on stderr", function()
      local status, out, err = run{ "invoke", CLAUDE, BODY }
      assert.equal(0, status, err)
      local reply = cjson.decode(out)
      assert.equal("You said: Hello there", reply.content[1].text)
      assert.equal("tokens: 2 in, 4 out", err:match("^(tokens: [^(]-) %("))
      assert.equal(1, #logged("invoke"))
    end)

    it("reads the body from stdin, with - or with no BODY", function()
      for _, args in ipairs{ { "invoke", CLAUDE, "-" }, { "invoke", CLAUDE } } do
        local status, out, err = run(args, { stdin = BODY:gsub("Hello there", "from stdin") })
        assert.equal(0, status, err)
        assert.equal("You said: from stdin", cjson.decode(out).content[1].text)
      end
      assert.equal(2, #logged("invoke"))
    end)

    it("--stream prints each event as one JSON line as it arrives", function()
      local status, out, err = run({ "invoke", CLAUDE, "--stream" }, { stdin = BODY })
      assert.equal(0, status, err)
      local text, kinds = {}, {}
      for _, l in ipairs(lines(out)) do
        local ev = cjson.decode(l)
        kinds[#kinds + 1] = ev.type
        if ev.type == "content_block_delta" then text[#text + 1] = ev.delta.text end
      end
      assert.equal("You said: Hello there", table.concat(text))
      assert.equal("message_start", kinds[1])
      assert.equal("message_stop", kinds[#kinds])
      assert.matches("tokens: 2 in, 4 out", err, 1, true)
      assert.equal(1, #logged("stream"))
    end)

    it("--json gives the body, usage and request id; with --stream, event lines and an end line", function()
      local status, out = run{ "invoke", CLAUDE, BODY, "--json" }
      assert.equal(0, status)
      local doc = cjson.decode(out)
      assert.equal("You said: Hello there", doc.body.content[1].text)
      assert.same({ input_tokens = 2, output_tokens = 4 }, doc.usage)
      assert.equal(200, doc.status)
      assert.equal(logged("invoke")[1].request_id, doc.request_id)

      local st2, out2, err2 = run({ "invoke", CLAUDE, "-", "--stream", "--json" }, { stdin = BODY })
      assert.equal(0, st2)
      assert.equal("", err2)   -- --json: nothing on stderr but errors
      local ls = lines(out2)
      assert.is_true(#ls >= 3)
      assert.equal("message_start", cjson.decode(ls[1]).event.type)
      local last = cjson.decode(ls[#ls])
      assert.is_true(last["end"])
      assert.same({ input_tokens = 2, output_tokens = 4 }, last.usage)
    end)
  end)

  describe("converse and count-tokens", function()
    it("converse prints the reply text; --stream prints it as it arrives; --json for scripts", function()
      local status, out, err = run{ "converse", NOVA, "Hi you", "--system", "Be brief", "--max-tokens", "64" }
      assert.equal(0, status, err)
      assert.equal("You said: Hi you\n", out)
      assert.matches("tokens: %d+ in, 4 out", err)

      status, out = run({ "converse", NOVA, "-", "--stream" }, { stdin = "streamed prompt\n" })
      assert.equal(0, status)
      assert.equal("You said: streamed prompt\n", out)

      status, out = run{ "converse", NOVA, "Hi json", "--json" }
      assert.equal(0, status)
      local doc = cjson.decode(out)
      assert.equal("You said: Hi json", doc.text)
      assert.equal("end_turn", doc.stop_reason)
      assert.equal(4, doc.usage.output_tokens)
      assert.equal("You said: Hi json", doc.reply.output.message.content[1].text)
      local conv = logged("converse")
      assert.equal(2, #conv)
      assert.equal(1, #logged("converse_stream"))
    end)

    it("count-tokens counts a prompt (Converse input) or an invoke body from stdin", function()
      local status, out, err = run{ "count-tokens", CLAUDE, "one two three four five" }
      assert.equal(0, status, err)
      assert.equal("5\n", out)
      status, out = run({ "count-tokens", CLAUDE, "--body", "-", "--json" }, { stdin = BODY })
      assert.equal(0, status)
      local doc = cjson.decode(out)
      assert.equal(2, doc.input_tokens)
      assert.is_string(doc.request_id)
      assert.equal(2, #logged("count_tokens"))
    end)
  end)

  describe("exit statuses", function()
    it("1 when the service answers with an error (an unknown model), with the error on stderr", function()
      emu:scenario("no.such-model-v1:0", { fail_first = 100, fail_code = "ResourceNotFoundException" })
      local status, out, err = run{ "converse", "no.such-model-v1:0", "hello" }
      assert.equal(1, status)
      assert.equal("", out)
      assert.matches("^bedrock: ResourceNotFoundException %(HTTP 404%)", err)
      status, out, err = run{ "invoke", "no.such-model-v1:0", "{}", "--json" }
      assert.equal(1, status)
      local e = cjson.decode(err).error
      assert.equal("ResourceNotFoundException", e.code)
      assert.equal(404, e.status)
      assert.is_string(e.request_id)
    end)

    it("2 for a body that is not JSON or fails the model's schema, with nothing sent", function()
      local status, _, err = run{ "invoke", CLAUDE, '{"messages": [' }
      assert.equal(2, status)
      assert.matches("the body is not JSON", err, 1, true)
      status, _, err = run{ "invoke", CLAUDE, '{"anthropic_version":"bedrock-2023-05-31","max_tokens":0,"messages":[]}' }
      assert.equal(2, status)
      assert.matches("InvalidParameter", err, 1, true)
      assert.equal(0, #emu:requests())
    end)

    it("3 when the endpoint cannot be reached, 4 without credentials", function()
      local status, _, err = run({ "converse", NOVA, "hello" },
        { env = { AWS_ENDPOINT_URL = "http://127.0.0.1:1", AWS_MAX_ATTEMPTS = "1" } })
      assert.equal(3, status)
      assert.matches("ConnectionError", err, 1, true)
      status, _, err = run({ "converse", NOVA, "hello" },
        { env = { AWS_ACCESS_KEY_ID = false, AWS_SECRET_ACCESS_KEY = false } })
      assert.equal(4, status)
      assert.matches("CredentialsError", err, 1, true)
    end)
  end)

  describe("configuration shared with the library", function()
    it("takes a Bedrock API key and AWS_ENDPOINT_URL_BEDROCK_RUNTIME from the environment", function()
      local status, out, err = run({ "converse", NOVA, "with a key" }, { env = {
        AWS_ACCESS_KEY_ID = false, AWS_SECRET_ACCESS_KEY = false, AWS_ENDPOINT_URL = "http://127.0.0.1:1",
        AWS_ENDPOINT_URL_BEDROCK_RUNTIME = emu.url, AWS_BEARER_TOKEN_BEDROCK = emulator.bearer_token } })
      assert.equal(0, status, err)
      assert.equal("You said: with a key\n", out)
      assert.equal("bearer", logged("converse")[1].auth)
    end)

    it("reads a profile (--profile) from AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE; --region signs", function()
      local cfg, creds = tmpname(), tmpname()
      write_file(cfg, "[profile emu]\nregion = ap-southeast-2\nendpoint_url = " .. emu.url .. "\n")
      write_file(creds, "[emu]\naws_access_key_id = " .. emulator.credentials.access_key_id
        .. "\naws_secret_access_key = " .. emulator.credentials.secret_access_key .. "\n")
      local env = { AWS_ACCESS_KEY_ID = false, AWS_SECRET_ACCESS_KEY = false, AWS_ENDPOINT_URL = false,
        AWS_REGION = false, AWS_CONFIG_FILE = cfg, AWS_SHARED_CREDENTIALS_FILE = creds }
      local status, out, err = run({ "converse", NOVA, "from a profile", "--profile", "emu" }, { env = env })
      assert.equal(0, status, err)
      assert.equal("You said: from a profile\n", out)
      status = run({ "converse", NOVA, "elsewhere", "--profile", "emu", "--region", "eu-west-3" }, { env = env })
      assert.equal(0, status)
      local reqs = logged("converse")
      assert.equal(2, #reqs)
      local function scope(r)
        for k, v in pairs(r.headers) do
          if k:lower() == "authorization" then return v:match("Credential=[^/]+/%d+/([^/]+)/") end
        end
      end
      assert.equal("ap-southeast-2", scope(reqs[1]))
      assert.equal("eu-west-3", scope(reqs[2]))
    end)
  end)

  describe("chat", function()
    it("on a terminal: a prompt, the reply streamed, the history in the second turn, /exit", function()
      emu:scenario(CLAUDE, { log_body = true })
      local r = run_pty({ "chat", CLAUDE, "--system", "You are terse." }, {
        { expect = "> " }, { send = "What is Lua?\r" },
        { expect = "You said: What is Lua?" }, { expect = "tokens:" }, { expect = "> " },
        { send = "And C?\r" }, { expect = "You said: And C?" }, { expect = "> " },
        { send = "/exit\r" },
      })
      assert.is_true(r.ok, r.output)
      assert.equal(0, r.status, r.output)
      local reqs = logged("stream")
      assert.equal(2, #reqs)
      local second = cjson.decode(reqs[2].body)
      assert.equal("You are terse.", second.system)
      assert.equal(3, #second.messages)
      assert.equal("What is Lua?", second.messages[1].content[1].text)
      assert.equal("assistant", second.messages[2].role)
      assert.equal("You said: What is Lua?", second.messages[2].content[1].text)
      assert.equal("And C?", second.messages[3].content[1].text)
    end)

    it("streams as the reply arrives; Ctrl-C stops a reply (forgotten), Ctrl-C at the prompt ends with 130", function()
      emu:scenario(NOVA, { log_body = true, text = "one two three four five six seven eight nine ten",
        event_delay_ms = 400 })
      local r = run_pty({ "chat", NOVA }, {
        { expect = "> " }, { send = "count slowly\r" },
        { expect = "one" },          -- the first delta is on the terminal long before the last
        { send = "\3" },
        { expect = "(reply interrupted)" }, { expect = "> " },
        { sleep = 0.3 },             -- past the prompt's write, into the read
        { send = "\3" },
      })
      assert.is_true(r.ok, r.output)
      assert.equal(130, r.status, r.output)
      assert.is_nil(r.output:find("ten", 1, true))
      local reqs = logged("converse_stream")
      assert.equal(1, #reqs)
      -- the stream was cut by the client, not finished by the emulator
      assert.is_nil(r.output:find("tokens:", 1, true))
    end)

    it("after an interrupted turn the next turn carries the history without it; Ctrl-D ends with 0", function()
      emu:scenario(NOVA, { log_body = true, event_delay_ms = 300 })
      local r = run_pty({ "chat", NOVA }, {
        { expect = "> " }, { send = "first question here\r" }, { expect = "You said: first question here" },
        { expect = "> " }, { send = "cut this one short please\r" }, { expect = "You said:" }, { send = "\3" },
        { expect = "(reply interrupted)" }, { expect = "> " },
        { send = "third\r" }, { expect = "You said: third" }, { expect = "> " }, { send = "\4" },
      })
      assert.is_true(r.ok, r.output)
      assert.equal(0, r.status, r.output)
      local reqs = logged("converse_stream")
      assert.equal(3, #reqs)
      local third = cjson.decode(reqs[3].body)
      assert.equal(3, #third.messages)
      assert.equal("first question here", third.messages[1].content[1].text)
      assert.equal("third", third.messages[3].content[1].text)
    end)

    it("without a terminal: no prompt, one reply per line, end of input ends it", function()
      local status, out, err = run({ "chat", CLAUDE }, { stdin = "first\nsecond\n" })
      assert.equal(0, status, err)
      assert.equal("You said: first\nYou said: second\n", out)
      assert.is_nil(err:find("> ", 1, true))
      assert.equal(2, #logged("stream"))
      status, out = run({ "chat", NOVA, "--json" }, { stdin = "one\n\n/reset\ntwo\n/exit\nnot sent\n" })
      assert.equal(0, status)
      local ls = lines(out)
      assert.equal(2, #ls)
      assert.equal("You said: one", cjson.decode(ls[1]).text)
      local second = cjson.decode(ls[2])
      assert.equal("You said: two", second.text)
      assert.equal(1, second.usage.input_tokens)   -- /reset: the first turn is not sent again
    end)

    it("--mcp: the model calls an MCP server's tools, a line per call on stderr, --json lists them", function()
      local everything = "node " .. quote(ROOT .. "/spec/support/npm/node_modules/@modelcontextprotocol/"
        .. "server-everything/dist/index.js")
      emu:scenario(CLAUDE, { log_body = true, tool_rounds = { { name = "echo", input = { message = "from the CLI" } } } })
      local status, out, err = run({ "chat", CLAUDE, "--mcp", everything }, { stdin = "use the echo tool\n" })
      assert.equal(0, status, err)
      assert.equal("Using a tool.\nTool results: Echo: from the CLI\n", out)
      assert.matches("[echo] ok\n", err, 1, true)
      local reqs = logged("stream")
      assert.equal(2, #reqs)
      local names = {}
      for _, t in ipairs(cjson.decode(reqs[1].body).tools) do names[t.name] = true end
      assert.is_true(names.echo and names["get-sum"])
      status, out = run({ "chat", CLAUDE, "--json", "--mcp", everything }, { stdin = "once more\n" })
      assert.equal(0, status)
      local doc = cjson.decode(lines(out)[1])
      assert.equal("Tool results: Echo: from the CLI", doc.text)
      assert.same({ { name = "echo", is_error = false } }, doc.tools)
    end)

    it("--mcp: Ctrl-C during a tool loop's reply stops the turn, and the chat goes on", function()
      local fake = "lua5.4 " .. quote(ROOT .. "/spec/support/mcp_fake.lua")
      emu:scenario(CLAUDE, { event_delay_ms = 300, tool_rounds = { { name = "echo", input = { message = "x" },
        text = "one two three four five six seven eight" } } })
      local r = run_pty({ "chat", CLAUDE, "--mcp", fake }, {
        { expect = "> " }, { send = "go\r" }, { expect = "one" }, { send = "\3" },
        { expect = "(reply interrupted)" }, { expect = "> " }, { send = "\4" },
      })
      assert.is_true(r.ok, r.output)
      assert.equal(0, r.status, r.output)
      assert.is_nil(r.output:find("eight", 1, true))
      assert.is_nil(r.output:find("[echo]", 1, true))
    end)

    it("--mcp: a server that dies mid-call is an error result and the chat goes on; a bad command fails", function()
      local fake = "lua5.4 " .. quote(ROOT .. "/spec/support/mcp_fake.lua")
      emu:scenario(CLAUDE, { tool_rounds = { { name = "die", input = {} } } })
      local status, out, err = run({ "chat", CLAUDE, "--mcp", fake }, { stdin = "die please\nand then?\n" })
      assert.equal(0, status, err)
      local ls = lines(out)
      assert.equal(4, #ls, out)
      assert.matches("^Tool results: error: McpClosed: .*exit status 3", ls[2])
      assert.matches("[die] error: McpClosed", err, 1, true)
      assert.matches("^Tool results: error: McpClosed", ls[4])   -- the second turn: still answered
      status, _, err = run({ "chat", CLAUDE, "--mcp", "/nonexistent/mcp-server" }, { stdin = "hi\n" })
      assert.equal(1, status)
      assert.matches("McpClosed: mcp-server: the server has gone (exit status 127)", err, 1, true)
    end)

    it("ends with the error's status when a turn fails and no terminal can answer", function()
      emu:scenario(NOVA, { fail_first = 100, fail_code = "AccessDeniedException" })
      local status, _, err = run({ "chat", NOVA }, { stdin = "hello\nagain\n" })
      assert.equal(1, status)
      assert.matches("AccessDeniedException", err, 1, true)
      assert.equal(1, #logged("converse_stream"))
    end)
  end)

  it("Ctrl-C ends invoke --stream with 130 and aborts the transfer", function()
    emu:scenario(CLAUDE, { event_delay_ms = 500, text = "alpha beta gamma delta epsilon zeta eta theta" })
    local r = run_pty({ "invoke", CLAUDE, BODY, "--stream" }, {
      { expect = "alpha" }, { send = "\3" }, { expect = "interrupted" },
    })
    assert.is_true(r.ok, r.output)
    assert.equal(130, r.status, r.output)
    assert.is_nil(r.output:find("theta", 1, true))
  end)

  it("Ctrl-C cuts a retry's wait short", function()
    emu:scenario(NOVA, { fail_first = 5, fail_code = "ThrottlingException", retry_after = "20" })
    local r = run_pty({ "converse", NOVA, "hello" }, { { sleep = 1 }, { send = "\3" }, { expect = "interrupted" } },
      { AWS_MAX_ATTEMPTS = "3" })
    assert.is_true(r.ok, r.output)
    assert.equal(130, r.status, r.output)
    assert.equal(1, #logged("converse"))   -- still waiting before the second attempt
  end)

  it("exits 2 on a bad configuration value from the environment", function()
    local status, _, err = run({ "converse", NOVA, "hello" }, { env = { AWS_MAX_ATTEMPTS = "many" } })
    assert.equal(2, status)
    assert.matches("InvalidParameter", err, 1, true)
    status, _, err = run{ "converse", NOVA, "hello", "--timeout", "soon" }
    assert.equal(2, status)
    assert.matches("--timeout must be a number", err, 1, true)
  end)

  it("runs the README's shell example as written (the emulator's URL put in)", function()
    local f = assert(io.open(ROOT .. "/README.md", "rb"))
    local text = f:read("*a")
    f:close()
    local a = assert(text:find("## The bedrock command", 1, true))
    local b = assert(text:find("## The local emulator", a, true))
    local block = assert(text:sub(a, b):match("```sh\n(.-)```"))
    block = block:gsub("http://127%.0%.0%.1:4566", emu.url)
    local script = tmpname()
    write_file(script, "set -e\nexport PATH=" .. quote(ROOT .. "/bin") .. ":$PATH\n" .. block)
    local out = tmpname()
    local ok = child.execute(string.format("cd / && env -i PATH=%s HOME=%s bash %s > %s 2>&1 < /dev/null",
      quote(os.getenv("PATH")), quote(home), quote(script), quote(out)))
    local printed = read_file(out)
    assert.is_true(ok, printed)
    assert.matches("You said: Hello!\n", printed, 1, true)
    assert.matches('"text":"You said: Hi"', printed, 1, true)
    assert.equal(1, #logged("count_tokens"))
    assert.equal(1, #logged("stream"))
    assert.equal(1, #logged("invoke"))
  end)

  it("`bedrock emulator` runs until Ctrl-C, then exits with 0", function()
    local r = run_pty({ "emulator", "--port", "0" }, { { expect = "emulator listening on http://127.0.0.1:" },
      { send = "\3" } })
    assert.is_true(r.ok, r.output)
    assert.equal(0, r.status, r.output)
  end)

  it("`bedrock emulator` starts the emulator, which answers an invoke", function()
    local base = tmpname()
    local port_file = base .. ".port"
    scratch[#scratch + 1] = port_file
    local pipe = assert(io.popen(string.format("cd / && %s %s emulator --port 0 --port-file %s --exit-on-stdin-eof --quiet",
      env_prefix(), quote(BEDROCK), quote(port_file)), "w"))
    local port
    for _ = 1, 500 do
      port = tonumber((read_file(port_file) or ""):match("%d+"))
      if port then break end
      os.execute("sleep 0.02")
    end
    assert.is_number(port)
    local status, out, err = run({ "invoke", CLAUDE, BODY }, { env = { AWS_ENDPOINT_URL = "http://127.0.0.1:" .. port } })
    pipe:write("quit\n")
    pipe:flush()
    local ok = pipe:close()
    assert.equal(0, status, err)
    assert.equal("You said: Hello there", cjson.decode(out).content[1].text)
    assert.is_true(ok)
    assert.equal(0, #emu:requests())   -- the spec's own emulator saw nothing
  end)
end)
