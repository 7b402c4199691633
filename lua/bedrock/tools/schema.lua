--- Checks a tool's input against its JSON Schema (a table) before the
-- handler runs. The keywords tool schemas use: type (a name or a list;
-- "integer" is a number without a fraction), properties, required,
-- additionalProperties (false or a schema), items, enum, const, minimum,
-- maximum, exclusiveMinimum, exclusiveMaximum, minLength, maxLength,
-- minItems, maxItems, anyOf, oneOf, allOf, not. Others (pattern, format,
-- $ref...) are not checked: the handler still sees what passed the rest.
-- check(schema, value) -> true | nil, "input.path: what is wrong".
local compat = require "bedrock.compat"
local cjson = require "cjson"

local schema = {}

local null = cjson.null
local array_mt = cjson.array_mt or false   -- lua-cjson 2.1.0.9+ marks decoded arrays with it

local function is_array(v)
  if type(v) ~= "table" then return false end
  if array_mt and getmetatable(v) == array_mt then return true end
  local n = 0
  for k in pairs(v) do
    if not compat.isinteger(k) or k < 1 then return false end
    n = n + 1
  end
  return n == #v and n > 0
end

local function is_object(v)
  if type(v) ~= "table" then return false end
  if array_mt and getmetatable(v) == array_mt then return false end
  return next(v) == nil or not is_array(v)
end

local kinds = {
  null = function(v) return v == null end,
  boolean = function(v) return type(v) == "boolean" end,
  string = function(v) return type(v) == "string" end,
  number = function(v) return type(v) == "number" end,
  integer = function(v) return type(v) == "number" and v == math.floor(v) and v == v end,
  -- an empty Lua table is both an empty object and an empty array
  array = function(v) return type(v) == "table" and (is_array(v) or next(v) == nil) end,
  object = is_object,
}

local function kind_of(v)
  if v == null then return "null" end
  if type(v) == "table" then return is_array(v) and "array" or "object" end
  return type(v)
end

local function equal(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, v in pairs(a) do if not equal(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local function show(v)
  local ok, s = pcall(cjson.encode, v)
  s = ok and s or tostring(v)
  if #s > 60 then s = s:sub(1, 57) .. "..." end
  return s
end

local check

local function check_props(s, v, path)
  local props = type(s.properties) == "table" and s.properties or {}
  if type(s.required) == "table" then
    for _, name in ipairs(s.required) do
      if v[name] == nil then return nil, path .. ": '" .. tostring(name) .. "' is required" end
    end
  end
  for name, sub in pairs(props) do
    if v[name] ~= nil then
      local ok, err = check(sub, v[name], path .. "." .. tostring(name))
      if not ok then return nil, err end
    end
  end
  local extra = s.additionalProperties
  if extra ~= nil and extra ~= true then
    for name, value in pairs(v) do
      if props[name] == nil then
        if extra == false then
          return nil, path .. ": unexpected property '" .. tostring(name) .. "'"
        elseif type(extra) == "table" then
          local ok, err = check(extra, value, path .. "." .. tostring(name))
          if not ok then return nil, err end
        end
      end
    end
  end
  return true
end

function check(s, v, path)
  if s == true or s == nil then return true end
  if s == false then return nil, path .. ": no value is allowed here" end
  if type(s) ~= "table" then return true end
  local t = s.type
  if t ~= nil then
    local names = type(t) == "table" and t or { t }
    local fits = false
    for _, name in ipairs(names) do
      local k = kinds[name]
      if not k or k(v) then fits = true; break end
    end
    if not fits then
      return nil, string.format("%s: expected %s, got %s", path, table.concat(names, " or "), kind_of(v))
    end
  end
  if s.enum ~= nil and type(s.enum) == "table" then
    local found = false
    for _, e in ipairs(s.enum) do if equal(e, v) then found = true; break end end
    if not found then return nil, path .. ": " .. show(v) .. " is not one of " .. show(s.enum) end
  end
  if s.const ~= nil and not equal(s.const, v) then
    return nil, path .. ": must be " .. show(s.const)
  end
  if type(v) == "number" then
    if type(s.minimum) == "number" and v < s.minimum then return nil, path .. ": must be >= " .. s.minimum end
    if type(s.maximum) == "number" and v > s.maximum then return nil, path .. ": must be <= " .. s.maximum end
    if type(s.exclusiveMinimum) == "number" and v <= s.exclusiveMinimum then
      return nil, path .. ": must be > " .. s.exclusiveMinimum
    end
    if type(s.exclusiveMaximum) == "number" and v >= s.exclusiveMaximum then
      return nil, path .. ": must be < " .. s.exclusiveMaximum
    end
  elseif type(v) == "string" then
    local n = compat.utf8_len(v) or #v
    if type(s.minLength) == "number" and n < s.minLength then
      return nil, path .. ": must be at least " .. s.minLength .. " characters"
    end
    if type(s.maxLength) == "number" and n > s.maxLength then
      return nil, path .. ": must be at most " .. s.maxLength .. " characters"
    end
  elseif type(v) == "table" then
    if is_array(v) or (next(v) == nil and (s.items ~= nil or s.type == "array")) then
      if type(s.minItems) == "number" and #v < s.minItems then
        return nil, path .. ": needs at least " .. s.minItems .. " items"
      end
      if type(s.maxItems) == "number" and #v > s.maxItems then
        return nil, path .. ": takes at most " .. s.maxItems .. " items"
      end
      if s.items ~= nil then
        for i, item in ipairs(v) do
          local ok, err = check(s.items, item, path .. "[" .. (i - 1) .. "]")
          if not ok then return nil, err end
        end
      end
    else
      local ok, err = check_props(s, v, path)
      if not ok then return nil, err end
    end
  end
  if type(s.allOf) == "table" then
    for _, sub in ipairs(s.allOf) do
      local ok, err = check(sub, v, path)
      if not ok then return nil, err end
    end
  end
  if type(s.anyOf) == "table" then
    local first
    for _, sub in ipairs(s.anyOf) do
      local ok, err = check(sub, v, path)
      if ok then first = nil; break end
      first = first or err
    end
    if first then return nil, path .. ": matches none of anyOf (" .. first .. ")" end
  end
  if type(s.oneOf) == "table" then
    local n = 0
    for _, sub in ipairs(s.oneOf) do if check(sub, v, path) then n = n + 1 end end
    if n ~= 1 then return nil, path .. ": matches " .. n .. " of oneOf, not exactly 1" end
  end
  if s["not"] ~= nil and check(s["not"], v, path) then
    return nil, path .. ": must not match the 'not' schema"
  end
  return true
end

--- check(schema, value [, path]) -> true | nil, message
function schema.check(s, v, path)
  return check(s, v, path or "input")
end

return schema
