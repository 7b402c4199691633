-- Launchers for the credential fakes (spec/support/fake_aws.py): the IMDS,
-- container endpoint and SSO portal fake, and moto's STS server. Both take
-- the emulator's command line, so spec/support/emulator.lua runs them:
--   local f = fakes.start()        -- or fakes.moto()
--   f.url; f:set{ imds_role = "r" }; f:reset(); f:requests(); f:stop()
local cjson = require "cjson"
local emulator = require "spec.support.emulator"

local fakes = {}

local dir = emulator.script:match("^(.*)/[^/]*$") or "."
fakes.script = dir .. "/fake_aws.py"

local function extend(f)
  function f:set(settings) self:call("POST", "/__emulator/scenarios", cjson.encode(settings)) end
  return f
end

function fakes.start()
  return extend(emulator.start{ script = fakes.script })
end

--- moto's server (python3 -m moto.server's app) on a free 127.0.0.1 port, with a request log.
function fakes.moto()
  return extend(emulator.start{ script = fakes.script, python = "FAKE_AWS_MODE=moto python3", timeout = 30 })
end

return fakes
