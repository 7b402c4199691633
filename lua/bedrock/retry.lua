--- When to try again, and how long to wait first.
-- Exponential backoff with full jitter, capped at 20 s: before retry i
-- (1-based) wait rand(0,1) * min(base * 2^(i-1), 20), where base is 1 s for
-- throttling and 50 ms for other transient failures (botocore's newest
-- standard mode). The AWS standard and adaptive modes (quota, rate limiter)
-- build on this.
local errors = require "bedrock.errors"

local retry = {}

retry.MAX_DELAY = 20
retry.THROTTLING_BASE = 1
retry.TRANSIENT_BASE = 0.05

function retry.delay(i, err, random)
  local base = errors.is_throttling(err) and retry.THROTTLING_BASE or retry.TRANSIENT_BASE
  return (random or math.random)() * math.min(base * 2 ^ (i - 1), retry.MAX_DELAY)
end

--- Whether attempt number `attempts` (just failed with err) may be followed
-- by another, given max_retries retries after the first attempt.
function retry.should_retry(err, attempts, max_retries)
  return err.retryable == true and attempts <= max_retries
end

return retry
