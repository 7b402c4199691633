-- lua5.4 tools/check_rock.lua ROCKSPEC TREE: what `make rock` installed into TREE works from
-- there alone. Every module the rockspec names loads from TREE (not from a checkout), the C
-- core signs and decodes, a client can be made; a last line "rock: N passed, N failed".
local rockspec_file, tree = arg[1], arg[2]
assert(rockspec_file and tree, "usage: lua5.4 tools/check_rock.lua ROCKSPEC TREE")

local lv = _VERSION:match("%d+%.%d+")
-- the tree first, then the system's paths (lua-cjson) without any LUA_PATH a Makefile exported
package.path = table.concat({ tree .. "/share/lua/" .. lv .. "/?.lua", tree .. "/share/lua/" .. lv .. "/?/init.lua",
  "/usr/local/share/lua/" .. lv .. "/?.lua", "/usr/share/lua/" .. lv .. "/?.lua", "/usr/share/lua/" .. lv .. "/?/init.lua" }, ";")
package.cpath = table.concat({ tree .. "/lib/lua/" .. lv .. "/?.so", "/usr/local/lib/lua/" .. lv .. "/?.so",
  "/usr/lib/x86_64-linux-gnu/lua/" .. lv .. "/?.so", "/usr/lib/lua/" .. lv .. "/?.so" }, ";")

local passed, failed = 0, 0
local function check(name, ok, why)
  if ok then passed = passed + 1 else failed = failed + 1; print("FAIL " .. name .. ": " .. tostring(why)) end
end

local spec = {}
assert(loadfile(rockspec_file, "t", spec))()

local count = 0
for name in pairs(spec.build.modules) do
  count = count + 1
  local where = package.searchpath(name, package.path) or package.searchpath(name, package.cpath)
  check(name .. " is in the tree", where and where:sub(1, #tree) == tree, where or "not found")
  local ok, err = pcall(require, name)
  check(name .. " loads", ok, err)
end
check("the rockspec names modules", count > 30, count)

local ok, bedrock = pcall(require, "bedrock")
if ok then
  local added = bedrock.sigv4.sign{
    method = "POST", url = "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/invoke",
    headers = { ["Content-Type"] = "application/json" }, body = "{}",
    region = "us-east-1", service = "bedrock",
    credentials = { access_key_id = "AKIDEXAMPLE", secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" },
    time = 1440938160,
  }
  check("sigv4.sign", type(added) == "table" and tostring(added.Authorization)
    :find("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request", 1, true), added)
  local frame = bedrock.eventstream.encode({ [":event-type"] = "chunk" }, "payload")
  local msgs = bedrock.eventstream.decoder():feed(frame)
  check("eventstream round trip", msgs and msgs[1] and msgs[1].payload == "payload", msgs)
  local client, err = bedrock.client{ region_name = "us-east-1", endpoint_url = "http://127.0.0.1:9",
    access_key_id = "AKIDEXAMPLE", secret_access_key = "secret" }
  check("bedrock.client", client, err)
  if client then client:close() end
end

print(("rock: %d passed, %d failed"):format(passed, failed))
os.exit(failed == 0 and 0 or 1)
