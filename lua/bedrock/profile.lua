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
  local text, rerr = f:read("a")
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

--- The profile name in force: explicit, AWS_PROFILE, then "default".
function profile.name(explicit)
  return explicit or os.getenv("AWS_PROFILE") or "default"
end

--- The named profile's section of the config file ([default] or
-- [profile name]; the CLI also accepts [name] there only for default).
function profile.config_section(sections, name)
  if name == "default" then
    return sections["default"] or sections["profile default"]
  end
  return sections["profile " .. name]
end

return profile
