-- The README's examples for the operations and for usage run as they are
-- against the emulator (only its URL is put in).
local emulator = require "spec.support.emulator"

local function examples(from, to)
  local f = assert(io.open("README.md", "rb"))
  local text = f:read("a")
  f:close()
  local a = assert(text:find(from, 1, true), from)
  local b = assert(text:find(to, a, true), to)
  local out = {}
  for code in text:sub(a, b):gmatch("```lua\n(.-)```") do out[#out + 1] = code end
  return out
end

describe("README examples", function()
  local emu
  setup(function() emu = emulator.shared() end)
  before_each(function() emu:reset() end)

  local function run(code)
    local printed = {}
    local env = setmetatable({
      print = function(...)
        local t = table.pack(...)
        for i = 1, t.n do t[i] = tostring(t[i]) end
        printed[#printed + 1] = table.concat(t, "\t")
      end,
      io = { write = function(...) for _, s in ipairs{ ... } do printed[#printed + 1] = s end end },
    }, { __index = _G })
    code = code:gsub("http://127%.0%.0%.1:4566", emu.url)
    local chunk = assert(load(code, "=README", "t", env))
    chunk()
    return table.concat(printed, "\n")
  end

  it("runs the operations example", function()
    local blocks = examples("## Converse, tokens, guardrails", "## Usage and budgets")
    assert.are.equal(1, #blocks)
    local out = run(blocks[1])
    assert.matches("You said: Hello!\tend_turn", out, 1, true)
    assert.matches("tokens:\t4", out, 1, true)
    assert.matches("\n3\t3\n", out, 1, true)       -- meta.usage: integers
    assert.matches("GUARDRAIL_INTERVENED", out, 1, true)
    assert.matches("Completed", out, 1, true)
    assert.matches("arn:aws:bedrock:us-east-1:123456789012:async-invoke/", out, 1, true)
  end)

  it("runs the bidirectional stream example", function()
    local blocks = examples("### Bidirectional streams", "## Checking bodies")
    assert.are.equal(1, #blocks)
    local out = run(blocks[1])
    assert.are.equal("0\necho\nend of session", out)
  end)

  it("runs the usage example", function()
    local blocks = examples("## Usage and budgets", "## Configuration")
    assert.are.equal(1, #blocks)
    local out = run(blocks[1])
    assert.matches("anthropic.claude-3-sonnet-20240229-v1:0\tConverse\t1\t3\t", out, 1, true)
    assert.matches("\n4\t", out, 1, true)
  end)
end)
