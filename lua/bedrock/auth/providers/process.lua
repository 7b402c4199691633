--- credential_process: run the profile's command, parse its JSON
-- ({ Version = 1, AccessKeyId, SecretAccessKey, SessionToken, Expiration }).
-- The command runs through /bin/sh with a time limit (process.timeout,
-- seconds); when it fails, its exit status and stderr go into the error.
-- Keys with an Expiration are refreshed by running it again. In an async
-- client the task that needs the keys polls the process between short
-- sleeps, so the other tasks go on meanwhile.
local cjson = require "cjson"
local core = require "bedrock.core"
local credentials = require "bedrock.auth.credentials"

local provider = { name = "process", timeout = 60 }

local scheduler = require "bedrock.transport.scheduler"

--- Run command through /bin/sh; stdout, or nil, err. driver: the client's
-- (an async one, or one inside nginx, yields while the command runs).
local function run(command, where, driver)
  local p, perr = core.spawn_shell(command)
  if not p then
    return nil, credentials.error("cannot start credential_process of " .. where .. ": " .. tostring(perr))
  end
  -- an async task, or a request inside nginx (a driver that yields): poll
  -- between short sleeps, so other work goes on while the command runs
  local async = driver and ((driver.sleep == scheduler.sleep and scheduler.in_task()) or driver.yields)
  local deadline = core.now() + provider.timeout
  local state, how, status = p:poll(0)
  while state == "running" do
    if core.now() >= deadline then
      p:close()   -- kills the command's process group
      return nil, credentials.error("credential_process of " .. where .. " timed out after "
        .. provider.timeout .. " s")
    end
    if async then
      driver.sleep(0.005)
      state, how, status = p:poll(0)
    else
      state, how, status = p:poll(50)
    end
  end
  local out, stderr, cut = p:output()
  p:close()
  stderr = stderr:gsub("%s+$", "")
  if how == "exit" and status == -1 then
    -- someone else reaped it: nginx's workers reap every child on SIGCHLD
    return nil, credentials.error("credential_process of " .. where .. ": its exit status is unknown"
      .. " (the host process reaped it, as nginx does with its workers' children), so its output is not used")
  end
  if how ~= "exit" or status ~= 0 then
    if #stderr > 1000 then stderr = stderr:sub(1, 1000) .. "..." end
    return nil, credentials.error("credential_process of " .. where .. " failed (" .. tostring(how)
      .. " " .. tostring(status) .. ")" .. (stderr ~= "" and (": " .. stderr) or ""))
  end
  if cut then
    return nil, credentials.error("credential_process of " .. where .. " printed more than 1 MiB")
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
    local creds, perr = run(command, where, ctx.driver)
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
