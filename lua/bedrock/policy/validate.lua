--- Model-specific checks of an invoke body, made before it is sent.
--
-- validate.check(model_id, body) picks the schema of the model's family
-- from the model id (cross-region prefixes such as "us." and ARNs of
-- foundation models and inference profiles included), walks the body once
-- and returns true, or nil and an InvalidParameter error whose `path` names
-- the bad field ("body.messages[2].content[1].text": Lua's 1-based indices).
-- Required fields, JSON types, ranges and unknown fields are checked; an id
-- of no known family, a body that is not JSON and an empty body pass
-- unchecked (the service has the last word). The schemas are data: see
-- lua/bedrock/schemas/.
local cjson = require "cjson"
local errors = require "bedrock.errors"
local S = require "bedrock.policy.schemas"

local validate = {}

local null = cjson.null
local array_mt = cjson.array_mt
local isinteger = require("bedrock.compat").isinteger
local floor, huge = math.floor, math.huge
local concat = table.concat

-- ------------------------------------------------------------ model ids

local region_prefix = {}
for _, p in ipairs(S.region_prefixes) do region_prefix[p] = true end

--- The base model id of a model id, inference profile id or ARN, or nil
-- when the id names no model (a provisioned model, an application profile).
function validate.base_model(model_id)
  local id = model_id
  if id:sub(1, 4) == "arn:" then
    local kind, rest = id:match("^arn:[^:]*:bedrock:[^:]*:[^:]*:([%w%-]+)/(.+)$")
    if kind == "foundation-model" or kind == "inference-profile" then
      id = rest
    elseif kind == "custom-model" then
      -- custom-model/<base model id>/<suffix>
      id = rest:match("^(.+)/[^/]+$")
      if not id then return nil end
    else
      return nil
    end
  end
  local head, tail = id:match("^([%w%-]+)%.(.+)$")
  if head and region_prefix[head] and tail:find(".", 1, true) then id = tail end
  return id
end

local loaded = {}

local function load_module(name)
  local m = loaded[name]
  if m == nil then
    m = require("bedrock.policy.schemas." .. name)
    loaded[name] = m
  end
  return m
end

local family_by_id, cached = {}, 0

--- family_of(model_id) -> module table, schema name (or nil), variant
-- name (or nil); nothing when the id is not checked.
local function family_of(model_id)
  local hit = family_by_id[model_id]
  if hit ~= nil then
    if hit == false then return nil end
    return hit[1], hit[2], hit[3]
  end
  local base = validate.base_model(model_id)
  local mod, which, variant
  if base then
    for _, f in ipairs(S.families) do
      if base:find(f[1]) then
        if f[2] then mod, which, variant = load_module(f[2]), f[3], f[4] end
        break
      end
    end
  end
  -- a bounded cache: ids are few in any real program
  if cached < 512 then
    cached = cached + 1
    family_by_id[model_id] = mod and { mod, which, variant } or false
  end
  return mod, which, variant
end

--- The family name that checks model_id ("anthropic", "nova", ...), or nil.
function validate.family(model_id)
  local mod = family_of(model_id)
  return mod and mod.family or nil
end

-- ------------------------------------------------------------- checking

-- The JSON type a Lua value encodes as. An empty table is "empty": it may
-- stand for [] or {}.
local function jtype(v)
  local t = type(v)
  if t == "table" then
    if v[1] ~= nil or (array_mt and getmetatable(v) == array_mt) then return "array" end
    if next(v) == nil then return "empty" end
    return "object"
  elseif t == "number" or t == "string" or t == "boolean" then
    return t
  elseif v == null then
    return "null"
  end
  return t
end

local article = { array = "an array", object = "an object", empty = "an empty table", null = "null",
  number = "a number", string = "a string", boolean = "a boolean" }

local function show(v)
  local jt = jtype(v)
  if jt == "string" then
    if #v > 40 then v = v:sub(1, 37) .. "..." end
    return string.format("%q", v)
  elseif jt == "number" or jt == "boolean" then
    return tostring(v)
  end
  return article[jt] or jt
end

local function is_int(v)
  if isinteger(v) then return true end
  return v == v and v ~= huge and v ~= -huge and floor(v) == v
end

-- The walk keeps the path as a stack of keys; on failure the stack is left
-- as it stands, so the error's path is built once, from it.
local check

local function check_object(node, v, st)
  -- jtype(v) is "object" or "empty": a table that is no array (spelled out
  -- here, which spares jtype's emptiness test)
  if type(v) ~= "table" or v[1] ~= nil or (array_mt and getmetatable(v) == array_mt) then
    return "must be an object, got " .. show(v)
  end
  local depth = st.n
  local req = node.required
  for i = 1, #req do
    local k = req[i]
    local x = v[k]
    if x == nil or x == null then
      st.n = depth + 1; st[depth + 1] = k
      return "is required"
    end
  end
  local fields, order = node.fields, node.order
  -- First the keys the body has (usually far fewer than the schema's
  -- fields): when every one is known and passes, the sorted walk below
  -- would find nothing either. On any fault it runs, so the fault reported
  -- is the same as ever.
  local open, fault = node.open, false
  for k, x in pairs(v) do
    local f = fields[k]
    if f == nil then
      if not open then fault = true; break end
    elseif x ~= null then
      st.n = depth + 1; st[depth + 1] = k
      if check(f, x, st) then fault = true; break end
    end
  end
  st.n = depth
  if fault then
    -- fields in a fixed (sorted) order, so a body with several faults
    -- always reports the same one
    for i = 1, #order do
      local k = order[i]
      local x = v[k]
      if x ~= nil and x ~= null then
        st.n = depth + 1; st[depth + 1] = k
        local msg = check(fields[k], x, st)
        if msg then return msg end
      end
    end
    st.n = depth
    if not open then
      local unknown
      for k in pairs(v) do
        if fields[k] == nil and (unknown == nil or tostring(k) < tostring(unknown)) then unknown = k end
      end
      if unknown ~= nil then
        st.n = depth + 1; st[depth + 1] = unknown
        return "is not a known field here (known: " .. node.known .. ")"
      end
    end
  end
  if node.one_of then
    local found
    for _, k in ipairs(node.one_of) do
      if v[k] ~= nil and v[k] ~= null then
        if found then
          st.n = depth + 1; st[depth + 1] = k
          return "cannot be given together with '" .. found .. "'"
        end
        found = k
      end
    end
    if not found then return "must have exactly one of: " .. concat(node.one_of, ", ") end
  end
  if node.any_of then
    local found = false
    for _, k in ipairs(node.any_of) do
      if v[k] ~= nil and v[k] ~= null then found = true; break end
    end
    if not found then return "must have at least one of: " .. concat(node.any_of, ", ") end
  end
  if node.rule then
    local k, msg = node.rule(v)
    if msg then
      -- k: the field at fault, or a list of keys down to it
      if type(k) == "table" then
        for i = 1, #k do st[depth + i] = k[i] end
        st.n = depth + #k
      elseif k then
        st.n = depth + 1; st[depth + 1] = k
      end
      return msg
    end
  end
end

function check(node, v, st)
  local t = node.t
  if t == "string" then
    if type(v) ~= "string" then return "must be a string, got " .. show(v) end
    if node.enum and not node.enum[v] then
      return "must be one of " .. node.enum_list .. ", got " .. show(v)
    end
    if node.nonempty and v == "" then return "must not be empty" end
  elseif t == "number" or t == "integer" then
    if type(v) ~= "number" or v ~= v or v == huge or v == -huge then
      return "must be a finite number, got " .. show(v)
    end
    if t == "integer" and not is_int(v) then return "must be an integer, got " .. show(v) end
    local lo, hi = node.min, node.max
    if (lo and v < lo) or (hi and v > hi) then
      if lo and hi then
        return "must be between " .. lo .. " and " .. hi .. ", got " .. show(v)
      elseif lo then
        return "must be at least " .. lo .. ", got " .. show(v)
      end
      return "must be at most " .. hi .. ", got " .. show(v)
    end
  elseif t == "object" then
    return check_object(node, v, st)
  elseif t == "array" then
    local jt = jtype(v)
    if jt ~= "array" and jt ~= "empty" then return "must be an array, got " .. show(v) end
    local n = #v
    if node.min and n < node.min then
      return "must have at least " .. node.min .. (node.min == 1 and " item" or " items") .. ", got " .. n
    end
    if node.max and n > node.max then
      return "must have at most " .. node.max .. " items, got " .. n
    end
    local items = node.items
    if items then
      local depth = st.n
      for i = 1, n do
        st.n = depth + 1; st[depth + 1] = i
        local msg = check(items, v[i], st)
        if msg then return msg end
      end
      st.n = depth
    end
  elseif t == "tagged" then
    local jt = jtype(v)
    if jt ~= "object" then return "must be an object, got " .. show(v) end
    local tag = v[node.key]
    local sub = node.variants[tag]
    if not sub then
      local depth = st.n
      st.n = depth + 1; st[depth + 1] = node.key
      if tag == nil then return "is required (one of " .. node.tag_list .. ")" end
      return "must be one of " .. node.tag_list .. ", got " .. show(tag)
    end
    return check_object(sub, v, st)
  elseif t == "union" then
    local jt = jtype(v)
    local sub = node[jt]
    if jt == "empty" then sub = node.array or node.object end
    if not sub then return "must be " .. (node.desc or "of another type") .. ", got " .. show(v) end
    return check(sub, v, st)
  elseif t == "map" then
    local jt = jtype(v)
    if jt ~= "object" and jt ~= "empty" then return "must be an object, got " .. show(v) end
    local values = node.values
    if values.t ~= "any" then
      local depth = st.n
      for k, x in pairs(v) do
        st.n = depth + 1; st[depth + 1] = k
        local msg = check(values, x, st)
        if msg then return msg end
      end
      st.n = depth
    end
  elseif t == "boolean" then
    if type(v) ~= "boolean" then return "must be a boolean, got " .. show(v) end
  end
  return nil
end

local function path_of(st)
  local parts = { "body" }
  for i = 1, st.n do
    local k = st[i]
    if isinteger(k) then
      parts[#parts + 1] = "[" .. k .. "]"
    elseif type(k) == "string" and k:match("^[%a_][%w_]*$") then
      parts[#parts + 1] = "." .. k
    else
      parts[#parts + 1] = "[" .. string.format("%q", tostring(k)) .. "]"
    end
  end
  return concat(parts)
end

--- The schema (and its name) of module mod for body: the one the family
-- entry names, else the first of mod.select whose key is in the body; a
-- variant (limits of some models) takes its schemas from mod.variants.
local function pick(mod, which, variant, body)
  local schemas = variant and mod.variants[variant] or mod.schemas
  if which then return schemas[which], which end
  for _, s in ipairs(mod.select) do
    if not s.when or body[s.when] ~= nil then return schemas[s.use], s.use end
  end
end

local spare_stack = { n = 0 }

--- check(model_id, body) -> true | nil, err (InvalidParameter, err.path).
-- body: a table, or a string holding JSON; anything else passes.
function validate.check(model_id, body)
  local mod, which, variant = family_of(model_id)
  if not mod then return true end
  if type(body) == "string" then
    if body == "" then return true end
    local ok, doc = pcall(cjson.decode, body)
    if not ok then return true end          -- not JSON: the model's own format
    body = doc
  end
  if type(body) ~= "table" then return true end
  local schema, name = pick(mod, which, variant, body)
  -- the path stack: one kept for the next check unless a check is already
  -- using it (a rule that validates, say)
  local st = spare_stack or { n = 0 }
  spare_stack = nil
  st.n = 0
  local msg = check(schema, body, st)
  if not msg then
    spare_stack = st
    return true
  end
  local path = path_of(st)
  spare_stack = st
  return nil, errors.new{
    code = "InvalidParameter",
    message = path .. " " .. msg .. " [" .. mod.family .. " " .. name .. " body of " .. model_id
      .. "; validate = false skips this check]",
    path = path, family = mod.family, model_id = model_id,
  }
end

return validate
