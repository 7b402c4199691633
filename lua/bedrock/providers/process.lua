--- credential_process: run the profile's command, parse its JSON
-- ({ Version = 1, AccessKeyId, SecretAccessKey, SessionToken, Expiration }).
-- The command runs through /bin/sh with a time limit (process.timeout,
-- seconds); when it fails, its exit status and stderr go into the error.
-- Keys with an Expiration are refreshed by running it again. The process
-- runs synchronously: an async client's other tasks wait meanwhile.
local cjson = require "cjson"
local credentials = require "bedrock.creds"

local provider = { name = "process", timeout = 60 }

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function read_all(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a") or ""
  f:close()
  return s
end

local function run(command, where)
  local errfile = os.tmpname()
  local cmd = string.format("timeout -k 1 %d sh -c %s 2>%s </dev/null",
    math.max(1, math.ceil(provider.timeout)), quote(command), quote(errfile))
  local p = io.popen(cmd, "r")
  if not p then
    os.remove(errfile)
    return nil, credentials.error("cannot start credential_process of " .. where)
  end
  local out = p:read("a") or ""
  local _, how, status = p:close()
  local stderr = read_all(errfile):gsub("%s+$", "")
  os.remove(errfile)
  if how == "exit" and status == 124 then
    return nil, credentials.error("credential_process of " .. where .. " timed out after "
      .. provider.timeout .. " s")
  end
  if how ~= "exit" or status ~= 0 then
    if #stderr > 1000 then stderr = stderr:sub(1, 1000) .. "..." end
    return nil, credentials.error("credential_process of " .. where .. " failed (" .. tostring(how)
      .. " " .. tostring(status) .. ")" .. (stderr ~= "" and (": " .. stderr) or ""))
  end
  local ok, doc = pcall(cjson.decode, out)
  if not ok or type(doc) ~= "table" then
    -- the output may hold secrets: say what is wrong, not what it was
    return nil, credentials.error("credential_process of " .. where .. " did not print a JSON object ("
      .. #out .. " bytes)")
  end
  if doc.Version ~= 1 then
    return nil, credentials.error("credential_process of " .. where .. " printed Version "
      .. tostring(doc.Version) .. "; only Version 1 is supported")
  end
  local id, secret = credentials.nonempty(doc.AccessKeyId), credentials.nonempty(doc.SecretAccessKey)
  if not id or not secret then
    return nil, credentials.error("credential_process of " .. where .. " printed no "
      .. (id and "SecretAccessKey" or "AccessKeyId"))
  end
  local expiration
  if doc.Expiration ~= nil and doc.Expiration ~= cjson.null then
    expiration = credentials.parse_time(doc.Expiration)
    if not expiration then
      return nil, credentials.error("credential_process of " .. where .. " printed an Expiration that is not ISO 8601")
    end
  end
  local token = doc.SessionToken
  if token == cjson.null then token = nil end
  return credentials.new(id, secret, credentials.nonempty(token), provider.name, expiration)
end

function provider.load(ctx)
  local files, err = credentials.files(ctx)
  if not files then return nil, nil, err end
  local command = credentials.nonempty((files.profiles[ctx.profile_name] or {}).credential_process)
  if not command then return nil, "no credential_process in profile '" .. ctx.profile_name .. "'" end
  local where = "profile '" .. ctx.profile_name .. "'"
  local function fetch()
    local creds, perr = run(command, where)
    if not creds then return nil, perr end
    if creds.expiration then creds.refresh = fetch end
    return creds
  end
  local creds
  creds, err = fetch()
  if not creds then return nil, nil, err end
  return creds
end

return provider
