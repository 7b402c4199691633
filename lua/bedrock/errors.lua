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
-- and the notes); Bedrock's ModelNotReadyException is retryable by its model.
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

function errors.is_throttling(err)
  return err.status == 429 or errors.throttling_codes[err.code] == true
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
  err.retryable = errors.classify(err)
  return err
end

return errors
