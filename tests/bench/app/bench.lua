-- bench.lua -- wrk script used by tests/bench/app/run for every case.
--
-- Owns two things and nothing else:
--   * BENCH_COOKIE (env): when set, sent as a fixed Cookie header on every
--     request (the "kept cookie" cases).  It is put into wrk.headers at load
--     time, so wrk pre-builds the request once and no request() or
--     response() hook runs in the hot path.
--   * done(): prints one machine-readable "BENCH_RESULT k=v ..." line with
--     the totals and exact percentiles (microseconds) for the harness.

local cookie = os.getenv("BENCH_COOKIE")
if cookie ~= nil and cookie ~= "" then
    wrk.headers["Cookie"] = cookie
end

function done(summary, latency, requests)
    local e = summary.errors
    local function us(x)
        return math.floor(x + 0.5)
    end
    io.write(string.format(
        "BENCH_RESULT requests=%d duration_us=%d bytes=%d connect=%d " ..
        "read=%d write=%d status=%d timeout=%d p50_us=%d p90_us=%d " ..
        "p99_us=%d max_us=%d mean_us=%d\n",
        summary.requests, summary.duration, summary.bytes, e.connect,
        e.read, e.write, e.status, e.timeout,
        us(latency:percentile(50)), us(latency:percentile(90)),
        us(latency:percentile(99)), us(latency.max), us(latency.mean)))
end
