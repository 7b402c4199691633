-- make demo: start the local emulator, stream a model reply to the terminal
-- with the sync client, then do the same for three prompts at once with the
-- async client.
local bedrock = require "bedrock"
local emulator = require "spec.support.emulator"

local emu = emulator.start()
local config = {
  endpoint_url = emu.url,
  region_name = "us-east-1",
  access_key_id = emulator.credentials.access_key_id,
  secret_access_key = emulator.credentials.secret_access_key,
}
local MODEL = "anthropic.claude-3-sonnet-20240229-v1:0"
emu:scenario(MODEL, { text = "Hello from the lua-bedrock emulator! This reply was streamed as "
  .. "AWS event-stream frames, decoded in C, and handed to a Lua for loop one event at a time.",
  event_delay_ms = 40 })

local function request(prompt)
  return { model_id = MODEL, body = {
    anthropic_version = "bedrock-2023-05-31", max_tokens = 200,
    messages = { { role = "user", content = prompt } } } }
end

print("emulator: " .. emu.url)
print("\n-- sync stream --")
local client = bedrock.client(config)
local stream = client:invoke_model_with_response_stream(request("Say hello"))
for event in stream do
  if event.type == "content_block_delta" then
    io.write(event.delta.text)
    io.flush()
  end
end
local meta = stream:get_meta()
print(string.format("\n[request %s: %d input, %d output tokens]", meta.request_id,
  meta.usage.input_tokens, meta.usage.output_tokens))

print("\n-- three async streams at once --")
emu:scenario(MODEL, { text = "tokens arrive side by side", event_delay_ms = 60 })
local aclient = bedrock.async_client(config)
bedrock.run(function()
  local tasks = {}
  for i = 1, 3 do
    tasks[i] = bedrock.spawn(function()
      local parts = {}
      for event in aclient:invoke_model_with_response_stream(request("prompt " .. i)) do
        if event.type == "content_block_delta" then
          parts[#parts + 1] = event.delta.text
          print(string.format("  stream %d: %q", i, event.delta.text))
        end
      end
      return table.concat(parts)
    end)
  end
  for i = 1, 3 do print(string.format("stream %d done: %s", i, tasks[i]:wait())) end
end)

local body, err = client:invoke_model(request("And one plain invoke"))
print("\n-- invoke_model --")
print(body and body.content[1].text or tostring(err))
client:close()
emu:stop()
