-- The retry modes against the AWS figures: unit checks of the policy, the
-- adaptive rate limiter against botocore's own, and the standard-mode
-- figures over the wire, read back from the emulator's request log.
local bedrock = require "bedrock"
local cjson = require "cjson"
local errors = require "bedrock.errors"
local retry = require "bedrock.policy.retry"
local emulator = require "spec.support.emulator"

local CLAUDE = "anthropic.claude-3-sonnet-20240229-v1:0"

local function err(t)
  local e = errors.new(t)
  e.retryable = errors.classify(e)
  return e
end

local function policy(mode, max_retries, figures)
  local p = retry.new{ retry_mode = mode or "standard", max_retries = max_retries or 3 }
  if figures then p.figures = retry.FIGURES[figures] end
  return p
end

describe("retry policy", function()
  it("retries the SDKs' throttling and transient errors, and nothing else", function()
    for _, code in ipairs{ "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
        "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
        "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled",
        "SlowDown", "PriorRequestNotComplete", "EC2ThrottledException" } do
      local e = err{ code = code, status = 400 }
      assert.is_true(e.retryable, code)
      assert.is_true(errors.is_throttling(e), code)
    end
    for _, code in ipairs{ "RequestTimeout", "RequestTimeoutException", "ModelNotReadyException",
        "ServiceUnavailableException", "InternalServerException" } do
      local e = err{ code = code }                 -- in-stream exceptions carry no status
      assert.is_true(e.retryable, code)
      assert.is_false(errors.is_throttling(e), code)
    end
    for _, s in ipairs{ 500, 502, 503, 504 } do assert.is_true(err{ code = "HttpError", status = s }.retryable) end
    for _, case in ipairs{ { "ValidationException", 400 }, { "AccessDeniedException", 403 },
        { "ResourceNotFoundException", 404 }, { "ModelTimeoutException", 408 }, { "ModelErrorException", 424 },
        { "ModelStreamErrorException", 424 }, { "ServiceQuotaExceededException", 400 }, { "HttpError", 501 },
        { "SomethingElse", 429 }, { "EventStreamError" }, { "CredentialsError" } } do
      assert.is_false(err{ code = case[1], status = case[2] }.retryable, case[1])
    end
    assert.is_true(err{ code = "ConnectionError" }.retryable)
    assert.is_true(err{ code = "TimeoutError", phase = "connect" }.retryable)
    assert.is_false(err{ code = "TimeoutError", phase = "read" }.retryable)
    assert.is_false(err{ code = "TimeoutError", phase = "total" }.retryable)
    -- a bare 429 without an error type is ThrottlingException
    local bare = errors.from_response(429, {}, "", cjson.decode)
    assert.are.equal("ThrottlingException", bare.code)
    assert.is_true(bare.retryable)
  end)

  it("waits rand * min(2^(i-1), 20) s before retry i (full jitter, base 1 s)", function()
    local p = policy()
    p.random = function() return 1 end
    local e = err{ code = "InternalServerException", status = 500 }
    local t = err{ code = "ThrottlingException", status = 429 }
    local want = { 1, 2, 4, 8, 16, 20, 20 }
    for i, w in ipairs(want) do
      assert.are.equal(w, p:delay(i, e))
      assert.are.equal(w, p:delay(i, t))
    end
    p.random = function() return 0.25 end
    assert.are.equal(0.5, p:delay(2, e))
    assert.are.equal(5, p:delay(9, e))
  end)

  it("with AWS_NEW_RETRIES_2026 figures: base 50 ms for non-throttling errors, 14 tokens a retry", function()
    local p = policy("standard", 3, "2026")
    p.random = function() return 1 end
    local e = err{ code = "ServiceUnavailableException", status = 503 }
    local t = err{ code = "ThrottlingException", status = 429 }
    assert.are.equal(0.05, p:delay(1, e))
    assert.are.equal(0.4, p:delay(4, e))
    assert.are.equal(20, p:delay(10, e))
    assert.are.equal(4, p:delay(3, t))
    assert.are.equal(14, p:cost(e))
    assert.are.equal(5, p:cost(t))
    assert.are.equal(14, p:cost(err{ code = "TimeoutError", phase = "connect" }))
    -- the environment chooses them, as in the SDKs
    local env = function(v) return function(k) return k == "AWS_NEW_RETRIES_2026" and v or nil end end
    assert.are.equal("2026", select(2, retry.figures(env("true"))))
    assert.are.equal("2026", select(2, retry.figures(env("TRUE"))))
    assert.are.equal("current", select(2, retry.figures(env("false"))))
    assert.are.equal("current", select(2, retry.figures(env(nil))))
    assert.are.equal(retry.FIGURES["2026"], (retry.figures(env("true"))))
    assert.are.equal("current", policy().generation)
  end)

  it("honours x-amz-retry-after (ms) and Retry-After (s): max(t, min(hint, t + 5))", function()
    local hint = function(h) return errors.retry_after(h) end
    assert.are.equal(0.25, hint{ ["x-amz-retry-after"] = "250" })
    assert.are.equal(3, hint{ ["retry-after"] = "3" })
    assert.are.equal(0.25, hint{ ["x-amz-retry-after"] = "250", ["retry-after"] = "3" })
    assert.is_nil(hint{ ["x-amz-retry-after"] = "-5" })
    assert.is_nil(hint{ ["x-amz-retry-after"] = "soon" })
    assert.is_nil(hint{ ["retry-after"] = "Wed, 21 Oct 2015 07:28:00 GMT" })
    local p = policy()
    p.random = function() return 0.5 end          -- t = 0.5 s before the first retry
    local function with(h) local e = err{ code = "ThrottlingException", status = 429 }; e.retry_after = h; return e end
    assert.are.equal(0.5, p:delay(1, with(0.2)))   -- never shorter than the backoff
    assert.are.equal(3, p:delay(1, with(3)))
    assert.are.equal(5.5, p:delay(1, with(60)))    -- at most 5 s past it
    local e = errors.from_response(503, { ["x-amz-retry-after"] = "1500" }, '{"message":"x"}', cjson.decode)
    assert.are.equal(1.5, e.retry_after)
  end)

  it("keeps a client-wide quota: 500 tokens, 5 a retry, 10 a timeout retry, refunds on success", function()
    local p = policy("standard", 3)
    local thr = err{ code = "ThrottlingException", status = 429 }
    local tmo = err{ code = "TimeoutError", phase = "connect" }
    local five = err{ code = "HttpError", status = 502 }
    local s = p:begin()
    assert.is_number(p:retry_delay(s, thr, 1))
    assert.are.equal(495, p.quota.available)
    assert.is_number(p:retry_delay(s, tmo, 2))
    assert.are.equal(485, p.quota.available)
    assert.is_number(p:retry_delay(s, five, 3))
    assert.are.equal(480, p.quota.available)
    assert.is_nil(p:retry_delay(s, five, 4))       -- max_retries reached: nothing taken
    assert.are.equal(480, p.quota.available)
    p:succeeded(s)                                 -- gives back what the last retry took
    assert.are.equal(485, p.quota.available)
    p:succeeded(p:begin())                         -- a success without retry: 1 token
    assert.are.equal(486, p.quota.available)
    for _ = 1, 50 do p:succeeded(p:begin()) end
    assert.are.equal(500, p.quota.available)       -- never above 500
    p.quota.available = 7
    local s2 = p:begin()
    assert.is_nil(p:retry_delay(s2, tmo, 1))
    assert.is_true(tmo.retry_quota_exceeded)
    assert.are.equal(7, p.quota.available)
    assert.is_number(p:retry_delay(s2, thr, 1))
    assert.are.equal(2, p.quota.available)
    assert.is_nil(p:retry_delay(p:begin(), err{ code = "ValidationException", status = 400 }, 1))
  end)

  it("legacy mode has the same retries without a quota; adaptive adds the rate limiter", function()
    local l = policy("legacy", 2)
    assert.is_nil(l.quota)
    assert.is_nil(l.limiter)
    local s = l:begin()
    assert.is_number(l:retry_delay(s, err{ code = "ThrottlingException" }, 1))
    assert.is_number(l:retry_delay(s, err{ code = "ThrottlingException" }, 2))
    assert.is_nil(l:retry_delay(s, err{ code = "ThrottlingException" }, 3))
    local a = policy("adaptive")
    assert.is_table(a.quota)
    assert.is_table(a.limiter)
    assert.is_nil(policy().limiter)
  end)

  it("validates retry_mode and the timeouts as config keys", function()
    for _, bad in ipairs{ { retry_mode = "fast" }, { retry_mode = 1 }, { connect_timeout = 0 },
        { read_timeout = -1 }, { total_timeout = "10" }, { read_timeout = 0 / 0 } } do
      local k = next(bad)
      local ok, e = pcall(bedrock.client, bad)
      assert.is_false(ok)
      assert.are.equal("InvalidParameter", e.code)
      assert.truthy(e.message:find(k, 1, true), e.message)
    end
    local c = bedrock.client{ region_name = "us-east-1", timeout = 7, read_timeout = 600 }
    assert.are.equal("standard", c.config.retry_mode)
    assert.are.equal(7, c.config.connect_timeout)
    assert.are.equal(600, c.config.read_timeout)
    assert.is_nil(c.config.total_timeout)
    assert.are.equal(4, c.retry.max_attempts)
    c:close()
    c = bedrock.client{ region_name = "us-east-1", retry_mode = "adaptive", max_retries = 0 }
    assert.are.equal("adaptive", c.retry.mode)
    assert.are.equal(1, c.retry.max_attempts)
    c:close()
  end)
end)

describe("adaptive rate limiter", function()
  -- a timeline of responses: { seconds, throttled }
  local timeline = {}
  local t = 1000.0
  for _ = 1, 12 do t = t + 0.1; timeline[#timeline + 1] = { t, false } end
  for _ = 1, 3 do t = t + 0.05; timeline[#timeline + 1] = { t, true } end
  for _ = 1, 20 do t = t + 0.2; timeline[#timeline + 1] = { t, false } end
  t = t + 0.3; timeline[#timeline + 1] = { t, true }
  for _ = 1, 10 do t = t + 0.7; timeline[#timeline + 1] = { t, false } end
  for _ = 1, 4 do t = t + 0.01; timeline[#timeline + 1] = { t, true } end
  for _ = 1, 8 do t = t + 1.5; timeline[#timeline + 1] = { t, false } end

  it("follows botocore's ClientRateLimiter (CUBIC, measured rate, token bucket) step by step", function()
    local now = 1000.0
    local lim = retry.limiter(function() return now end)
    local ours = {}
    for i, ev in ipairs(timeline) do
      now = ev[1]
      lim:after_response(ev[2])
      ours[i] = { lim.bucket.fill_rate, lim.clocker.rate, lim.enabled }
    end
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write([[
import json, sys
from botocore.retries import adaptive, bucket, throttling
now = [1000.0]
class Clock:
    def current_time(self): return now[0]
    def sleep(self, s): now[0] += s
class Detector:
    def is_throttling_error(self, **kw): return kw["throttled"]
clock = Clock()
lim = adaptive.ClientRateLimiter(
    rate_adjustor=throttling.CubicCalculator(starting_max_rate=0, start_time=clock.current_time()),
    rate_clocker=adaptive.RateClocker(clock), token_bucket=bucket.TokenBucket(max_rate=1, clock=clock),
    throttling_detector=Detector(), clock=clock)
out = []
for t, thr in json.load(sys.stdin):
    now[0] = t
    lim.on_receiving_response(throttled=thr)
    out.append([lim._token_bucket.max_rate, lim._rate_clocker.measured_rate, lim._enabled])
print(json.dumps(out))
]])
    f:close()
    local input = os.tmpname()
    f = assert(io.open(input, "w"))
    f:write(cjson.encode(timeline))
    f:close()
    local p = io.popen("env -u LD_PRELOAD python3 " .. script .. " < " .. input .. " 2>&1")
    local res = p:read("*a")
    p:close()
    os.remove(script)
    os.remove(input)
    local ok, theirs = pcall(cjson.decode, res)
    assert.is_true(ok, res)
    assert.are.equal(#timeline, #theirs)
    local enabled_seen = false
    for i = 1, #timeline do
      assert.is_true(math.abs(ours[i][1] - theirs[i][1]) < 1e-9,
        ("step %d: fill rate %.12g, botocore %.12g"):format(i, ours[i][1], theirs[i][1]))
      assert.is_true(math.abs(ours[i][2] - theirs[i][2]) < 1e-9, "measured rate at step " .. i)
      assert.are.equal(theirs[i][3], ours[i][3])
      enabled_seen = enabled_seen or ours[i][3]
    end
    assert.is_true(enabled_seen)
  end)

  it("once throttled, makes each attempt wait for a token at the fill rate", function()
    local now = 0.0
    local lim = retry.limiter(function() return now end)
    local slept = {}
    local function sleep(s) slept[#slept + 1] = s; now = now + s end
    lim:before_send(sleep)                        -- not enabled yet: never waits
    assert.are.same({}, slept)
    now = 0.1
    lim:after_response(true)                      -- enabled; the rate floors at 0.5 tokens/s
    assert.is_true(lim.enabled)
    assert.are.equal(0.5, lim.bucket.fill_rate)
    lim:before_send(sleep)
    lim:before_send(sleep)
    assert.are.equal(2, #slept)
    -- the bucket filled 0.1 token in its first 0.1 s at 1/s; the rest of a
    -- token at 0.5/s takes 1.8 s, and the next whole one 2 s
    assert.is_true(math.abs(slept[1] - 1.8) < 1e-9, tostring(slept[1]))
    assert.is_true(math.abs(slept[2] - 2) < 1e-9, tostring(slept[2]))
  end)
end)

describe("standard-mode figures over the wire", function()
  local emu, client

  setup(function() emu = emulator.shared() end)
  before_each(function()
    emu:reset()
    client = bedrock.client(emu:config())
  end)
  after_each(function() client:close() end)

  local function gaps()
    local log, g = emu:requests(), {}
    for i = 2, #log do g[i - 1] = log[i].t - log[i - 1].t end
    return g, log
  end

  it("real jitter: each wait is within [0, min(2^(i-1), 20)] s", function()
    emu:scenario(CLAUDE, { fail_first = 2, fail_code = "ServiceUnavailableException" })
    local body, meta = client:invoke_model{ model_id = CLAUDE, body = {}, validate = false }
    assert.is_table(body)
    assert.are.equal(3, meta.attempts)
    local g, log = gaps()
    assert.are.equal(3, #log)
    assert.is_true(g[1] >= 0 and g[1] <= 1 + 0.4, "first wait " .. g[1])
    assert.is_true(g[2] >= 0 and g[2] <= 2 + 0.4, "second wait " .. g[2])
  end)

  it("waits at least x-amz-retry-after, and at least Retry-After", function()
    client.retry.random = function() return 0.01 end
    emu:scenario(CLAUDE, { fail_first = 1, retry_after_ms = 400 })
    local body, meta = client:invoke_model{ model_id = CLAUDE, body = {}, validate = false }
    assert.is_table(body)
    assert.are.equal(2, meta.attempts)
    local g = gaps()
    assert.is_true(g[1] >= 0.39 and g[1] < 1.2, "wait " .. g[1])
    emu:reset()
    emu:scenario(CLAUDE, { fail_first = 1, fail_status = 503, fail_raw = true, retry_after = "1" })
    body = client:invoke_model{ model_id = CLAUDE, body = {}, validate = false }
    assert.is_table(body)
    g = gaps()
    assert.is_true(g[1] >= 0.99 and g[1] < 1.8, "wait " .. g[1])
  end)

  it("adaptive mode: throttling turns the limiter on and lowers the send rate", function()
    local c = bedrock.client{ endpoint_url = emu.url, region_name = "us-east-1", retry_mode = "adaptive",
      access_key_id = emulator.credentials.access_key_id,
      secret_access_key = emulator.credentials.secret_access_key }
    c.retry.random = function() return 0.01 end
    for _ = 1, 5 do assert.is_table((c:invoke_model{ model_id = CLAUDE, body = {}, validate = false })) end
    assert.is_false(c.retry.limiter.enabled)
    emu:scenario(CLAUDE, { fail_first = 2 })
    local body, meta = c:invoke_model{ model_id = CLAUDE, body = {}, validate = false }
    assert.is_table(body)
    assert.are.equal(3, meta.attempts)
    assert.is_true(c.retry.limiter.enabled)
    assert.is_true(c.retry.limiter.cubic.w_max >= 0)
    assert.is_true(c.retry.limiter.bucket.fill_rate >= retry.MIN_FILL_RATE)
    c:close()
  end)
end)
