--- Error objects: one shape for service, transport, stream and client errors.
-- Fields: code, message, status, request_id, retryable, attempts (and, for
-- some codes, details). tostring(err) is one readable line. Nothing that
-- builds an error ever puts a secret into it. The module is `bedrock.errors`.
-- @module bedrock.errors
local errors = {}

--- An error object: what every call returns as `nil, err` and every for loop raises.
-- `tostring(err)` is one line: `ThrottlingException (HTTP 429): Too many requests [request …] after 4 attempts`.
-- @table Error
-- @field code the error code (see `codes`)
-- @field message the service's message, or the client's
-- @field status HTTP status, when there was a response
-- @field request_id `x-amzn-RequestId`, when there was a response
-- @field retryable whether the retry layer considered it transient
-- @field attempts attempts made
-- @field phase `TimeoutError` only: `"connect"`, `"read"` or `"total"`
-- @field reason `EventStreamError` only: `EVS_PRELUDE_CRC`, `EVS_MESSAGE_CRC`, `EVS_TOO_LARGE`,
-- `EVS_TRUNCATED`, `EVS_CONTENT_TYPE`, …
-- @field exception_type an in-stream exception's wire name (`modelStreamErrorException`)
-- @field retry_quota_exceeded `true` when the client's retry quota stopped a retry
-- @field retry_after the server's retry hint in seconds, when it sent one
-- @field path `InvalidParameter` from a body check or a setting: the offending member (`body.max_tokens`)
-- @field limit `BudgetExceeded` only: the budget key that was reached (`max_total_tokens`)

--- The error codes. A service error keeps the AWS error type as its code (a stream's
-- exception with its first letter raised); the client's own codes are listed here.
-- @table codes
-- @field ThrottlingException and the SDKs' other throttling codes (`errors.throttling_codes`): retried
-- @field ServiceUnavailableException InternalServerException, ModelNotReadyException: transient, retried
-- @field ValidationException AccessDeniedException, ResourceNotFoundException, ModelTimeoutException,
-- ModelErrorException, ModelStreamErrorException and any other 4xx: not retried
-- @field HttpError a non-2xx reply without an AWS error type (a proxy's); retried on 500, 502, 503, 504
-- @field ConnectionError refused, reset before the reply (or mid-stream), DNS: retried (a stream: before its first event)
-- @field TimeoutError `err.phase` `"connect"` (retried), `"read"` or `"total"` (not retried)
-- @field TLSError the server's certificate is not trusted, or the handshake failed: not retried
-- @field EventStreamError the stream's bytes are wrong (`err.reason` says how): not retried
-- @field ResponseTooLarge a bidirectional session's unread output passed 64 MiB
-- @field Aborted the transfer was closed by the caller
-- @field CredentialsError no credentials, a provider failed, or a credential holds CR, LF or NUL
-- @field InvalidParameter a bad parameter, config key or body; nothing was sent
-- @field BudgetExceeded a budget limit is reached; nothing was sent
-- @field PaginationError list_async_invokes: the service returned the same nextToken twice
-- @field SerializationError a reply that is not the JSON the operation returns
-- @field UnexpectedResponse a conversation's reply that has not the shape of its API
-- @field UsageError the `bedrock` command only (`--json` on stderr): bad arguments; nothing was sent (exit status 2)
-- @field Interrupted the `bedrock` command only (`--json` on stderr): Ctrl-C ended the call (exit status 130)

local Error = { __name = "bedrock.error" }
Error.__index = Error

function Error:__tostring()
  local parts = { self.code or "Error" }
  if self.status then parts[#parts + 1] = " (HTTP " .. tostring(self.status) .. ")" end
  parts[#parts + 1] = ": " .. tostring(self.message or "")
  if self.request_id then parts[#parts + 1] = " [request " .. self.request_id .. "]" end
  if self.attempts and self.attempts > 1 then
    parts[#parts + 1] = " after " .. self.attempts .. " attempts"
  end
  return table.concat(parts)
end

--- Make an error object (sets its metatable; `retryable` becomes a boolean).
-- @tparam table fields code, message, status, request_id, retryable, ...
-- @treturn Error fields itself
function errors.new(fields)
  fields.retryable = fields.retryable and true or false
  return setmetatable(fields, Error)
end

--- Whether x is an error object (`bedrock.is_error`).
-- @param x any value
-- @treturn boolean
function errors.is(x)
  return getmetatable(x) == Error
end

--- An `InvalidParameter` error with this message.
-- @tparam string message
-- @treturn Error
function errors.invalid(message)
  return errors.new{ code = "InvalidParameter", message = message }
end

-- Error codes the AWS SDKs treat as throttling (botocore retries/standard.py
-- and the notes). Transient: the SDKs' transient codes, plus the codes
-- Bedrock's model marks retryable (ModelNotReadyException) or sends with a
-- transient status (ServiceUnavailableException 503, InternalServerException
-- 500), so that the same exceptions inside an event stream, which carry no
-- status, count too.

--- Codes the AWS SDKs treat as throttling (a set: code = true).
errors.throttling_codes = {
  Throttling = true, ThrottlingException = true, ThrottledException = true,
  RequestThrottledException = true, TooManyRequestsException = true,
  ProvisionedThroughputExceededException = true, TransactionInProgressException = true,
  RequestLimitExceeded = true, BandwidthLimitExceeded = true, LimitExceededException = true,
  RequestThrottled = true, SlowDown = true, PriorRequestNotComplete = true,
  EC2ThrottledException = true,
}
--- Transient codes beyond throttling (a set: code = true).
errors.transient_codes = {
  RequestTimeout = true, RequestTimeoutException = true, PriorRequestNotComplete = true,
  ModelNotReadyException = true, ServiceUnavailableException = true,
  InternalServerException = true,
}
--- HTTP statuses that make any code transient (a set: status = true).
errors.transient_statuses = { [500] = true, [502] = true, [503] = true, [504] = true }

--- Throttling is told by the error code alone, as the SDKs do (a bare 429
-- without an error type is read as ThrottlingException by from_response).
-- @tparam Error err
-- @treturn boolean
function errors.is_throttling(err)
  return errors.throttling_codes[err.code] == true
end

--- Whether the retry layer may send the request again after this error.
-- @tparam Error err
-- @treturn boolean
function errors.classify(err)
  if err.code == "ConnectionError" then
    return true
  end
  if err.code == "TimeoutError" then
    -- a connect timeout sent nothing; a read timeout may have run (and
    -- billed) a whole generation, so it is not repeated blindly
    return err.phase == "connect"
  end
  return errors.is_throttling(err) or errors.transient_codes[err.code] == true
      or (err.status ~= nil and errors.transient_statuses[err.status] == true)
end

--- The server's retry hint in seconds: x-amz-retry-after (integer
-- milliseconds, as botocore reads it), else Retry-After (integer seconds);
-- nil when absent or not a number.
-- @tparam table headers response headers, lower-case names
-- @treturn ?number seconds
function errors.retry_after(headers)
  local ms = headers["x-amz-retry-after"]
  if ms and ms:match("^%s*%d+%s*$") then return tonumber(ms) / 1000 end
  local s = headers["retry-after"]
  if s and s:match("^%s*%d+%s*$") then return tonumber(s) + 0.0 end
  return nil
end

--- Build an error from a non-2xx HTTP response.
-- The type comes from x-amzn-ErrorType (the part before ':'), else the JSON
-- body's __type (after '#') or code; the message from message/Message.
-- @tparam integer status
-- @tparam table headers response headers, lower-case names
-- @tparam ?string body
-- @tparam function decode_json the JSON decoder to read the body with
-- @treturn Error
function errors.from_response(status, headers, body, decode_json)
  local code = headers["x-amzn-errortype"]
  if code then code = code:match("^([^:]*)") end
  local message
  local ok, doc = false, nil
  if body and body ~= "" then ok, doc = pcall(decode_json, body) end
  if ok and type(doc) == "table" then
    message = doc.message or doc.Message
    if not code or code == "" then
      local t = doc.__type or doc.code or doc.Code
      if type(t) == "string" then code = t:match("#(.*)$") or t end
    end
  end
  if type(message) ~= "string" then
    if body and body ~= "" and not ok then
      message = body:sub(1, 200):gsub("%s+", " ")
    else
      message = "HTTP " .. tostring(status)
    end
  end
  if not code or code == "" then
    code = status == 429 and "ThrottlingException" or "HttpError"
  end
  local err = errors.new{
    code = code, message = message, status = status,
    request_id = headers["x-amzn-requestid"],
  }
  err.retry_after = errors.retry_after(headers)
  err.retryable = errors.classify(err)
  return err
end

return errors
