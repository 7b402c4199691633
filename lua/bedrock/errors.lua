--- Error objects: one shape for service, transport, stream and client errors.
-- Fields: code, message, status, request_id, retryable, attempts (and, for
-- some codes, details). tostring(err) is one readable line. Nothing that
-- builds an error ever puts a secret into it.
local errors = {}

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

--- Make an error object. fields: code, message, status, request_id, retryable, ...
function errors.new(fields)
  fields.retryable = fields.retryable and true or false
  return setmetatable(fields, Error)
end

function errors.is(x)
  return getmetatable(x) == Error
end

--- Shorthand for the client's own codes.
function errors.invalid(message)
  return errors.new{ code = "InvalidParameter", message = message }
end

-- Error codes the AWS SDKs treat as throttling (botocore retries/standard.py
-- and the notes). Transient: the SDKs' transient codes, plus the codes
-- Bedrock's model marks retryable (ModelNotReadyException) or sends with a
-- transient status (ServiceUnavailableException 503, InternalServerException
-- 500), so that the same exceptions inside an event stream, which carry no
-- status, count too.
errors.throttling_codes = {
  Throttling = true, ThrottlingException = true, ThrottledException = true,
  RequestThrottledException = true, TooManyRequestsException = true,
  ProvisionedThroughputExceededException = true, TransactionInProgressException = true,
  RequestLimitExceeded = true, BandwidthLimitExceeded = true, LimitExceededException = true,
  RequestThrottled = true, SlowDown = true, PriorRequestNotComplete = true,
  EC2ThrottledException = true,
}
errors.transient_codes = {
  RequestTimeout = true, RequestTimeoutException = true, PriorRequestNotComplete = true,
  ModelNotReadyException = true, ServiceUnavailableException = true,
  InternalServerException = true,
}
errors.transient_statuses = { [500] = true, [502] = true, [503] = true, [504] = true }

--- Throttling is told by the error code alone, as the SDKs do (a bare 429
-- without an error type is read as ThrottlingException by from_response).
function errors.is_throttling(err)
  return errors.throttling_codes[err.code] == true
end

--- Whether the retry layer may send the request again after this error.
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
