#!/usr/bin/env python3
"""test_rotation.py -- the stack rotates its own logs and the collector
reads every line exactly once across the rotations, under load.

Brings compose.yaml up (own project name, WEBSTACK_TAG images, host port
WEBSTACK_ROTATION_PORT, default 3471) with two app instances and a tiny
rotation policy: LOG_ROTATE_SIZE 64 KiB, LOG_ROTATE_KEEP 3,
LOG_ROTATE_INTERVAL 1 s.  Then, at once: 12,000 GETs of
/hello/rot<N> (each N once, so every access line of nginx and of the app
instance that served it names its request), and, inside the Redis
primary at loglevel verbose, hundreds of connections that each set their
name rot-<N> and close, each leaving one "Client closed connection ...
name=rot-<N>" line.  Checked afterwards:

  1. every file on the three log volumes, and every size sampled during
     the load, is at most LOG_ROTATE_SIZE plus what its writer writes in
     LOG_ROTATE_INTERVAL + 3 s (its average rate during the load,
     measured from the collected lines; the figures are printed), and a
     log never has more than x.log, x.log.1 .. x.log.3;
  2. rotation happened: access.log, each app instance's <host>.log and
     redis-server.log have a .1, and access.log and the app logs a .3
     (the oldest was dropped at least once);
  3. the collector emitted each request's nginx line and app line, and
     each Redis connection's line, exactly once (none lost, none
     repeated), and every line still on the volumes, in order within its
     file.

Teardown removes the project's containers, networks and volumes.  Skips
(77) only when no Docker engine is reachable.  About two minutes once
the images are built.
"""
import collections
import http.client
import os
import re
import threading
import time
import uuid

import composelib
from composelib import (Project, dexec, engine_or_skip,  # noqa
                        inspect, log)
from poll import wait_for
from ports import port_free
from httpc import http_get
from tap import Suite, teardown_guard

PROJECT = "wsrot" + uuid.uuid4().hex[:8]
PORT = int(os.environ.get("WEBSTACK_ROTATION_PORT", "3471"))
SIZE, KEEP, INTERVAL = 65536, 3, 1
SLACK_S = 3                     # see the size bound below
REQUESTS = 12000
CLIENTS = 4
REDIS_CONNECTIONS = 500
LOG_DIRS = ("/var/log/nginx", "/var/log/fcgi-app", "/var/log/redis")
ACCESS = "/var/log/nginx/access.log"
REDIS_LOG = "/var/log/redis/redis-server.log"
HTTP_ID = r'"GET /hello/(rot\d+) HTTP/1\.1"'
REDIS_ID = r"Client closed connection .*\bname=(rot-\d+) "

t = Suite()
# compose.yaml as shipped, plus Docker keeping all of the collector's
# stdout (the checks read it back).
P = Project(PROJECT, PORT,
            files=("compose.yaml", "tests/compose/keep-collector-output.yaml"),
            env={"LOG_ROTATE_SIZE": str(SIZE), "LOG_ROTATE_KEEP": str(KEEP),
                 "LOG_ROTATE_INTERVAL": str(INTERVAL)})


def one(service):
    return P.one(service)


def app_logs():
    """The app instances' log paths."""
    return [f"/var/log/fcgi-app/{inspect(c, '{{.Config.Hostname}}')}.log"
            for c in P.ids("fcgi-app")]


def sizes():
    """{path: size} of every file on the log volumes (through the
    collector's read-only mounts)."""
    r = dexec(one("collector"), "for d in " + " ".join(LOG_DIRS) + "; do "
              "for f in $d/*; do [ -f \"$f\" ] && stat -c '%s %n' \"$f\"; "
              "done; done; true")
    out = {}
    for line in r.stdout.splitlines():
        n, path = line.split(" ", 1)
        out[path] = int(n)
    return out


def files_lines(paths):
    """{path: its complete lines} for log files, read through the
    collector's mounts in one go (a file renamed meanwhile is absent)."""
    r = dexec(one("collector"), "for f in " + " ".join(paths) + "; do "
              "c=$(cat \"$f\" 2>/dev/null && echo .) || continue; "
              "printf '%s\\0%s\\0' \"$f\" \"${c%.}\"; done", timeout=120)
    parts = r.stdout.split("\0")
    return {parts[i]: parts[i + 1].split("\n")[:-1]
            for i in range(0, len(parts) - 1, 2)}


def base_of(path):
    """x.log for x.log and x.log.N."""
    return re.sub(r"\.[0-9]+$", "", path)


class Load:
    """GET /hello/rot<N> for N in [0, total), CLIENTS keep-alive
    connections taking the next N in turn; statuses other than 200 and
    errors are kept."""

    def __init__(self, total):
        self.total = total
        self.next = 0
        self.lock = threading.Lock()
        self.bad = []
        self.threads = [threading.Thread(target=self.loop, daemon=True)
                        for _ in range(CLIENTS)]

    def take(self):
        with self.lock:
            if self.next >= self.total:
                return None
            self.next += 1
            return self.next - 1

    def loop(self):
        c = None
        while True:
            n = self.take()
            if n is None:
                break
            # No retry: a request sent twice would be logged twice.
            try:
                if c is None:
                    c = http.client.HTTPConnection("127.0.0.1", PORT,
                                                   timeout=10)
                c.request("GET", f"/hello/rot{n}")
                r = c.getresponse()
                r.read()
                if r.status != 200:
                    with self.lock:
                        self.bad.append((n, r.status))
            except (OSError, http.client.HTTPException) as e:
                c.close()
                c = None
                with self.lock:
                    self.bad.append((n, repr(e)))
        if c is not None:
            c.close()

    def run(self):
        for th in self.threads:
            th.start()
        for th in self.threads:
            th.join(600)


class Sampler(threading.Thread):
    """Every ~0.5 s, the largest size seen of each file on the volumes."""

    def __init__(self):
        super().__init__(daemon=True)
        self.most = {}
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                for p, n in sizes().items():
                    self.most[p] = max(self.most.get(p, 0), n)
            except (RuntimeError, ValueError):
                pass
            self.stop.wait(0.5)


def redis_connections(n):
    """In the Redis primary: n connections, each naming itself rot-<i>
    and closing (REDISCLI_AUTH from the admin secret)."""
    script = ('export REDISCLI_AUTH="$(head -n 1 /run/secrets/redis/admin)";'
              f' i=0; while [ $i -lt {n} ]; do '
              'redis-cli CLIENT SETNAME rot-$i >/dev/null || exit 1; '
              'i=$((i + 1)); done')
    return dexec(one("redis-primary"), script, timeout=300)


# -- setup / teardown --------------------------------------------------------

def setup():
    P.cmd = engine_or_skip()
    P.build_images()
    # Another stack on the port (a test, `make run`): wait, bounded.
    wait_for(f"port {PORT} free on the host (WEBSTACK_ROTATION_PORT moves "
             "the stack)", lambda: port_free(PORT), 120,
             interval=1)
    P.compose("up", "-d", "--scale", "fcgi-app=2", timeout=300)

    def root_ok():
        s, _, _ = http_get(PORT, "/")
        return s == 200
    wait_for("GET / answers 200", root_ok, 120)
    wait_for("2 app instances healthy", lambda: all(
        inspect(c, "{{.State.Health.Status}}") == "healthy"
        for c in P.ids("fcgi-app")) and len(P.ids("fcgi-app")) == 2, 60)
    return {}


def teardown(ctx):
    P.teardown()


# -- cases -------------------------------------------------------------------

@t.case
def rotation_settings_reach_every_writer():
    for svc in ("nginx", "fcgi-app", "redis-primary", "redis-replica-1"):
        for cid in P.ids(svc):
            env = dexec(cid, "env").stdout.split("\n")
            got = {k: v for k, _, v in (e.partition("=") for e in env)
                   if k.startswith("LOG_ROTATE_")}
            assert got.get("LOG_ROTATE_SIZE") == str(SIZE), (svc, got)
            assert got.get("LOG_ROTATE_KEEP") == str(KEEP), (svc, got)
            # And the rotator runs there, as the container's user.
            ps = dexec(cid, "for d in /proc/[0-9]*; do "
                            "tr '\\0' ' ' < $d/cmdline 2>/dev/null; "
                            "echo; done").stdout
            assert "log-rotate.sh" in ps, f"{svc}: no rotator in\n{ps}"


@t.case
def under_load_logs_stay_bounded_and_every_line_is_collected_once(ctx):
    P.redis_cli("redis-primary", "CONFIG", "SET", "loglevel", "verbose")
    sampler = Sampler()
    sampler.start()
    redis_out = {}

    def redis_load():
        t1 = time.monotonic()
        try:
            redis_out["r"] = redis_connections(REDIS_CONNECTIONS)
        except Exception as e:       # reported below
            redis_out["e"] = e
        redis_out["took"] = time.monotonic() - t1
    rl = threading.Thread(target=redis_load, daemon=True)
    load = Load(REQUESTS)
    t0 = time.monotonic()
    rl.start()
    load.run()
    http_took = time.monotonic() - t0
    rl.join(300)
    took = time.monotonic() - t0
    # The last passes of every rotator, then the last sizes.
    time.sleep(INTERVAL + 2)
    sampler.stop.set()
    sampler.join(10)
    P.redis_cli("redis-primary", "CONFIG", "SET", "loglevel", "notice")
    log(f"{REQUESTS} requests in {http_took:.1f} s and "
        f"{REDIS_CONNECTIONS} Redis connections in "
        f"{redis_out.get('took', 0):.1f} s")
    assert not load.bad, (f"{len(load.bad)} requests failed, e.g. "
                          f"{load.bad[:3]}")
    assert "e" not in redis_out, f"Redis connections: {redis_out['e']}"

    apps = app_logs()
    want_http = [f"rot{i}" for i in range(REQUESTS)]
    want_redis = [f"rot-{i}" for i in range(REDIS_CONNECTIONS)]

    # What is on the volumes now (the load is over, so no more rotation:
    # only healthchecks still write), then the collector's output once it
    # has caught up with all of it, as check_exact in test_compose_stack.py does
    # for one file: every line on the volumes collected, in order within
    # its file.
    now = sizes()
    on_disk = files_lines(sorted(now))

    def not_collected(evs):
        missing = []
        for path, lines in sorted(on_disk.items()):
            msgs = composelib.rotated_messages(evs, base_of(path))
            i = 0
            for line in lines:
                try:
                    i = msgs.index(line, i) + 1
                except ValueError:
                    missing.append(f"{path}: line {line[:120]!r} not "
                                   "collected (or out of order)")
                    break
        return missing

    def caught_up():
        evs = composelib.collector_events(one("collector"))
        ctx["missing"] = not_collected(evs)
        return evs if not ctx["missing"] else None
    try:
        evs = wait_for("collector catching up with the volumes", caught_up,
                       60, interval=2)
    except AssertionError as e:
        raise AssertionError(f"{e}: {'; '.join(ctx['missing'][:4])}") \
            from None

    # 2. Rotation happened, and 1. within the bounds.  Every problem is
    # collected, so that one run reports them all.
    problems = []
    by_log = collections.defaultdict(dict)
    for p, n in now.items():
        by_log[base_of(p)][p] = n
    for base in [ACCESS, REDIS_LOG] + apps:
        if f"{base}.1" not in now:
            problems.append(f"{base} never rotated: {sorted(by_log[base])}")
    for base in [ACCESS] + apps:
        if f"{base}.{KEEP}" not in now:
            problems.append(f"{base}: no {base}.{KEEP}, so KEEP was never "
                            "reached")
    for base, files in by_log.items():
        allowed = {base} | {f"{base}.{i}" for i in range(1, KEEP + 1)}
        extra = sorted(set(files) - allowed)
        if extra:
            problems.append(f"{base}: more than {KEEP} rotated files: "
                            f"{extra}")
    # The size bound: LOG_ROTATE_SIZE plus what the writer writes until
    # the rotator's next pass has renamed the file and the writer has
    # reopened it: LOG_ROTATE_INTERVAL, and up to SLACK_S more on this
    # busy 2-core machine (forks, a loaded scheduler), at the writer's
    # average rate while the load ran.
    figures = []
    for base in by_log:
        msgs = composelib.rotated_messages(evs, base)
        during = {REDIS_LOG: redis_out.get("took") or took,
                  ACCESS: http_took}.get(base, http_took if base in apps
                                         else took)
        rate = sum(len(m.encode()) + 1 for m in msgs) / during
        bound = SIZE + int(rate * (INTERVAL + SLACK_S))
        seen = {p: max(n, sampler.most.get(p, 0))
                for p, n in list(now.items()) + list(sampler.most.items())
                if base_of(p) == base}
        big = {p: n for p, n in seen.items() if n > bound}
        figures.append(f"{base.rsplit('/', 1)[1]}: largest "
                       f"{max(seen.values())} B, bound {bound} B "
                       f"({rate / 1024:.0f} KiB/s)")
        if big:
            problems.append(f"over {bound} bytes: {big}")
    log("; ".join(figures))

    # 3. Exactly once.
    for base, pattern, want in ([(ACCESS, HTTP_ID, want_http),
                                 (REDIS_LOG, REDIS_ID, want_redis)]):
        bad = composelib.each_once(
            composelib.rotated_messages(evs, base), pattern, want)
        problems += [f"{base}: {b}" for b in bad]
    app_msgs = []
    for base in apps:
        app_msgs += composelib.rotated_messages(evs, base)
    problems += [f"app logs: {b}" for b in
                 composelib.each_once(app_msgs, HTTP_ID, want_http)]
    log(f"exactly once: {REQUESTS} nginx lines, {REQUESTS} app lines over "
        f"{len(apps)} instances, {REDIS_CONNECTIONS} Redis lines; "
        f"{len(on_disk)} files on the volumes checked line by line")
    assert not problems, "; ".join(problems[:6])


if __name__ == "__main__":
    teardown_guard(teardown, 60)
    t.run(setup, teardown)
