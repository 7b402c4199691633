-- Loaded by busted before the specs (see .busted).
local ok, err = pcall(require, "bedrock.core")
if not ok then
  error("bedrock.core is not built for " .. (rawget(_G, "jit") and "LuaJIT" or _VERSION)
    .. " (run `make`, or `make LUA_VERSION=5.3|5.1|luajit`): " .. tostring(err), 0)
end
