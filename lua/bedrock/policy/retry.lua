--- Retries as the AWS SDKs specify them: the retry modes "standard"
-- (default), "adaptive" and "legacy" (botocore retries/standard.py, quota.py,
-- adaptive.py, bucket.py, throttling.py and the AWS SDKs and Tools reference,
-- "Retry behavior").
--
-- Every client has one policy (retry.new), and with it one retry quota and,
-- in adaptive mode, one client-side rate limiter, shared by all its calls
-- and streams. After a failed attempt a call asks the policy whether and
-- when to try again (Policy:retry_delay), and it tells the policy how each
-- attempt and the call ended.
--
-- Standard mode, with the figures the SDKs use today (botocore's default):
--   * retryable: throttling codes, transient codes, HTTP 500/502/503/504,
--     connection failures and connect timeouts (errors.classify); nothing
--     else, no other 4xx;
--   * at most max_retries retries after the first attempt;
--   * delay before retry i (1-based): rand(0,1) * min(base * 2^(i-1), 20 s),
--     base 1 s ("full jitter");
--   * a retry quota per client: 500 tokens; a retry takes 5, a retry after
--     a timeout 10; when the tokens run out the error is returned at once
--     (err.retry_quota_exceeded = true); a call that succeeds gives back what
--     its last retry took, or 1 token when it needed no retry;
--   * x-amz-retry-after (milliseconds) or Retry-After (seconds) on the
--     failed response: the delay becomes max(t, min(hint, t + 5 s)) where t
--     is the jittered delay above (the SDKs' 2026 rule; botocore applies it
--     with AWS_NEW_RETRIES_2026 only, we always do).
-- With AWS_NEW_RETRIES_2026=true in the environment, the 2026 figures the
-- SDKs adopt then: base 1 s for throttling and 50 ms for other errors; a
-- throttling retry takes 5 tokens, any other 14 (timeouts included).
--
-- Adaptive mode adds botocore's client-side rate limiter: once a throttling
-- response arrives, every attempt first takes a token from a bucket whose
-- fill rate follows CUBIC (scale 0.4, beta 0.7) from the measured rate.
--
-- Legacy mode keeps the same retryable errors and jittered backoff, with no
-- quota and no rate limiter.
local core = require "bedrock.core"
local errors = require "bedrock.errors"

local retry = {}

retry.MODES = { standard = true, adaptive = true, legacy = true }
retry.MAX_BACKOFF = 20
retry.RETRY_AFTER_MAX_ADDITIONAL = 5
retry.QUOTA_CAPACITY = 500
retry.NO_RETRY_INCREMENT = 1

-- The two generations of standard-mode figures.
retry.FIGURES = {
  current = { throttling_base = 1, transient_base = 1,
              throttling_cost = 5, retry_cost = 5, timeout_cost = 10 },
  ["2026"] = { throttling_base = 1, transient_base = 0.05,
               throttling_cost = 5, retry_cost = 14, timeout_cost = 14 },
}

--- The figures in force, and their name: "2026" when AWS_NEW_RETRIES_2026
-- is "true" (any case) in the environment, as in the SDKs, else "current".
function retry.figures(getenv)
  local v = (getenv or os.getenv)("AWS_NEW_RETRIES_2026")
  if v and v:lower() == "true" then return retry.FIGURES["2026"], "2026" end
  return retry.FIGURES.current, "current"
end

-- ------------------------------------------------------------ retry quota

local Quota = { __name = "bedrock.retry_quota" }
Quota.__index = Quota

function retry.quota(capacity)
  capacity = capacity or retry.QUOTA_CAPACITY
  return setmetatable({ max = capacity, available = capacity }, Quota)
end

--- Take n tokens if there are that many: true, else false (and take none).
function Quota:acquire(n)
  if n > self.available then return false end
  self.available = self.available - n
  return true
end

--- Give back n tokens, never above the capacity.
function Quota:release(n)
  local v = self.available + n
  if v > self.max then v = self.max end
  self.available = v
end

-- ------------------------------------------------ adaptive: rate limiting

-- CUBIC: the send rate after a throttle falls to beta times the rate then,
-- and grows back along a cubic that regains the old rate after k seconds.
local Cubic = {}
Cubic.__index = Cubic
retry.CUBIC_SCALE = 0.4
retry.CUBIC_BETA = 0.7

local function cubic_k(w_max)
  return (w_max * (1 - retry.CUBIC_BETA) / retry.CUBIC_SCALE) ^ (1 / 3)
end

local function new_cubic(start_time)
  return setmetatable({ w_max = 0, k = cubic_k(0), last_fail = start_time }, Cubic)
end

function Cubic:success(t)
  return retry.CUBIC_SCALE * (t - self.last_fail - self.k) ^ 3 + self.w_max
end

function Cubic:error(rate, t)
  self.w_max = rate
  self.k = cubic_k(rate)
  self.last_fail = t
  return rate * retry.CUBIC_BETA
end

-- The measured rate: responses per second, counted in half-second buckets
-- and smoothed (0.8 new, 0.2 old).
local Clocker = {}
Clocker.__index = Clocker
retry.RATE_SMOOTHING = 0.8
retry.RATE_BUCKET = 0.5

local function new_clocker(now)
  return setmetatable({ rate = 0, count = 0, last_bucket = math.floor(now) }, Clocker)
end

function Clocker:record(t)
  local bucket = math.floor(t / retry.RATE_BUCKET) * retry.RATE_BUCKET
  self.count = self.count + 1
  if bucket > self.last_bucket then
    local current = self.count / (bucket - self.last_bucket)
    self.rate = current * retry.RATE_SMOOTHING + self.rate * (1 - retry.RATE_SMOOTHING)
    self.count = 0
    self.last_bucket = bucket
  end
  return self.rate
end

-- A token bucket filled at fill_rate tokens per second, holding at most
-- max(1, rate) tokens; the fill rate never goes below 0.5 per second.
local Bucket = {}
Bucket.__index = Bucket
retry.MIN_FILL_RATE = 0.5

local function new_bucket(rate, now)
  local b = setmetatable({ capacity = 0 }, Bucket)
  b:set_rate(rate, now)
  return b
end

function Bucket:refill(t)
  if not self.last then
    self.last = t
    return
  end
  self.capacity = math.min(self.max_capacity, self.capacity + (t - self.last) * self.fill_rate)
  self.last = t
end

function Bucket:set_rate(rate, t)
  self:refill(t)
  self.rate = rate
  self.fill_rate = math.max(rate, retry.MIN_FILL_RATE)
  self.max_capacity = rate >= 1 and rate or 1
  self.capacity = math.min(self.capacity, self.max_capacity)
end

--- Take one token, sleeping (with `sleep`) until there is one.
function Bucket:acquire(clock, sleep)
  self:refill(clock())
  while self.capacity < 1 do
    sleep((1 - self.capacity) / self.fill_rate)
    self:refill(clock())
  end
  self.capacity = self.capacity - 1
end

local Limiter = { __name = "bedrock.rate_limiter" }
Limiter.__index = Limiter
retry.MAX_RATE_ADJUST_SCALE = 2

--- The adaptive-mode rate limiter; clock() gives seconds.
function retry.limiter(clock)
  clock = clock or core.now
  local now = clock()
  return setmetatable({
    clock = clock, enabled = false,
    cubic = new_cubic(now), clocker = new_clocker(now), bucket = new_bucket(1, now),
  }, Limiter)
end

--- Before each attempt: once throttled, wait for a send token.
function Limiter:before_send(sleep)
  if self.enabled then self.bucket:acquire(self.clock, sleep) end
end

--- After each attempt, whatever its outcome (a connection error counts as
-- a response that is not throttling, as in botocore).
function Limiter:after_response(throttled)
  local measured = self.clocker:record(self.clock())
  local t = self.clock()
  local new_rate
  if not throttled then
    new_rate = self.cubic:success(t)
  else
    local rate = measured
    if self.enabled then rate = math.min(measured, self.bucket.fill_rate) end
    new_rate = self.cubic:error(rate, t)
    self.enabled = true
  end
  self.bucket:set_rate(math.min(new_rate, retry.MAX_RATE_ADJUST_SCALE * measured), t)
end

-- --------------------------------------------------------------- policy

local Policy = { __name = "bedrock.retry_policy" }
Policy.__index = Policy

--- The policy of one client, from its validated config (retry_mode,
-- max_retries).
function retry.new(cfg)
  local mode = cfg.retry_mode or "standard"
  local figures, generation = retry.figures()
  local self = setmetatable({
    mode = mode,
    max_attempts = (cfg.max_retries or 3) + 1,
    figures = figures, generation = generation,
    random = math.random,   -- the jitter source (specs may pin it)
  }, Policy)
  if mode ~= "legacy" then self.quota = retry.quota() end
  if mode == "adaptive" then self.limiter = retry.limiter() end
  return self
end

--- The backoff before retry `i` (1-based) after err.
function Policy:delay(i, err)
  local f = self.figures
  local base = errors.is_throttling(err) and f.throttling_base or f.transient_base
  local t = self.random() * math.min(base * 2 ^ (i - 1), retry.MAX_BACKOFF)
  local hint = err.retry_after
  if hint then
    t = math.max(t, math.min(hint, t + retry.RETRY_AFTER_MAX_ADDITIONAL))
  end
  return t
end

--- Tokens a retry after err takes from the quota.
function Policy:cost(err)
  local f = self.figures
  if errors.is_throttling(err) then return f.throttling_cost end
  if err.code == "TimeoutError" then return f.timeout_cost end
  return f.retry_cost
end

--- Per-call state: what the call's last retry took from the quota.
function Policy:begin()
  return { acquired = nil }
end

--- Before each attempt (adaptive mode may wait here).
function Policy:before_attempt(sleep)
  if self.limiter then self.limiter:before_send(sleep) end
end

--- After each attempt: err is nil when it succeeded.
function Policy:after_attempt(err)
  if self.limiter then self.limiter:after_response(err ~= nil and errors.is_throttling(err)) end
end

--- Attempt number `attempts` failed with err: the seconds to wait before
-- the next one, or nil to give up (err.retry_quota_exceeded says so when
-- the quota was the reason).
function Policy:retry_delay(state, err, attempts)
  if err.retryable ~= true or attempts >= self.max_attempts then return nil end
  if self.quota then
    local cost = self:cost(err)
    if not self.quota:acquire(cost) then
      err.retry_quota_exceeded = true
      return nil
    end
    state.acquired = cost
  end
  return self:delay(attempts, err)
end

--- A retry granted by retry_delay will not be made after all (the call's
-- deadline would pass first): give its tokens back.
function Policy:cancel_retry(state)
  if self.quota and state.acquired then
    self.quota:release(state.acquired)
    state.acquired = nil
  end
end

--- The call succeeded (a 2xx response): refill the quota. state may be
-- nil: a call that weighed no retry has none.
function Policy:succeeded(state)
  if self.quota then self.quota:release(state and state.acquired or retry.NO_RETRY_INCREMENT) end
end

-- ------------------------------------------- the foundation's interface

--- The backoff before retry i with the current standard figures.
function retry.delay(i, err, random)
  local p = setmetatable({ figures = retry.FIGURES.current, random = random or math.random }, Policy)
  return p:delay(i, err)
end

--- Whether attempt number `attempts` (just failed with err) may be followed
-- by another, given max_retries retries after the first (no quota).
function retry.should_retry(err, attempts, max_retries)
  return err.retryable == true and attempts <= max_retries
end

return retry
