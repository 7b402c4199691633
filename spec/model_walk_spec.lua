-- The service-model walk: every member of every input shape of every operation
-- the client exposes is reachable from Lua by its snake_case name, and reaches
-- the wire under its wire name, in its location (URI label, header, query
-- string, JSON body). The walk reads the service model itself (not the
-- generated bedrock.api.model), computes the snake names on its own, and checks
-- each member twice: in the request the client builds, and in what the
-- emulator received over the wire.
local bedrock = require "bedrock"
local cjson = require "cjson"
local shapes = require "bedrock.api.shapes"
local emulator = require "spec.support.emulator"

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local MODEL_PATH
for _, cand in ipairs{ os.getenv("BEDROCK_SERVICE_MODEL") or "", "tools/model/bedrock-runtime/2023-09-30/service-2.json" } do
  if cand ~= "" and read(cand) then MODEL_PATH = cand break end
end

local function snake(name)
  local s = name:gsub("(%l)(%u)", "%1_%2"):gsub("(%d)(%u)", "%1_%2"):gsub("(%u+)(%u%l)", "%1_%2")
  return s:lower()
end

describe("the service-model walk", function()
  local svc, S

  setup(function()
    assert(MODEL_PATH, "the service model (tools/model/bedrock-runtime/2023-09-30/service-2.json) is needed")
    svc = cjson.decode(read(MODEL_PATH))
    S = svc.shapes
  end)

  it("has the generated table up to date with the service model", function()
    local p = io.popen("python3 tools/gen_model.py " .. MODEL_PATH .. " 2>&1")
    local out = p:read("*a")
    p:close()
    assert.are.equal(read("lua/bedrock/api/model.lua"), out, "run `make model`")
  end)

  it("exposes every operation on both clients (the HTTP/2 bidirectional stream by hand)", function()
    local c = bedrock.client{ region_name = "us-east-1", access_key_id = "a", secret_access_key = "b" }
    local a = bedrock.async_client{ region_name = "us-east-1", access_key_id = "a", secret_access_key = "b" }
    local n = 0
    for op_name, op in pairs(svc.operations) do
      if op_name == "InvokeModelWithBidirectionalStream" then
        assert.is_string(shapes.model.skipped[op_name])
        assert.is_function(c[snake(op_name)], op_name)
        assert.is_function(a[snake(op_name)], op_name)
      else
        n = n + 1
        assert.is_function(c[snake(op_name)], op_name)
        assert.is_function(a[snake(op_name)], op_name)
        local gen = shapes.model.operations[op_name]
        assert.are.equal(op.http.method, gen.method)
        assert.are.equal(op.http.requestUri, gen.uri)
      end
    end
    c:close()
    assert.are.equal(10, n)
  end)

  -- Probes: for each (structure, member) reachable from an operation's input,
  -- Lua parameters (snake_case all the way) that set that member to a
  -- sentinel, with the required members around it filled in.
  local function minimal(shape_name, depth)
    local s = S[shape_name]
    local t = s.type
    if s.document then return { doc = 1 } end
    if t == "string" then
      return (s.enum and s.enum[1]) or "x"
    elseif t == "integer" or t == "long" then return 1
    elseif t == "float" or t == "double" then return 0.5
    elseif t == "boolean" then return true
    elseif t == "blob" then return "eA=="
    elseif t == "timestamp" then return 0
    elseif t == "list" then
      if depth > 6 then return {} end
      return { minimal(s.member.shape, depth + 1) }
    elseif t == "map" then
      if depth > 6 then return {} end
      return { k = minimal(s.value.shape, depth + 1) }
    end
    local v = {}
    if s.union then
      -- the first member that is not itself a structure, if any (to end recursion)
      local names = {}
      for mname in pairs(s.members) do names[#names + 1] = mname end
      table.sort(names)
      local pick = names[1]
      for _, mname in ipairs(names) do
        if S[s.members[mname].shape].type ~= "structure" then pick = mname break end
      end
      v[snake(pick)] = minimal(s.members[pick].shape, depth + 1)
      return v
    end
    for _, r in ipairs(s.required or {}) do
      v[snake(r)] = minimal(s.members[r].shape, depth + 1)
    end
    return v
  end

  local function sentinel(shape_name, n)
    local t = S[shape_name].type
    if S[shape_name].document then return { probe = n } end
    if t == "string" then return "probe-" .. n
    elseif t == "integer" or t == "long" then return 1000 + n
    elseif t == "float" or t == "double" then return 0.25
    elseif t == "boolean" then return false
    elseif t == "blob" then return "cHJvYmU="
    elseif t == "timestamp" then return 86400 * 365
    end
    return minimal(shape_name, 0)
  end

  -- every route from the input shape to each member: { steps, member shape, location }
  local function probes_of(input)
    local out, seen = {}, {}
    local function walk(shape_name, steps, depth)
      local s = S[shape_name]
      if s.document or depth > 8 then return end
      if s.type == "list" then
        walk(s.member.shape, steps .. "\0[]", depth)
        return
      elseif s.type == "map" then
        walk(s.value.shape, steps .. "\0{}", depth)
        return
      elseif s.type ~= "structure" then
        return
      end
      local key = shape_name
      if seen[key] then return end
      seen[key] = true
      local names = {}
      for mname in pairs(s.members) do names[#names + 1] = mname end
      table.sort(names)
      for _, mname in ipairs(names) do
        local m = s.members[mname]
        out[#out + 1] = { owner = shape_name, member = mname, shape = m.shape, steps = steps .. "\0" .. mname,
          location = m.location, location_name = m.locationName }
        walk(m.shape, steps .. "\0" .. mname, depth + 1)
      end
    end
    walk(input, "", 0)
    return out
  end

  local function split(steps)
    local parts = {}
    for p in steps:gmatch("%z([^%z]+)") do parts[#parts + 1] = p end
    return parts
  end

  -- Lua params for one probe (snake names), and the wire path (wire names)
  local function build(input, probe, n)
    local parts = split(probe.steps)
    local root = minimal(input, 0)
    local node, shape_name = root, input
    for i, step in ipairs(parts) do
      local s = S[shape_name]
      local last = i == #parts
      if step == "[]" then
        local v = last and sentinel(s.member.shape, n) or minimal(s.member.shape, 1)
        node[1] = v
        node, shape_name = v, s.member.shape
      elseif step == "{}" then
        local v = last and sentinel(s.value.shape, n) or minimal(s.value.shape, 1)
        node.k = v
        node, shape_name = v, s.value.shape
      else
        local m = s.members[step]
        if s.union then
          for k in pairs(node) do node[k] = nil end          -- a union sets exactly one member
        end
        local v = last and sentinel(m.shape, n) or node[snake(step)] or minimal(m.shape, 1)
        if type(v) == "table" and not last and S[m.shape].type == "list" and #v == 0 then
          v = { minimal(S[m.shape].member.shape, 1) }
        end
        node[snake(step)] = v
        node, shape_name = v, m.shape
      end
    end
    return root, parts
  end

  local function expect_in_json(doc, parts, probe, expected, label)
    local node = doc
    for _, step in ipairs(parts) do
      assert.is_table(node, label .. ": no container on the way to " .. probe.member)
      if step == "[]" then node = node[1]
      elseif step == "{}" then node = node.k
      else node = node[step] end
    end
    assert.is_not_nil(node, label .. ": " .. probe.owner .. "." .. probe.member .. " is not in the JSON body")
    local t = S[probe.shape].type
    if S[probe.shape].document then
      assert.are.equal(expected.probe, node.probe, label)
    elseif t == "string" or t == "integer" or t == "long" or t == "boolean" or t == "blob" then
      assert.are.equal(expected, node, label)
    elseif t == "float" or t == "double" then
      assert.are.equal(0.25, node, label)
    end
  end

  local function each_probe(fn)
    local count = 0
    local ops = {}
    for op_name in pairs(svc.operations) do
      if op_name ~= "InvokeModelWithBidirectionalStream" then ops[#ops + 1] = op_name end
    end
    table.sort(ops)
    for _, op_name in ipairs(ops) do
      local input = svc.operations[op_name].input.shape
      for i, probe in ipairs(probes_of(input)) do
        local params, parts = build(input, probe, i)
        count = count + 1
        fn(op_name, input, probe, params, parts, i)
      end
    end
    return count
  end

  -- the top-level members of InvokeModel(WithResponseStream) are the invoke
  -- path's own (body is the payload blob, raw bytes): checked over the wire below
  local function invoke_op(op_name) return op_name == "InvokeModel" or op_name == "InvokeModelWithResponseStream" end

  it("builds every member of every input shape at its wire name and location", function()
    local n = each_probe(function(op_name, input, probe, params, parts, i)
      if invoke_op(op_name) then return end
      local label = op_name .. " " .. probe.owner .. "." .. probe.member
      local req, err = shapes.request(op_name, params)
      assert.is_table(req, label .. ": " .. tostring(err))
      local expected = params
      for _, step in ipairs(parts) do
        if step == "[]" then expected = expected[1]
        elseif step == "{}" then expected = expected.k
        else expected = expected[snake(step)] end
      end
      if probe.location == "uri" then
        assert.matches(shapes.encode_label(expected), req.path, 1, true)
        assert.is_nil(req.path:find("{", 1, true), label)
      elseif probe.location == "header" then
        assert.are.equal(tostring(expected), req.headers[probe.location_name], label)
      elseif probe.location == "querystring" then
        assert.matches(probe.location_name .. "=", req.query or "", 1, true)
      else
        assert.are.equal("POST", req.method, label)
        local doc = cjson.decode(req.body)
        local wire_expected = expected
        if S[probe.shape].type == "blob" then wire_expected = "cHJvYmU=" end
        expect_in_json(doc, parts, probe, wire_expected, label)
      end
    end)
    assert.is_true(n > 500, "probes: " .. n)
  end)

  it("delivers every member over the wire to the emulator, on both clients", function()
    local emu = emulator.shared()
    emu:reset()
    emu:call("POST", "/__emulator/options", '{"log_bodies": true}')
    local cfg = { endpoint_url = emu.url, region_name = "us-east-1", max_retries = 0, timeout = 10,
      access_key_id = emulator.credentials.access_key_id,
      secret_access_key = emulator.credentials.secret_access_key }
    local c = bedrock.client(cfg)
    local sent = {}
    local function send(client, op_name, params)
      if op_name == "InvokeModel" then
        return client:invoke_model(params)
      elseif op_name == "InvokeModelWithResponseStream" then
        local ok, err = pcall(function() for _ in client:invoke_model_with_response_stream(params) do end end)
        return ok, err
      end
      local req = assert(client:_prepare_operation(op_name, params))
      return client:_call(req)
    end
    local n = each_probe(function(op_name, input, probe, params)
      if invoke_op(op_name) then
        -- the invoke paths take a table or string body and the members as they are
        if probe.member == "body" then params.body = { probe = 1 } end
        params.model_id = "emulator.echo-v1:0"
      end
      local res, err = send(c, op_name, params)
      if res == nil and err and err.code == "InvalidParameter" then
        error(op_name .. " " .. probe.owner .. "." .. probe.member .. ": " .. tostring(err))
      end
      sent[#sent + 1] = { op = op_name, probe = probe }
    end)
    -- the async client sends one probe of each operation too
    local a = bedrock.async_client(cfg)
    local async_ops = 0
    bedrock.run(function()
      local done = {}
      each_probe(function(op_name, input, probe, params)
        if done[op_name] then return end
        done[op_name] = true
        if invoke_op(op_name) then params.model_id = "emulator.echo-v1:0" end
        send(a, op_name, params)
        async_ops = async_ops + 1
      end)
    end)
    local log = emu:requests()
    c:close()
    assert.are.equal(n + async_ops, #log)
    for i, s in ipairs(sent) do
      local entry, probe = log[i], s.probe
      local label = s.op .. " " .. probe.owner .. "." .. probe.member
      assert.are.equal(snake(s.op), entry.route == "stream" and "invoke_model_with_response_stream"
        or entry.route == "invoke" and "invoke_model" or entry.route, label)
      assert.are.equal("sigv4", entry.auth, label)
      if probe.location == "header" then
        assert.is_not_nil(entry.headers[probe.location_name:lower()], label)
      elseif probe.location == "querystring" then
        assert.matches(probe.location_name .. "=", entry.query, 1, true)
      elseif probe.location == "uri" then
        assert.is_true(#entry.path > 0, label)
      elseif invoke_op(s.op) then
        assert.are.equal('{"probe":1}', entry.body, label)
      else
        local doc = cjson.decode(entry.body)
        local node = doc
        for _, step in ipairs(split(probe.steps)) do
          if step == "[]" then node = node[1] elseif step == "{}" then node = node.k else node = node[step] end
        end
        assert.is_not_nil(node, label .. " did not reach the wire: " .. entry.body)
      end
    end
    emu:reset()
  end)

  it("accepts every member under its wire name as well", function()
    each_probe(function(op_name, input, probe, params, parts)
      if invoke_op(op_name) or #parts ~= 1 then return end
      local wire = {}
      for k, v in pairs(params) do wire[k] = v end
      local m = S[input].members[probe.member]
      wire[snake(probe.member)] = nil
      wire[probe.member] = params[snake(probe.member)]
      local req, err = shapes.request(op_name, wire)
      assert.is_table(req, op_name .. "." .. probe.member .. ": " .. tostring(err))
      if not m.location then
        assert.is_not_nil(cjson.decode(req.body)[probe.member], op_name .. "." .. probe.member)
      end
    end)
  end)
end)
