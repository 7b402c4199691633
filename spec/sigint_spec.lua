-- bedrock.core's SIGINT flag (src/sigint.c), which the bedrock command polls:
-- a signal sets the flag instead of ending the process, and it cuts an
-- engine pump short (no SA_RESTART), so a stream loop sees it at once.
local child = require "spec.support.child"
local core = require "bedrock.core"

describe("SIGINT flag", function()
  after_each(function() assert.is_true(core.sigint_restore()) end)

  it("is set by a SIGINT (which no longer ends the process) and cleared on request", function()
    assert.is_true(core.sigint_catch())
    assert.is_false(core.sigint_caught())
    -- sent from a background shell: system() itself ignores SIGINT while it waits
    assert.is_true(child.execute("(sleep 0.2; kill -INT $PPID) &"))
    local deadline = core.now() + 10
    while not core.sigint_caught() and core.now() < deadline do core.sleep(0.01) end
    assert.is_true(core.sigint_caught())
    assert.is_true(core.sigint_caught(true))   -- reports, then clears
    assert.is_false(core.sigint_caught())
  end)

  it("ends a blocked engine pump before its timeout", function()
    assert.is_true(core.sigint_catch())
    local engine = core.engine()
    assert.is_true(child.execute("(sleep 0.3; kill -INT $PPID) &"))
    local started = core.now()
    -- a pump of 20 s over an idle engine: only the signal can end it early
    while not core.sigint_caught() and core.now() - started < 20 do engine:pump(20000) end
    assert.is_true(core.sigint_caught(true))
    assert.is_true(core.now() - started < 15)
    engine:close()
  end)
end)
