-- One engine, many requests of different kinds: an idle easy handle keeps its
-- options, its header list and the parsed URLs for the next request
-- (libcurl's easy kits and URL cache, src/curl_backend.c; whichever backend carries a request). Nothing of one request may
-- reach the next: method, path, body, headers and timeouts are the request's
-- own, over the real wire to the emulator.
local bedrock = require "bedrock"
local core = require "bedrock.core"
local emulator = require "spec.support.emulator"

local CLAUDE = "anthropic.claude-3-sonnet-20240229-v1:0"
local NOVA_REEL = "amazon.nova-reel-v1:0"
local OUT = { s3OutputDataConfig = { s3Uri = "s3://bucket/out" } }

describe("requests on one engine, one after another", function()
  local emu, client

  setup(function() emu = emulator.shared() end)
  before_each(function()
    emu:reset()
    client = bedrock.client(emu:config{ validate = false })
  end)
  after_each(function() client:close() end)

  it("POST, GET, stream, GET with a query and POST alternate, each with its own method, path, body and headers", function()
    emu:scenario(CLAUDE, { log_body = true })
    local started = assert(client:start_async_invoke{ model_id = NOVA_REEL, model_input = { n = 1 },
      output_data_config = OUT })
    local before = #emu:requests()
    for round = 1, 3 do
      assert(client:invoke_model{ model_id = CLAUDE, body = { round = round } })
      assert(client:get_async_invoke{ invocation_arn = started.invocationArn })
      local n = 0
      for _ in client:invoke_model_with_response_stream{ model_id = CLAUDE, body = { stream = round } } do n = n + 1 end
      assert.is_true(n > 0)
      local seen = 0
      for _ in client:list_async_invokes{ max_results = 2 } do seen = seen + 1 end  -- one job: one page
      assert.are.equal(1, seen)
      -- the caller's Accept replaces the empty one the transport adds
      assert(client:invoke_model{ model_id = CLAUDE, body = "{}", accept = "*/*" })
    end
    local log = emu:requests()
    assert.are.equal(before + 15, #log)
    for round = 1, 3 do
      local inv, get, str, list, acc = table.unpack(log, before + (round - 1) * 5 + 1, before + round * 5)
      assert.are.equal("POST", inv.method)
      assert.are.equal("invoke", inv.route)
      assert.are.equal('{"round":' .. round .. '}', inv.body)
      assert.are.equal("application/json", inv.headers["accept"])
      assert.are.equal("POST", str.method)
      assert.are.equal("stream", str.route)
      assert.are.equal('{"stream":' .. round .. '}', str.body)
      assert.are.equal("GET", get.method)
      assert.are.equal("get_async_invoke", get.route)
      assert.are.equal(0, get.body_len)
      assert.are.equal("GET", list.method)
      assert.are.equal("list_async_invokes", list.route)
      assert.matches("maxResults=2", list.query)
      assert.are.equal(0, list.body_len)
      assert.are.equal("POST", acc.method)
      assert.are.equal("*/*", acc.headers["accept"])
      assert.are.equal("{}", acc.body)
      for _, e in ipairs{ inv, str, get, list, acc } do
        assert.are.equal("sigv4", e.auth)
        assert.is_nil(e.headers["expect"])
        assert.are.equal(200, e.status)
      end
    end
  end)

  it("more distinct URLs than the transport keeps parsed all reach their own path", function()
    local ids = {}
    for i = 1, 40 do ids[i] = "anthropic.claude-test-" .. i .. ":0" end
    for pass = 1, 2 do
      for i = 1, #ids do
        local body, err = client:invoke_model{ model_id = ids[i], body = {} }
        assert.is_table(body, tostring(err) .. " (pass " .. pass .. ")")
      end
    end
    local log = emu:requests()
    assert.are.equal(80, #log)
    for k, e in ipairs(log) do
      local id = ids[(k - 1) % #ids + 1]
      assert.are.equal(id, e.model_id)
      assert.are.equal("/model/" .. id:gsub(":", "%%3A") .. "/invoke", e.path)
    end
  end)

  it("a bad URL still fails as ever, and the next request on the engine works", function()
    local bad = bedrock.client(emu:config{ validate = false, max_retries = 0 })
    bad.config.endpoint_url = "http://127.0.0.1:notaport"
    local body, err = bad:invoke_model{ model_id = CLAUDE, body = {} }
    assert.is_nil(body)
    assert.is_string(err.code)
    bad.config.endpoint_url = emu.url
    assert.is_table((bad:invoke_model{ model_id = CLAUDE, body = {} }))
    bad:close()
  end)

  it("async clients sharing the engine keep their own connect timeout", function()
    -- the engine's idle handle was last set up by a client with a long
    -- connect timeout; a client with a short one must not inherit it
    local slow = bedrock.async_client(emu:config{ validate = false, connect_timeout = 30 })
    local port = emu:unaccepting()
    local quick = bedrock.async_client(emu:config{ validate = false, connect_timeout = 0.3,
      max_retries = 0, endpoint_url = "http://127.0.0.1:" .. port })
    local took, err
    bedrock.run(function()
      for _ = 1, 3 do assert(slow:invoke_model{ model_id = CLAUDE, body = {} }) end
      local t = core.now()
      local body
      body, err = quick:invoke_model{ model_id = CLAUDE, body = {} }
      took = core.now() - t
      assert.is_nil(body)
      -- and the other way round: the long timeout is back for its client
      assert(slow:invoke_model{ model_id = CLAUDE, body = {} })
    end)
    assert.are.equal("TimeoutError", err.code)
    assert.are.equal("connect", err.phase)
    assert.is_true(took < 3, "took " .. took)
  end)
end)
