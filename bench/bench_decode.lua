-- make bench, (b): event-stream decode from Lua, in a process of its own
-- (its 50 MB buffer would otherwise show in bench_lua.lua's RSS figures).
local core = require "bedrock.core"

-- (b) event-stream decode from Lua: 274,496 frames of 191 bytes (as
-- bench_decode.c's), fed in the 16 KiB pieces libcurl hands over; dec:feed
-- (a table per message, with its header table) and dec:events (kind, type
-- and payload into one reused table)
local payload = ('{"bytes":"eyJ0eXBlIjoiY29udGVudF9ibG9ja19kZWx0YSJ9"}'):rep(2):sub(1, 100)
local frame = core.encode({ [":event-type"] = "chunk", [":content-type"] = "application/json",
  [":message-type"] = "event" }, payload)
local count = 274496
local buf = frame:rep(count)
local pieces = {}
for i = 1, #buf, 16384 do pieces[#pieces + 1] = buf:sub(i, i + 16383) end
for _, how in ipairs{ "feed", "events" } do
  local times = {}
  for r = 1, 5 do
    collectgarbage()
    local dec, out, n, t0 = core.decoder(), {}, 0, os.clock()
    if how == "feed" then
      for i = 1, #pieces do n = n + #dec:feed(pieces[i]) end
    else
      for i = 1, #pieces do n = n + dec:events(pieces[i], out) end
    end
    times[r] = os.clock() - t0
    assert(n == count, "lost frames")
  end
  table.sort(times)
  print(string.format("(b) event-stream decode from Lua, dec:%s, %d %d-byte frames: %.0f MB/s (median of 5)",
    how, count, #frame, #buf / 1e6 / times[3]))
end
