-- wrk script: each wrk thread is one supplier replaying its own pre-signed DUIS requests in counter order
-- (one connection per thread keeps the order). Files: <dir>/client-<n>.req, one request per line.
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  local dir = args[1]
  bodies = {}
  local f = assert(io.open(dir .. "/client-" .. id .. ".req", "rb"))
  for line in f:lines() do table.insert(bodies, line) end
  f:close()
  i = 0
  errors = 0
  answered = 0
end

function request()
  i = i + 1
  if i > #bodies then i = #bodies end  -- keep sending the last one (counted as E41, reported as errors)
  return wrk.format("POST", "/api/v1/serviceD", {["Content-Type"] = "application/xml"}, bodies[i])
end

function response(status, headers, body)
  answered = answered + 1
  if status ~= 200 or headers["x-duis-response-code"] ~= "I0" then
    errors = errors + 1
    if errors <= 3 then io.stderr:write("non-I0: " .. status .. " " .. tostring(headers["x-duis-response-code"]) .. " request " .. i .. "\n") end
  end
end

function done(summary, latency, requests)
  local errs, n = 0, 0
  for _, t in ipairs(threads) do
    errs = errs + t:get("errors")
    n = n + t:get("answered")
  end
  io.write(string.format("RESULT answered=%d errors=%d p50_us=%d p99_us=%d seconds=%.3f\n",
    n, errs, latency:percentile(50), latency:percentile(99), summary.duration / 1e6))
end
