--- The `bedrock` command (bin/bedrock): try a model or a prompt from a
-- terminal. `cli.main(argv)` runs one command line and returns its exit
-- status; bin/bedrock is `os.exit(require("bedrock.cli").main(arg), true)`.
--
-- The client is `bedrock.client` with only what the command line says
-- (--region, --profile, --endpoint-url, --timeout, --no-validate): the rest
-- (credentials, API keys, AWS_ENDPOINT_URL*, profiles, retries) resolves
-- exactly as it does for the library.
--
-- Ctrl-C: SIGINT only sets a flag (bedrock.core.sigint_catch); the client's
-- waits are checked against it between engine pumps, and a set flag raises
-- cli.INTERRUPTED out of the call or the stream's loop, whose closing value
-- aborts the transfer. The handler has no SA_RESTART, so a pump or a read
-- blocked at that moment returns at once.
local compat = require "bedrock.compat"
local cjson = require "cjson"
local bedrock = require "bedrock"
local core = require "bedrock.core"
local errors = require "bedrock.errors"

local cli = {}

-- Replies are printed as JSON again: where lua-cjson can (2.1.0.x of
-- openresty's line; not Debian's 2.1.0), decoded arrays keep their kind, so
-- an empty list prints as [] and not {} (this process's cjson only).
if cjson.decode_array_with_array_mt then cjson.decode_array_with_array_mt(true) end

--- Exit statuses, for a shell to tell what failed.
cli.EXIT = {
  ok = 0,
  service = 1,       -- the service or the model answered with an error
  usage = 2,         -- a bad command line, option or body (nothing sent)
  connection = 3,    -- no connection, a timeout, TLS, or a broken stream
  credentials = 4,   -- no usable credentials
  interrupted = 130, -- Ctrl-C (128 + SIGINT, as shells report it)
}

--- What a Ctrl-C raises inside a call (compared by identity).
cli.INTERRUPTED = setmetatable({}, { __tostring = function() return "interrupted" end })

local CONNECTION_CODES = { ConnectionError = true, TimeoutError = true, TLSError = true, EventStreamError = true }

--- The exit status for an error object (or the interrupt).
function cli.exit_code(err)
  if err == cli.INTERRUPTED then return cli.EXIT.interrupted end
  if not errors.is(err) then return cli.EXIT.service end
  if err.code == "InvalidParameter" then return cli.EXIT.usage end
  if err.code == "CredentialsError" then return cli.EXIT.credentials end
  if CONNECTION_CODES[err.code] then return cli.EXIT.connection end
  return cli.EXIT.service
end

-- ------------------------------------------------------------------ help

local GLOBAL_HELP = [[
Options of every verb:
  --region REGION        region (else AWS_REGION, AWS_DEFAULT_REGION, the profile's, us-west-2)
  --profile NAME         profile of ~/.aws/config and ~/.aws/credentials (else AWS_PROFILE)
  --endpoint-url URL     endpoint (else AWS_ENDPOINT_URL_BEDROCK_RUNTIME, AWS_ENDPOINT_URL, the profile's)
  --timeout SECONDS      connect timeout and longest silence (default 30)
  --no-validate          send invoke bodies without checking them against the model family's schema
  --json                 machine-readable output on stdout, errors as JSON on stderr
  -q, --quiet            no token counts on stderr
  -h, --help             this help
Credentials, API keys (AWS_BEARER_TOKEN_BEDROCK) and retries come from the environment and the
AWS files as for the library (README "Configuration" and "Credentials").
Exit status: 0 ok, 1 the service or model answered with an error, 2 bad usage or input (nothing
sent), 3 no connection, a timeout or a broken stream, 4 no usable credentials, 130 Ctrl-C.
]]

local HELP = {
  main = [[
usage: bedrock VERB [OPTIONS] ARGS

Verbs:
  chat MODEL                      an interactive conversation, replies streamed
  invoke MODEL [BODY|-]           InvokeModel with a JSON body (argument or stdin); --stream
  converse MODEL PROMPT|-         one Converse turn; --stream
  count-tokens MODEL [PROMPT|-]   CountTokens of a prompt (or --body BODY|- for an invoke body)
  emulator [--port N]             the local Bedrock Runtime emulator (Python 3)
  help [VERB]                     help of a verb

`bedrock VERB --help` shows a verb's options.
]],
  chat = [[
usage: bedrock chat MODEL [--system TEXT] [--max-tokens N] [--temperature T] [--api invoke|converse]
                   [--mcp "CMD ARGS"]

An interactive conversation with MODEL (bedrock.conversation): each line you type is a user turn,
the reply is streamed as it arrives, and the history goes with every turn. On a terminal a prompt
("> ") is shown on stderr. /exit, /quit or end of input (Ctrl-D) ends the chat; /reset forgets the
history. Ctrl-C during a reply stops it (the turn is forgotten); Ctrl-C at the prompt ends the chat
(status 130). Claude model ids use InvokeModel (Anthropic Messages), others Converse (--api picks).
With --json each reply is one JSON line on stdout: {"text", "stop_reason", "usage"}.
--mcp "CMD ARGS" starts that MCP server (a shell command line, over stdio) and gives the model its
tools: each turn runs the tools the model asks for until it answers (conv:run), a line per tool
call on stderr ("[echo] ok"); with --json the line has "tools": [{"name", "is_error"}].
]],
  invoke = [[
usage: bedrock invoke MODEL [BODY|-] [--stream] [--content-type TYPE] [--accept TYPE]

InvokeModel with BODY (JSON text; "-" or no BODY reads it from stdin). The reply goes to stdout as
JSON; token counts to stderr. --stream uses InvokeModelWithResponseStream and prints each event
as one JSON line as it arrives. With --json: {"body", "usage", "request_id", "status"}, or with
--stream one {"event": ...} line per event and a last {"end": true, "usage", "request_id"} line.
]],
  converse = [[
usage: bedrock converse MODEL PROMPT|- [--system TEXT] [--max-tokens N] [--temperature T] [--stream]

One Converse turn: PROMPT ("-" reads it from stdin) as the user message; the reply text goes to
stdout (streamed with --stream, ConverseStream), token counts to stderr. With --json:
{"text", "stop_reason", "usage", "request_id", "reply"} (reply: the Converse response as decoded;
with --stream the events are not kept and reply is absent).
]],
  ["count-tokens"] = [[
usage: bedrock count-tokens MODEL [PROMPT|-] [--system TEXT]
       bedrock count-tokens MODEL --body BODY|-

CountTokens: the input tokens MODEL would count for PROMPT as a Converse user message (with
--system), or for an InvokeModel BODY (JSON text; "-" reads stdin). Prints the number; with --json
{"input_tokens", "request_id"}.
]],
  emulator = [[
usage: bedrock emulator [--port N] [EMULATOR OPTIONS...]

Runs the local Bedrock Runtime emulator (the emulator.py installed with lua-bedrock) on 127.0.0.1,
port N (default 4566; 0 picks a free one), until Ctrl-C. Other options go to the emulator as they
are: --port-file PATH, --quiet, --exit-on-stdin-eof, --parent-pid PID, --tls-cert PEM, --tls-key PEM,
--tls-h2. Its test keys: AKIAEMULATOREXAMPLE1 / emulator+secret/EXAMPLEKEY0000000000000, or the API
key emulator-bedrock-api-key. Python: $BEDROCK_EMULATOR_PYTHON, else /usr/bin/python3 (Debian's has
python3-h2, which HTTP/2 needs), else python3. The script: $BEDROCK_EMULATOR_SCRIPT, else emulator.py
beside this module (installed), else spec/support/emulator.py of the checkout.
]],
}

-- ------------------------------------------------------------- arguments

-- Options taking a value, per verb (the global ones apply to every verb).
local GLOBAL_VALUED = { region = true, profile = true, ["endpoint-url"] = true, timeout = true }
local GLOBAL_FLAGS = { json = true, quiet = true, help = true, ["no-validate"] = true }
local VERB_OPTIONS = {
  chat = { system = "value", ["max-tokens"] = "value", temperature = "value", api = "value", mcp = "value" },
  invoke = { stream = "flag", ["content-type"] = "value", accept = "value" },
  converse = { system = "value", ["max-tokens"] = "value", temperature = "value", stream = "flag" },
  ["count-tokens"] = { system = "value", body = "value" },
  emulator = { port = "value" },
}
local SHORT = { q = "quiet", h = "help" }

local UsageError = {}
local function usage_error(msg) error(setmetatable({ message = msg }, UsageError), 0) end

--- Split argv (after the verb) into options and positional arguments.
-- The emulator verb keeps options it does not know, in order, for emulator.py.
local function parse(verb, argv, first)
  local opts, args, passthrough = {}, {}, {}
  local known = VERB_OPTIONS[verb] or {}
  local i = first
  while i <= #argv do
    local a = argv[i]
    if a == "--" then
      for j = i + 1, #argv do args[#args + 1] = argv[j] end
      break
    end
    local name, value = a:match("^%-%-([%w%-]+)=(.*)$")
    if not name then name = a:match("^%-%-([%w%-]+)$") end
    if not name and a:match("^%-%a$") then name = SHORT[a:sub(2)] or a end
    if name and (GLOBAL_VALUED[name] or known[name] == "value") then
      if value == nil then
        i = i + 1
        value = argv[i]
        if value == nil then usage_error("--" .. name .. " needs a value") end
      end
      opts[name] = value
    elseif name and (GLOBAL_FLAGS[name] or known[name] == "flag") then
      if value ~= nil then usage_error("--" .. name .. " takes no value") end
      opts[name] = true
    elseif verb == "emulator" and a:match("^%-") then
      -- emulator.py's own options (and their values) go through as they are
      passthrough[#passthrough + 1] = a
      local nxt = argv[i + 1]
      if not value and nxt and not nxt:match("^%-") and a ~= "--quiet" and a ~= "--exit-on-stdin-eof"
          and a ~= "--tls-h2" then
        passthrough[#passthrough + 1] = nxt
        i = i + 1
      end
    elseif a:match("^%-.") then
      usage_error("unknown option " .. a .. (verb and (" for " .. verb) or ""))
    else
      args[#args + 1] = a
    end
    i = i + 1
  end
  return opts, args, passthrough
end

local function number_option(opts, name, integer)
  local v = opts[name]
  if v == nil then return nil end
  local n = tonumber(v)
  if not n or n ~= n or (integer and not compat.isinteger(n) and n ~= math.floor(n)) then
    usage_error("--" .. name .. " must be a" .. (integer and "n integer" or " number") .. ", got " .. v)
  end
  return integer and compat.tointeger(n) or n
end

-- ---------------------------------------------------------------- output

local Output = {}
Output.__index = Output

local function new_output(opts, stdout, stderr)
  return setmetatable({ json = opts.json, quiet = opts.quiet, out = stdout, err = stderr }, Output)
end

function Output:write(s)
  self.out:write(s)
  self.out:flush()
end

function Output:json_line(doc)
  self.out:write(cjson.encode(doc), "\n")
  self.out:flush()
end

--- { input_tokens, output_tokens } of a meta's usage (plain integers; absent counts left out).
local function usage_of(u)
  if type(u) ~= "table" then return {} end
  local t = {}
  for _, k in ipairs{ "input_tokens", "output_tokens", "cache_read_input_tokens", "cache_write_input_tokens" } do
    local n = tonumber(u[k])
    if n then t[k] = compat.tointeger(n) or n end
  end
  return t
end

--- "tokens: 12 in, 5 out" on stderr (unless --quiet or --json).
function Output:usage(u, latency_ms)
  if self.quiet or self.json then return end
  u = usage_of(u)
  local parts = { "tokens: " .. tostring(u.input_tokens or "?") .. " in, " .. tostring(u.output_tokens or "?") .. " out" }
  if u.cache_read_input_tokens and u.cache_read_input_tokens > 0 then
    parts[#parts + 1] = u.cache_read_input_tokens .. " cache read"
  end
  if u.cache_write_input_tokens and u.cache_write_input_tokens > 0 then
    parts[#parts + 1] = u.cache_write_input_tokens .. " cache write"
  end
  local line = table.concat(parts, ", ")
  if latency_ms then line = line .. string.format(" (%.2f s)", latency_ms / 1000) end
  self.err:write(line, "\n")
end

--- Report an error on stderr (text, or one JSON object with --json); returns its exit status.
function Output:fail(err)
  local code = cli.exit_code(err)
  if err == cli.INTERRUPTED then
    if self.json then
      self.err:write(cjson.encode{ error = { code = "Interrupted", message = "interrupted" } }, "\n")
    else
      self.err:write("\nbedrock: interrupted\n")
    end
    return code
  end
  if self.json then
    local e = { code = err.code or "Error", message = tostring(err.message or err) }
    if errors.is(err) then
      e.status, e.request_id, e.retryable, e.path = err.status, err.request_id, err.retryable, err.path
      e.attempts = err.attempts
    end
    self.err:write(cjson.encode{ error = e }, "\n")
  else
    self.err:write("bedrock: ", tostring(err), "\n")
  end
  return code
end

-- --------------------------------------------------------------- helpers

local function read_all(fh)
  local s = fh:read("*a")
  if s == nil and core.sigint_caught() then error(cli.INTERRUPTED, 0) end
  return s or ""
end

--- BODY from the argument, or stdin for "-" or none; checked as JSON
-- unless the content type says otherwise.
local function body_argument(arg, stdin, content_type)
  local body = (arg == nil or arg == "-") and read_all(stdin) or arg
  if content_type == nil or content_type:find("json", 1, true) then
    local ok, doc = pcall(cjson.decode, body)
    if not ok then
      usage_error("the body is not JSON: " .. tostring(doc):gsub("^.-:%d+: ", ""))
    end
    return body, doc
  end
  return body
end

local function prompt_argument(arg, stdin)
  if arg == nil then return nil end
  if arg == "-" then return (read_all(stdin):gsub("\n$", "")) end
  return arg
end

--- The client for a command line: bedrock.client with only what the options say.
local function make_client(opts)
  local cfg = {}
  cfg.region_name = opts.region
  cfg.profile_name = opts.profile
  cfg.endpoint_url = opts["endpoint-url"]
  cfg.timeout = number_option(opts, "timeout")
  if opts["no-validate"] then cfg.validate = false end
  local ok, client = pcall(bedrock.client, cfg)
  if not ok then
    if errors.is(client) then error(client, 0) end
    error(errors.invalid(tostring(client)), 0)
  end
  return client
end

--- Make a client's waits end at Ctrl-C: after each engine pump (which
-- SIGINT interrupts) and each slice of a retry's sleep, a caught SIGINT
-- raises cli.INTERRUPTED.
local function watch_interrupts(client)
  local driver = rawget(client, "_driver") or rawget(client, "driver")
  if type(driver) ~= "table" or type(driver.wait) ~= "function" then
    -- no waits to watch: rather than a Ctrl-C that nothing sees, the default (the process ends)
    core.sigint_restore()
    return
  end
  local wait, sleep = driver.wait, driver.sleep
  driver.wait = function(...)
    wait(...)
    if core.sigint_caught() then error(cli.INTERRUPTED, 0) end
  end
  driver.sleep = function(seconds)
    local deadline = core.now() + seconds
    while true do
      if core.sigint_caught() then error(cli.INTERRUPTED, 0) end
      local left = deadline - core.now()
      if left <= 0 then return end
      sleep(math.min(left, 0.05))
    end
  end
end

local function check_interrupt()
  if core.sigint_caught() then error(cli.INTERRUPTED, 0) end
end

local function need_model(args, verb)
  local model = args[1]
  if not model or model == "" then usage_error(verb .. " needs a MODEL id") end
  return model
end

local function too_many(args, n, verb)
  if #args > n then usage_error("too many arguments for " .. verb .. ": " .. args[n + 1]) end
end

--- The text blocks of a Converse reply, joined.
local function converse_text(reply)
  local parts = {}
  local msg = type(reply) == "table" and type(reply.output) == "table" and reply.output.message
  if type(msg) == "table" and type(msg.content) == "table" then
    for _, b in ipairs(msg.content) do
      if type(b) == "table" and type(b.text) == "string" then parts[#parts + 1] = b.text end
    end
  end
  return table.concat(parts)
end

-- ------------------------------------------------------------------ verbs

local verbs = {}

function verbs.invoke(ctx)
  local opts, args, out = ctx.opts, ctx.args, ctx.out
  local model = need_model(args, "invoke")
  too_many(args, 2, "invoke")
  local body = body_argument(args[2], ctx.stdin, opts["content-type"])
  local client = ctx.closing(make_client(opts))
  watch_interrupts(client)
  local params = { model_id = model, body = body, content_type = opts["content-type"], accept = opts.accept }
  if not opts.stream then
    local reply, meta = client:invoke_model(params)
    if reply == nil then return out:fail(meta) end
    if out.json then
      out:json_line{ body = reply, usage = usage_of(meta.usage), request_id = meta.request_id, status = meta.status }
    else
      out:write((type(reply) == "table" and cjson.encode(reply) or tostring(reply)) .. "\n")
      out:usage(meta.usage, meta.latency_ms)
    end
    return cli.EXIT.ok
  end
  -- without --json each event is printed as the model sent it (raw)
  params.raw = not out.json
  local stream = ctx.closing(client:invoke_model_with_response_stream(params))
  while true do
    local ev, err = stream:next()
    if err then return out:fail(err) end
    if ev == nil then break end
    if out.json then
      out:json_line{ event = ev }
    else
      out:write((type(ev) == "table" and cjson.encode(ev) or tostring(ev)) .. "\n")
    end
    check_interrupt()
  end
  local meta = stream:get_meta() or {}
  if out.json then
    out:json_line{ ["end"] = true, usage = usage_of(meta.usage), request_id = meta.request_id }
  else
    out:usage(meta.usage, meta.latency_ms)
  end
  return cli.EXIT.ok
end

local function converse_params(opts, model, prompt)
  local params = { model_id = model, messages = { { role = "user", content = { { text = prompt } } } } }
  if opts.system then params.system = { { text = opts.system } } end
  local ic = {}
  ic.max_tokens = number_option(opts, "max-tokens", true)
  ic.temperature = number_option(opts, "temperature")
  if next(ic) then params.inference_config = ic end
  return params
end

function verbs.converse(ctx)
  local opts, args, out = ctx.opts, ctx.args, ctx.out
  local model = need_model(args, "converse")
  too_many(args, 2, "converse")
  local prompt = prompt_argument(args[2], ctx.stdin)
  if not prompt or prompt == "" then usage_error("converse needs a PROMPT (or - to read it from stdin)") end
  local params = converse_params(opts, model, prompt)
  local client = ctx.closing(make_client(opts))
  watch_interrupts(client)
  if not opts.stream then
    local reply, meta = client:converse(params)
    if reply == nil then return out:fail(meta) end
    local text = converse_text(reply)
    if out.json then
      out:json_line{ text = text, stop_reason = reply.stopReason, usage = usage_of(meta.usage),
        request_id = meta.request_id, reply = reply }
    else
      out:write(text .. "\n")
      out:usage(meta.usage, meta.latency_ms)
    end
    return cli.EXIT.ok
  end
  local stream = ctx.closing(client:converse_stream(params))
  local text, stop_reason = {}, nil
  while true do
    local ev, err = stream:next()
    if err then
      if not out.json and #text > 0 then out:write("\n") end
      return out:fail(err)
    end
    if ev == nil then break end
    if ev.type == "contentBlockDelta" and type(ev.delta) == "table" and type(ev.delta.text) == "string" then
      text[#text + 1] = ev.delta.text
      if not out.json then out:write(ev.delta.text) end
    elseif ev.type == "messageStop" then
      stop_reason = ev.stopReason
    end
    check_interrupt()
  end
  local meta = stream:get_meta() or {}
  if out.json then
    out:json_line{ text = table.concat(text), stop_reason = stop_reason, usage = usage_of(meta.usage),
      request_id = meta.request_id }
  else
    out:write("\n")
    out:usage(meta.usage, meta.latency_ms)
  end
  return cli.EXIT.ok
end

verbs["count-tokens"] = function(ctx)
  local opts, args, out = ctx.opts, ctx.args, ctx.out
  local model = need_model(args, "count-tokens")
  too_many(args, 2, "count-tokens")
  local input
  if opts.body then
    if args[2] then usage_error("count-tokens takes a PROMPT or --body, not both") end
    if opts.system then usage_error("--system goes with a PROMPT, not with --body") end
    local _, doc = body_argument(opts.body, ctx.stdin)
    input = { invoke_model = { body = doc } }
  else
    local prompt = prompt_argument(args[2], ctx.stdin)
    if not prompt or prompt == "" then
      usage_error("count-tokens needs a PROMPT (or - for stdin, or --body BODY|- for an invoke body)")
    end
    local c = { messages = { { role = "user", content = { { text = prompt } } } } }
    if opts.system then c.system = { { text = opts.system } } end
    input = { converse = c }
  end
  local client = ctx.closing(make_client(opts))
  watch_interrupts(client)
  local reply, meta = client:count_tokens{ model_id = model, input = input }
  if reply == nil then return out:fail(meta) end
  local n = tonumber(reply.inputTokens)
  n = n and (compat.tointeger(n) or n)
  if out.json then
    out:json_line{ input_tokens = n, request_id = meta.request_id }
  else
    out:write(tostring(n) .. "\n")
  end
  return cli.EXIT.ok
end

--- Whether fd 0 is a terminal (`test -t 0` sees this process's stdin).
local function stdin_is_tty()
  local ok = os.execute("test -t 0")
  return ok == true
end

function verbs.chat(ctx)
  local opts, args, out = ctx.opts, ctx.args, ctx.out
  local model = need_model(args, "chat")
  too_many(args, 1, "chat")
  local conv_opts = { model_id = model, system = opts.system, api = opts.api }
  if opts.api and opts.api ~= "invoke" and opts.api ~= "converse" then
    usage_error("--api must be invoke or converse, got " .. opts.api)
  end
  conv_opts.max_tokens = number_option(opts, "max-tokens", true)
  if conv_opts.max_tokens and conv_opts.max_tokens <= 0 then usage_error("--max-tokens must be positive") end
  local temperature = number_option(opts, "temperature")
  local ok, conv = pcall(bedrock.conversation.new, conv_opts)
  if not ok then error(conv, 0) end
  if temperature then
    -- the field is the body's (invoke) or inference_config's (converse)
    conv_opts.api = conv.api
    conv_opts.params = conv.api == "invoke" and { temperature = temperature }
      or { inference_config = { temperature = temperature } }
    conv = bedrock.conversation.new(conv_opts)
  end
  local client = ctx.closing(make_client(opts))
  watch_interrupts(client)
  -- --mcp: the server's tools join every conversation of this chat (from_json and /reset too)
  local server
  if opts.mcp then
    local merr
    server, merr = require("bedrock.mcp").connect{ command = opts.mcp }
    if not server then error(merr, 0) end
  end
  ctx.closing(server)
  local function with_tools(c)
    if server then
      local added, aerr = c:add_mcp(server)
      if not added then error(aerr, 0) end
    end
    return c
  end
  conv = with_tools(conv)
  local tty = ctx.tty
  if tty == nil then tty = stdin_is_tty() end
  if tty and not out.json then
    ctx.stderr:write("chat with ", model, " (", conv.api, "): /exit or Ctrl-D ends, /reset forgets the history\n")
  end
  local status = cli.EXIT.ok
  while true do
    -- cleared before the prompt: a Ctrl-C typed once it shows must count
    core.sigint_caught(true)
    if tty then
      ctx.stderr:write("> ")
      ctx.stderr:flush()
    end
    local line
    if not core.sigint_caught() then line = ctx.stdin:read("*l") end
    if line == nil then
      if core.sigint_caught(true) then
        if tty then ctx.stderr:write("\n") end
        return cli.EXIT.interrupted
      end
      if tty then ctx.stderr:write("\n") end
      return status
    end
    line = line:gsub("^%s+", ""):gsub("%s+$", "")
    if line == "/exit" or line == "/quit" then return status end
    if line == "/reset" then
      conv = with_tools(bedrock.conversation.new(conv_opts))
      ctx.stderr:write("(history cleared)\n")
    elseif line ~= "" then
      -- a turn that fails or is interrupted is forgotten: the history goes back to before it
      local saved = conv:to_json()
      conv:user(line)
      local stream = not server and conv:stream(client) or nil
      local wrote = false
      local ran, tools_used
      local turn_ok, err = pcall(function()
        if server then
          -- a tool loop: the text of every model turn as it streams, a line per tool call
          local reply, run_or_err = conv:run(client, {
            on_event = function(ev)
              if type(ev) == "table" and type(ev.delta) == "table" and type(ev.delta.text) == "string"
                  and not out.json then
                out:write(ev.delta.text)
                wrote = true
              end
              check_interrupt()
            end,
            on_tool = function(phase, step)
              if phase ~= "done" or out.json then return end
              if wrote then out:write("\n"); wrote = false end
              ctx.stderr:write("[", step.name, "] ", step.is_error and ("error: " .. tostring(step.error
                or "the tool reported an error")) or "ok", "\n")
            end,
          })
          if not reply then
            local rerr = run_or_err
            if errors.is(rerr) and rerr.code == "CallbackError" and rerr.cause ~= nil then error(rerr.cause, 0) end
            error(rerr, 0)
          end
          local run = run_or_err
          ran, tools_used = reply, {}
          for i, step in ipairs(run.steps) do tools_used[i] = { name = step.name, is_error = step.is_error or false } end
          ran.usage = run.usage
          return
        end
        local s = stream
        while true do
          local ev, serr = s:next()
          if serr then error(serr, 0) end
          if ev == nil then break end
          local text
          if type(ev) == "table" and type(ev.delta) == "table" and type(ev.delta.text) == "string"
              and (ev.type == "content_block_delta" or ev.type == "contentBlockDelta") then
            text = ev.delta.text
          end
          if text and not out.json then
            out:write(text)
            wrote = true
          end
          check_interrupt()
        end
      end)
      -- a turn that failed or was interrupted aborts its stream at once
      if not turn_ok and stream then stream:close() end
      if turn_ok then
        local reply = ran or stream:reply()
        local meta = stream and stream:get_meta() or {}
        if out.json then
          out:json_line{ text = reply and reply.text or "", stop_reason = reply and reply.stop_reason,
            usage = usage_of(reply and reply.usage), request_id = meta.request_id, tools = tools_used }
        else
          out:write("\n")
          out:usage(reply and reply.usage, meta.latency_ms)
        end
      else
        if wrote then out:write("\n") end
        conv = with_tools(assert(bedrock.conversation.from_json(saved)))
        if err == cli.INTERRUPTED then
          if out.json then out:fail(err) else ctx.stderr:write("(reply interrupted)\n") end
          core.sigint_caught(true)
        else
          local code = out:fail(err)
          -- without a terminal nobody can answer the error: it ends the chat
          if not tty then return code end
          status = code
        end
      end
    end
  end
end

--- Where emulator.py is: $BEDROCK_EMULATOR_SCRIPT, else beside this module
-- (installed by the rockspec and make install), else the checkout's spec/support.
function cli.emulator_script()
  local env = os.getenv("BEDROCK_EMULATOR_SCRIPT")
  if env and env ~= "" then return env end
  local here = debug.getinfo(1, "S").source
  local dir = here:sub(1, 1) == "@" and here:sub(2):match("^(.*)/[^/]*$") or "."
  for _, candidate in ipairs{ dir .. "/emulator.py", dir .. "/../../spec/support/emulator.py" } do
    local f = io.open(candidate, "rb")
    if f then
      f:close()
      return candidate
    end
  end
  return nil, "emulator.py is not installed beside " .. dir .. " (set BEDROCK_EMULATOR_SCRIPT)"
end

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

function verbs.emulator(ctx)
  local opts, args = ctx.opts, ctx.args
  if #args > 0 then usage_error("emulator takes options only, got " .. args[1]) end
  local port = opts.port and number_option(opts, "port", true) or 4566
  if port < 0 or port > 65535 then usage_error("--port must be 0..65535, got " .. port) end
  local script, serr = cli.emulator_script()
  if not script then
    ctx.stderr:write("bedrock: ", serr, "\n")
    return cli.EXIT.usage
  end
  local python = os.getenv("BEDROCK_EMULATOR_PYTHON")
  if not python or python == "" then
    local f = io.open("/usr/bin/python3", "rb")
    python = f and "/usr/bin/python3" or "python3"
    if f then f:close() end
  end
  -- exec: the shell system() starts becomes the emulator, so that Ctrl-C
  -- (sent to the whole process group) cannot end the shell first
  local cmd = { "exec", shell_quote(python), shell_quote(script), "--port", tostring(port) }
  if opts.quiet then cmd[#cmd + 1] = "--quiet" end
  for _, a in ipairs(ctx.passthrough) do cmd[#cmd + 1] = shell_quote(a) end
  -- system() ignores SIGINT in this process while the emulator runs: Ctrl-C
  -- reaches the emulator (same process group), which exits cleanly with 0
  local ok, how, code = os.execute(table.concat(cmd, " "))
  if ok then return cli.EXIT.ok end
  if how == "signal" then return 128 + code end
  return code
end

-- ------------------------------------------------------------------- main

--- Run one command line. argv: the arguments after the program name
-- (bin/bedrock's `arg`). io: optional { stdin, stdout, stderr, tty } in
-- place of the process's (tty: whether to prompt in chat; default: test -t 0).
-- Returns the exit status.
function cli.main(argv, io_)
  io_ = io_ or {}
  local stdin, stdout, stderr = io_.stdin or io.stdin, io_.stdout or io.stdout, io_.stderr or io.stderr
  local verb = argv[1]
  local pre_json = false
  for _, a in ipairs(argv) do if a == "--json" then pre_json = true end end
  local out = new_output({ json = pre_json }, stdout, stderr)
  if verb == nil then
    stderr:write(HELP.main, "\n", GLOBAL_HELP)
    return cli.EXIT.usage
  end
  if verb == "-h" or verb == "--help" then
    stdout:write(HELP.main, "\n", GLOBAL_HELP)
    return cli.EXIT.ok
  end
  if verb == "--version" or verb == "version" then
    stdout:write("bedrock (lua-bedrock ", bedrock._VERSION, ", ", _VERSION, ")\n")
    return cli.EXIT.ok
  end
  if verb == "help" then
    local topic = argv[2]
    if topic and not HELP[topic] then
      stderr:write("bedrock: no verb ", topic, "\n")
      return cli.EXIT.usage
    end
    stdout:write(HELP[topic or "main"], "\n", GLOBAL_HELP)
    return cli.EXIT.ok
  end
  if not verbs[verb] then
    stderr:write("bedrock: unknown verb ", tostring(verb), " (bedrock --help lists them)\n")
    return cli.EXIT.usage
  end
  -- what a verb opened (clients, streams, an MCP server), closed when it ends
  -- however it ends: the <close> of Lua 5.4, spelt so 5.1 and LuaJIT read it
  local closers = {}
  local function closing(obj)
    if obj ~= nil then closers[#closers + 1] = obj end
    return obj
  end
  local ok, status = pcall(function()
    local opts, args, passthrough = parse(verb, argv, 2)
    if opts.help then
      stdout:write(HELP[verb], "\n", GLOBAL_HELP)
      return cli.EXIT.ok
    end
    out = new_output(opts, stdout, stderr)
    if verb ~= "emulator" then
      local caught, cerr = core.sigint_catch()
      if not caught then stderr:write("bedrock: cannot catch SIGINT: ", cerr, "\n") end
    end
    return verbs[verb]{ opts = opts, args = args, passthrough = passthrough, out = out,
      stdin = stdin, stderr = stderr, tty = io_.tty, closing = closing }
  end)
  for i = #closers, 1, -1 do pcall(closers[i].close, closers[i]) end
  core.sigint_restore()
  if ok then return status end
  if getmetatable(status) == UsageError then
    if out.json then
      stderr:write(cjson.encode{ error = { code = "UsageError", message = status.message } }, "\n")
    else
      stderr:write("bedrock ", verb, ": ", status.message, "\n(bedrock ", verb, " --help shows the usage)\n")
    end
    return cli.EXIT.usage
  end
  if status == cli.INTERRUPTED or errors.is(status) then return out:fail(status) end
  -- a bug of ours: the traceback-less message, and a status of its own
  stderr:write("bedrock: internal error: ", tostring(status), "\n")
  return 70
end

return cli
