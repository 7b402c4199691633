--- The AWS shared config and credentials files, parsed as the AWS CLI reads
-- them: [name] sections in the credentials file, [default] and
-- [profile name] in the config file, "key = value" lines, full-line comments
-- (# or ;), and indented sub-keys under a key with no value (services,
-- s3 = ...). A missing file is an empty file; an unreadable one is an error.
local profile = {}

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

--- Parse ini text into { [section] = { key = value | { subkey = value } } }.
function profile.parse(text)
  local sections, current, parent_key = {}, nil, nil
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    line = line:gsub("\r$", "")
    local stripped = trim(line)
    if stripped == "" or stripped:match("^[#;]") then
      -- blank or comment
    elseif stripped:match("^%[.*%]$") then
      local name = trim(stripped:sub(2, -2))
      current = sections[name] or {}
      sections[name] = current
      parent_key = nil
    elseif current then
      local indented = line:match("^%s") ~= nil
      local k, v = stripped:match("^([^=]-)%s*=%s*(.*)$")
      if k then
        k = trim(k):lower()
        if indented and parent_key and type(current[parent_key]) == "table" then
          current[parent_key][k] = v
        elseif v == "" then
          current[k] = {}
          parent_key = k
        else
          current[k] = v
          parent_key = nil
        end
      end
    end
  end
  return sections
end

local function expand_home(path)
  if path:sub(1, 1) == "~" then
    local home = os.getenv("HOME") or ""
    return home .. path:sub(2)
  end
  return path
end

--- Read and parse a file. Returns sections, or {} when the file does not
-- exist, or nil, message when it exists but cannot be read.
function profile.load(path)
  path = expand_home(path)
  local f, err, errno = io.open(path, "rb")
  if not f then
    if errno == 2 then return {} end  -- ENOENT: not configured
    return nil, "cannot read " .. path .. ": " .. tostring(err)
  end
  local text, rerr = f:read("*a")
  f:close()
  if not text then return nil, "cannot read " .. path .. ": " .. tostring(rerr) end
  return profile.parse(text)
end

function profile.credentials_path()
  return os.getenv("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials"
end

function profile.config_path()
  return os.getenv("AWS_CONFIG_FILE") or "~/.aws/config"
end

local function nonempty(s) return type(s) == "string" and s ~= "" and s or nil end

--- The profile name in force: explicit, then AWS_DEFAULT_PROFILE and
-- AWS_PROFILE (botocore reads them in that order), then "default".
function profile.name(explicit)
  return explicit or nonempty(os.getenv("AWS_DEFAULT_PROFILE")) or nonempty(os.getenv("AWS_PROFILE"))
    or "default"
end

--- The named profile's section of the config file ([default] or
-- [profile name]; the CLI also accepts [name] there only for default).
function profile.config_section(sections, name)
  if name == "default" then
    return sections["default"] or sections["profile default"]
  end
  return sections["profile " .. name]
end

--- Sections of the config file of one kind ("sso-session", "services"),
-- by name: [sso-session name] -> t[name].
function profile.named_sections(sections, kind)
  local out = {}
  for name, section in pairs(sections) do
    local k, rest = name:match("^(%S+)%s+(.-)%s*$")
    if k == kind and rest ~= "" then out[rest] = section end
  end
  return out
end

--- Both files merged as botocore's full_config does: the config file's
-- profiles ([default], [profile name]) with the credentials file's [name]
-- sections laid over them (a key in the credentials file wins).
-- Returns { profiles = {name = section}, config = raw config sections,
-- credentials = raw credentials sections } or nil, message when a file
-- exists but cannot be read.
function profile.files()
  local cpath, kpath = profile.config_path(), profile.credentials_path()
  local config, err = profile.load(cpath)
  if not config then return nil, err end
  local creds
  creds, err = profile.load(kpath)
  if not creds then return nil, err end
  local profiles = {}
  local function merge(name, section)
    local p = profiles[name] or {}
    for k, v in pairs(section) do p[k] = v end
    profiles[name] = p
  end
  -- [profile default] counts as default, but a plain [default] wins
  for name, section in pairs(config) do
    local pname = name:match("^profile%s+(.-)%s*$")
    if pname == "default" then merge("default", section) end
  end
  for name, section in pairs(config) do
    local pname = name:match("^profile%s+(.-)%s*$")
    if pname and pname ~= "default" and pname ~= "" then merge(pname, section)
    elseif name == "default" then merge("default", section) end
  end
  for name, section in pairs(creds) do merge(name, section) end
  return { profiles = profiles, config = config, credentials = creds,
    config_path = cpath, credentials_path = kpath }
end

--- A string setting of the profile in the config file (nil when absent).
function profile.get(files, name, key)
  local p = files and files.profiles[name]
  local v = p and p[key]
  return type(v) == "string" and v ~= "" and v or nil
end

return profile
