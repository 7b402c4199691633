-- bedrock.sigv4.sign, the Lua face of the C signer: the Bedrock-shaped
-- fixtures through the public API, and a differential check against
-- botocore's SigV4Auth on the same inputs. (The full 43-case suite runs in
-- C: test/test_sigv4.c.)
local bedrock = require "bedrock"
local cjson = require "cjson"

local TESTDATA = "test/data"  -- busted runs from the repository root

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function parse_request(text)
  local head, body = text:match("^(.-)\n\n(.*)$")
  head = head or text
  body = body or ""
  local lines = {}
  for line in (head .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  local method, target = lines[1]:match("^(%S+) (.*) HTTP/1%.1$")
  local headers = {}
  for i = 2, #lines do
    local k, v = lines[i]:match("^([^:]+):(.*)$")
    headers[k] = v
  end
  return method, target, headers, body
end

local function iso_to_unix(ts)
  local y, mo, d, h, mi, s = ts:match("(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)Z")
  -- days from civil (proleptic Gregorian), no dependence on the local TZ
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo <= 2 then y = y - 1 end
  local floor = math.floor
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = (mo + 9) % 12
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s)
end

local cases = {
  "bedrock-invoke-model-id-colon", "bedrock-invoke-inference-profile-arn",
  "bedrock-invoke-with-response-stream-session-token", "bedrock-converse-stream-model-id-colon",
  "bedrock-invoke-no-reserved-chars",
}

describe("bedrock.sigv4.sign", function()
  for _, name in ipairs(cases) do
    it("reproduces " .. name, function()
      local dir = TESTDATA .. "/sigv4-bedrock/" .. name
      local ctx = cjson.decode(read(dir .. "/context.json"))
      local method, target, headers, body = parse_request(read(dir .. "/request.txt"))
      local host = headers.Host
      headers.Host = nil
      local added, debug = bedrock.sigv4.sign_debug{
        method = method, url = "https://" .. host .. target, headers = headers, body = body,
        region = ctx.region, service = ctx.service, time = iso_to_unix(ctx.timestamp),
        credentials = { access_key_id = ctx.credentials.access_key_id,
          secret_access_key = ctx.credentials.secret_access_key, session_token = ctx.credentials.token },
      }
      assert.are.equal(read(dir .. "/header-canonical-request.txt"), debug.canonical_request)
      assert.are.equal(read(dir .. "/header-string-to-sign.txt"), debug.string_to_sign)
      assert.are.equal(read(dir .. "/header-signature.txt"), debug.signature)
      local expected = read(dir .. "/header-signed-request.txt"):match("\nAuthorization:([^\n]*)")
      assert.are.equal(expected, added.Authorization)
      assert.are.equal(ctx.credentials.token, added["X-Amz-Security-Token"])
      assert.matches("^%d%d%d%d%d%d%d%dT%d%d%d%d%d%dZ$", added["X-Amz-Date"])
    end)
  end

  it("uses the current time by default and leaves the port out only when default", function()
    local creds = { access_key_id = "AKID", secret_access_key = "secret" }
    local a = bedrock.sigv4.sign{ url = "https://h.example/p", body = "", region = "us-east-1", credentials = creds }
    local date = os.date("!%Y%m%d")
    assert.matches("Credential=AKID/" .. date .. "/us%-east%-1/bedrock/aws4_request", a.Authorization)
    local _, d1 = bedrock.sigv4.sign_debug{ url = "https://h.example:443/p", region = "r", credentials = creds, time = 0 }
    local _, d2 = bedrock.sigv4.sign_debug{ url = "http://127.0.0.1:4566/p?b=2&a=1", region = "r", credentials = creds, time = 0 }
    assert.matches("\nhost:h.example\n", d1.canonical_request)
    assert.matches("\nhost:127.0.0.1:4566\n", d2.canonical_request)
    assert.matches("\na=1&b=2\n", d2.canonical_request)
  end)

  it("refuses bad input with a clear error", function()
    local creds = { access_key_id = "AKID", secret_access_key = "secret" }
    assert.has_error(function() bedrock.sigv4.sign{ url = "no-scheme", region = "r", credentials = creds } end)
    assert.has_error(function() bedrock.sigv4.sign{ url = "https://h/p", credentials = creds } end)
    assert.has_error(function() bedrock.sigv4.sign{ url = "https://h/p", region = "r" } end)
    assert.has_error(function() bedrock.sigv4.sign{ url = "https://h/p", region = "r", credentials = creds,
      headers = { ["bad name"] = "v" } } end)
  end)

  it("agrees with botocore's SigV4Auth on Bedrock requests", function()
    local p = io.popen("env -u LD_PRELOAD python3 -c 'import botocore' 2>&1")
    local out = p:read("*a")
    p:close()
    assert.are.equal("", out, "botocore is on every machine here: " .. out)
    local inputs = {
      { path = "/model/anthropic.claude-3-sonnet-20240229-v1%3A0/invoke", body = '{"messages":[]}', token = nil },
      { path = "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Ainference-profile%2Fus.meta.llama3-v1%3A0/invoke-with-response-stream",
        body = string.rep("x", 1024), token = "FQoGZXIvYXdzEXAMPLE//token+=" },
    }
    for _, input in ipairs(inputs) do
      local creds = { access_key_id = "AKIDEXAMPLE", secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        session_token = input.token }
      local headers = { ["Content-Type"] = "application/json", ["X-Amzn-Bedrock-Accept"] = "application/json" }
      local t = 1714564800
      local ours = bedrock.sigv4.sign{ method = "POST", url = "https://bedrock-runtime.us-east-1.amazonaws.com" .. input.path,
        headers = headers, body = input.body, region = "us-east-1", service = "bedrock", credentials = creds, time = t }
      local script = os.tmpname()
      local f = assert(io.open(script, "w"))
      f:write(string.format([[
import json, datetime
from unittest import mock
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
req = AWSRequest(method="POST", url="https://bedrock-runtime.us-east-1.amazonaws.com" + %q, data=%q.encode(),
                 headers={"Content-Type": "application/json", "X-Amzn-Bedrock-Accept": "application/json"})
creds = Credentials(%q, %q, %s)
fixed = datetime.datetime.fromtimestamp(%d, datetime.timezone.utc).replace(tzinfo=None)
with mock.patch("botocore.auth.get_current_datetime", return_value=fixed):
    SigV4Auth(creds, "bedrock", "us-east-1").add_auth(req)
print(json.dumps({"auth": req.headers["Authorization"], "date": req.headers["X-Amz-Date"]}))
]], input.path, input.body, creds.access_key_id, creds.secret_access_key,
        input.token and string.format("%q", input.token) or "None", t))
      f:close()
      local pp = io.popen("env -u LD_PRELOAD python3 " .. script .. " 2>&1")
      local res = pp:read("*a")
      pp:close()
      os.remove(script)
      local ok, theirs = pcall(cjson.decode, res)
      assert.is_true(ok, res)
      assert.are.equal(theirs.date, ours["X-Amz-Date"])
      assert.are.equal(theirs.auth, ours.Authorization)
    end
  end)
end)

-- The standalone signer refuses what the client refuses: a header whose
-- value (or name) holds a CR or LF is a header injection once the host
-- sends the headers it signed. A host doing its own I/O (here engine:request
-- to the emulator, which verifies SigV4) gets an error before anything goes out.
describe("bedrock.sigv4.sign and line breaks", function()
  local emulator = require "spec.support.emulator"
  local core = require "bedrock.core"
  local MODEL_PATH = "/model/anthropic.claude-3-sonnet-20240229-v1%3A0/invoke"
  local BODY = '{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}'

  local function send(emu, headers)
    local url = emu.url .. MODEL_PATH
    local all = { ["Content-Type"] = "application/json", Accept = "application/json" }
    for k, v in pairs(headers) do all[k] = v end
    local added = bedrock.sigv4.sign{ method = "POST", url = url, headers = all, body = BODY,
      region = "us-east-1", service = "bedrock", credentials = emulator.credentials }
    local lines = {}
    for k, v in pairs(all) do lines[#lines + 1] = k .. ": " .. v end
    for k, v in pairs(added) do lines[#lines + 1] = k .. ": " .. v end
    local engine = core.engine()
    local x = assert(engine:request{ method = "POST", url = url, headers = lines, body = BODY,
      connect_timeout_ms = 5000, idle_timeout_ms = 10000 })
    while x:state() == "running" do engine:pump(1000) end
    local status = x:status()
    x:close()
    engine:close()
    return status
  end

  it("signs and sends a clean header; refuses CR, LF in a value or a name, naming no value", function()
    local emu = emulator.shared()
    emu:reset()
    assert.are.equal(200, send(emu, { ["X-Amzn-Bedrock-Trace"] = "ENABLED" }))
    assert.are.equal(1, #emu:requests())
    for _, bad in ipairs{ "\r\nX-Injected: yes", "\n", "\r", "SECRET-MARK\r\n" } do
      local ok, err = pcall(send, emu, { ["X-Amzn-Bedrock-Trace"] = "ENABLED" .. bad })
      assert.is_false(ok)
      assert.matches("value of header 'X-Amzn-Bedrock-Trace' contains a CR, LF or NUL", tostring(err), 1, true)
      assert.is_nil(tostring(err):find("SECRET-MARK", 1, true))
    end
    local ok, err = pcall(send, emu, { ["X-Bad\r\nX-Injected"] = "yes" })
    assert.is_false(ok)
    assert.matches("not an HTTP token", tostring(err), 1, true)
    assert.are.equal(1, #emu:requests())      -- nothing else went out
  end)
end)
