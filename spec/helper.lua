-- Loaded by busted before the specs (see .busted).
local ok, err = pcall(require, "bedrock.core")
if not ok then
  error("bedrock.core is not built (run `make`): " .. tostring(err), 0)
end
