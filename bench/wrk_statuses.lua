-- wrk script for the benchmark's fault phases: POSTs JSON bodies in rotation, counts the
-- answers by status in every thread, and prints one machine-readable summary line.
-- bench/run.py fills in the list of bodies.
local bodies = __BODIES__
local next_body = 0
local threads = {}
counts = {} -- a global: done() reads each thread's copy with thread:get("counts")

setup = function(thread)
  table.insert(threads, thread)
end

init = function(args)
  counts = {}
end

request = function()
  next_body = next_body % #bodies + 1
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, bodies[next_body])
end

response = function(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

done = function(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local thread_counts = thread:get("counts")
    for status, count in pairs(thread_counts) do
      total[status] = (total[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(total) do
    table.insert(parts, string.format('"%d": %d', status, count))
  end
  local errors = summary.errors
  io.write(string.format(
    'STATUS_JSON {"statuses": {%s}, "requests": %d, "duration_us": %d, "p50_us": %d, ' ..
    '"p99_us": %d, "connect_errors": %d, "read_errors": %d, "write_errors": %d, ' ..
    '"timeouts": %d}\n',
    table.concat(parts, ", "), summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), errors.connect, errors.read, errors.write, errors.timeout))
end
