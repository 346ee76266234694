"""measure.py -- what tests/bench/app/run measures and how it reads it.

Owns the measurements and no process life cycle: one wrk run (argv, the
BENCH_RESULT line printed by bench.lua, requests/s), /proc sampling of RSS
and open fds per process while a run goes on, where the CPU went during a
run (per process group from /proc, plus caller-supplied probes such as a
container's cgroup), and a single HTTP GET used to check that a case
answers what it should before it is measured.  Every address is loopback.
"""
import http.client
import os
import threading
import time

import procfs   # tests/lib/procfs.py (run puts tests/lib on the path)

HERE = os.path.dirname(os.path.abspath(__file__))
LUA = os.path.join(HERE, "bench.lua")


class MeasureError(Exception):
    """wrk gave no usable result."""


def wrk(stack, name, port, duration, conns, threads, cookie=None, path="/",
        host="127.0.0.1"):
    """Run wrk against http://host:port<path> for duration seconds and
    return a dict with the BENCH_RESULT fields (ints, latencies in us) plus
    'rps', 'socket_errors' and 'raw' (wrk's own output).  host is always a
    loopback name or address."""
    env = dict(os.environ)
    env.pop("BENCH_COOKIE", None)
    if cookie:
        env["BENCH_COOKIE"] = cookie
    argv = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s",
            "--latency", "-s", LUA, f"http://{host}:{port}{path}"]
    out = stack.run(name, argv, env=env, timeout=duration + 60)
    res = parse_result(out)
    res["raw"] = out
    secs = res["duration_us"] / 1e6
    res["rps"] = res["requests"] / secs if secs > 0 else 0.0
    res["socket_errors"] = (res["connect"] + res["read"] + res["write"] +
                            res["timeout"])
    return res


def parse_result(out):
    """Parse the 'BENCH_RESULT k=v ...' line of bench.lua (all ints)."""
    for line in out.splitlines():
        if line.startswith("BENCH_RESULT "):
            res = {}
            for field in line.split()[1:]:
                k, sep, v = field.partition("=")
                if not sep or not v.isdigit():
                    raise MeasureError(f"bad BENCH_RESULT field {field!r}")
                res[k] = int(v)
            return res
    raise MeasureError("wrk printed no BENCH_RESULT line: " +
                       " | ".join(out.strip().splitlines()[-5:]))


def proc_sample(pid):
    """(rss_kb, open_fds) of pid, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next((int(line.split()[1]) for line in f
                        if line.startswith("VmRSS:")), 0)
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration):
        return None
    return rss, fds


class Sampler:
    """Samples RSS and fds of a fixed set of pids every interval seconds in
    a thread, between start() and stop().  stats() gives, per pid, the
    first, last and maximum of each, and whether the pid vanished."""

    def __init__(self, pids, interval=0.5):
        self.pids = list(pids)
        self.interval = interval
        self.data = {pid: [] for pid in self.pids}
        self.gone = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _take(self):
        for pid in self.pids:
            s = proc_sample(pid)
            if s is None:
                self.gone.add(pid)
            else:
                self.data[pid].append(s)

    def _loop(self):
        while not self._stop.wait(self.interval):
            self._take()

    def start(self):
        self._take()
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join()
        self._take()
        return self

    def stats(self):
        out = {}
        for pid, samples in self.data.items():
            if not samples:
                out[pid] = None
                continue
            rss = [s[0] for s in samples]
            fds = [s[1] for s in samples]
            out[pid] = {"rss_start": rss[0], "rss_end": rss[-1],
                        "rss_max": max(rss), "fds_start": fds[0],
                        "fds_end": fds[-1], "fds_max": max(fds),
                        "samples": len(samples), "gone": pid in self.gone}
        return out


def get(port, cookie=None, timeout=5.0, path="/", host="127.0.0.1"):
    """GET http://host:port<path> once; returns (status, headers, body)
    with headers as a list of (name, value)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        headers = {"Cookie": cookie} if cookie else {}
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        return r.status, r.getheaders(), r.read()
    finally:
        conn.close()


def wait_ok(port, timeout=10.0, host="127.0.0.1"):
    """Wait until GET / on port answers 200 (a backend may need a moment
    after its port opens); returns the last (status, headers, body)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = get(port, host=host)
            if last[0] == 200:
                return last
        except OSError:
            pass
        time.sleep(0.1)
    return last


def _busy_ticks():
    """Non-idle CPU ticks of the whole machine (all CPUs) from /proc/stat."""
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice]:
    # guest time is already counted in user, so only the first 8 count.
    return sum(vals[:8]) - vals[3] - vals[4]


def _group_ticks(pgids):
    """{pgid: utime + stime} summed over the live processes of each
    process group in pgids."""
    total = dict.fromkeys(pgids, 0)
    for _, fields in procfs.stats():
        if len(fields) > 12 and int(fields[2]) in total:
            total[int(fields[2])] += int(fields[11]) + int(fields[12])
    return total


class CpuMeter:
    """Where the CPU went during a measured run, in percent of all CPUs:
    per named process group of ours, per named probe, "wrk" (this
    process's children reaped meanwhile), and "other" (the rest of the
    machine: all busy ticks minus ours).  Another job on the same cores
    lowers every figure, so the report shows "other" next to each case.

    groups: {pgid: name}; several pgids may share a name (summed).
    probes: {name: fn} for CPU that is not a process group of ours (a
    container's cgroup, docker-proxy): fn() returns the CPU seconds used so
    far, cumulative, by whatever the name stands for."""

    def __init__(self, groups, probes=None):
        self.groups = dict(groups)          # pgid -> name
        self.probes = dict(probes or {})    # name -> fn() -> seconds
        self.hz = os.sysconf("SC_CLK_TCK")

    def _snap(self):
        t = os.times()
        groups = _group_ticks(self.groups)
        for name, fn in self.probes.items():
            groups[name] = fn() * self.hz
        return (_busy_ticks(), groups,
                (t.user + t.system) * self.hz,
                (t.children_user + t.children_system) * self.hz)

    def start(self):
        self.t0 = time.monotonic()
        self.s0 = self._snap()
        return self

    def stop(self):
        """{name: percent of all CPUs} since start(); includes "wrk",
        "harness" (this process) and "other"."""
        secs = time.monotonic() - self.t0
        busy1, groups1, own1, kids1 = self._snap()
        busy0, groups0, own0, kids0 = self.s0
        cap = secs * self.hz * (os.cpu_count() or 1)
        if cap <= 0:
            return {}
        out = {}
        for pgid, name in self.groups.items():
            out[name] = out.get(name, 0) + groups1[pgid] - groups0[pgid]
        for name in self.probes:
            out[name] = out.get(name, 0) + groups1[name] - groups0[name]
        out["wrk"] = kids1 - kids0
        out["harness"] = own1 - own0
        out["other"] = max(0, busy1 - busy0 - sum(out.values()))
        return {k: 100.0 * v / cap for k, v in out.items()}
