--- What Lua 5.1, LuaJIT 2.1, 5.3 and 5.4 spell differently, in one place, so
-- that the rest of the layer parses and runs the same on all four.
--
-- 5.1 and LuaJIT have one number type: there an integer is a number with no
-- fraction, so 3 and 3.0 are both integers; 5.3 and 5.4 keep the subtype.
local compat = {}

local floor = math.floor
local mtype = math.type
local schar = string.char

-- 2^63: the first number past the 64-bit integers
local TWO63 = 9223372036854775808

if mtype then
  --- v is an integer (the subtype on 5.3+)
  function compat.isinteger(v) return mtype(v) == "integer" end
  --- v as an integer, or nil when it has a fraction or is not a number
  function compat.tointeger(v)
    if type(v) ~= "number" then return nil end
    return math.tointeger(v)
  end
else
  function compat.isinteger(v)
    return type(v) == "number" and v == floor(v) and v >= -TWO63 and v < TWO63
  end
  function compat.tointeger(v)
    if type(v) == "number" and v == floor(v) and v >= -TWO63 and v < TWO63 then return v end
    return nil
  end
end

--- floor(a / b) for integers (5.3's a // b)
function compat.idiv(a, b) return floor(a / b) end

--- The UTF-8 bytes of code point n (0 .. 0x10FFFF)
compat.utf8_char = utf8 and utf8.char or function(n)
  if n < 0x80 then return schar(n) end
  if n < 0x800 then return schar(0xC0 + floor(n / 0x40), 0x80 + n % 0x40) end
  if n < 0x10000 then
    return schar(0xE0 + floor(n / 0x1000), 0x80 + floor(n / 0x40) % 0x40, 0x80 + n % 0x40)
  end
  return schar(0xF0 + floor(n / 0x40000), 0x80 + floor(n / 0x1000) % 0x40,
    0x80 + floor(n / 0x40) % 0x40, 0x80 + n % 0x40)
end

--- The number of UTF-8 characters of s (utf8.len on 5.3+; elsewhere the
-- bytes that do not continue a character, with no check of the encoding)
compat.utf8_len = utf8 and utf8.len or function(s)
  return select(2, s:gsub("[^\128-\191]", ""))
end

--- table.pack, table.unpack and table.move
compat.pack = table.pack or function(...) return { n = select("#", ...), ... } end
compat.unpack = table.unpack or unpack
compat.move = table.move or function(a1, f, e, t, a2)
  a2 = a2 or a1
  if e >= f then
    if t > e or t <= f or a1 ~= a2 then
      for i = 0, e - f do a2[t + i] = a1[f + i] end
    else
      for i = e - f, 0, -1 do a2[t + i] = a1[f + i] end
    end
  end
  return a2
end

--- pcall that lets the function suspend its coroutine, and coroutine.running
-- that sees through it. PUC-Rio 5.1 cannot yield across a pcall (LuaJIT and
-- 5.2+ can): there the function runs in a coroutine of its own whose yields
-- are passed on, so a task may wait inside it (a credential refresh).
if _VERSION == "Lua 5.1" and not rawget(_G, "jit") then
  local create, resume, yield, running, status =
    coroutine.create, coroutine.resume, coroutine.yield, coroutine.running, coroutine.status
  local outer_of = setmetatable({}, { __mode = "k" })
  local function step(co, ok, ...)
    if not ok then return false, ... end
    if status(co) == "dead" then return true, ... end
    return step(co, resume(co, yield(...)))   -- it yielded: pass it on, and the answer back
  end
  function compat.pcall(f, ...)
    local outer = running()
    if not outer then return pcall(f, ...) end   -- the main thread cannot yield anyway
    local co = create(f)
    outer_of[co] = outer
    return step(co, resume(co, ...))
  end
  --- the coroutine running, or the one whose compat.pcall runs it
  function compat.running()
    local co = running()
    while co and outer_of[co] do co = outer_of[co] end
    return co
  end
else
  compat.pcall = pcall
  compat.running = coroutine.running
end

--- require one of our C modules, saying plainly when the object found was
-- built for another Lua (the dynamic linker only says "undefined symbol")
function compat.native(name)
  local ok, mod = pcall(require, name)
  if ok then return mod end
  local msg = tostring(mod)
  if msg:find("undefined symbol: lua", 1, true) then
    local this = rawget(_G, "jit") and "LuaJIT" or _VERSION
    error(name .. " was built for another Lua than " .. this .. ": build it for this one (make LUA_VERSION=..., "
      .. "or luarocks --lua-version ...) or fix package.cpath\n" .. msg, 0)
  end
  error(mod, 0)
end

--- setmetatable, with the metatable's __gc honoured for a table on 5.1 and
-- LuaJIT too (they run __gc for userdata only): a userdata sentinel that
-- only the table holds calls __gc(t) when the table is collected.
local gc_key = {}
if _VERSION == "Lua 5.1" and newproxy then
  local newproxy, getmetatable, setmetatable = newproxy, getmetatable, setmetatable
  function compat.setmetatable(t, mt)
    setmetatable(t, mt)
    local gc = mt and mt.__gc
    if gc and rawget(t, gc_key) == nil then
      local sentinel = newproxy(true)
      getmetatable(sentinel).__gc = function() gc(t) end
      rawset(t, gc_key, sentinel)
    end
    return t
  end
else
  compat.setmetatable = setmetatable
end

return compat
