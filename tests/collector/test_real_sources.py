#!/usr/bin/env python3
"""test_real_sources.py -- the collector tailing real nginx and Redis logs.

Real nginx (listening on a Unix socket in a temp dir, so no TCP port is
used) writes its combined access log while the test renames the log and
only later tells nginx to reopen it (SIGUSR1), as logrotate's `create`
plus postrotate does: every request must appear exactly once with its
parsed fields.  Real redis-server (--port 0, Unix socket) writes its log;
its lines must come out parsed with the server's own pid and role.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import time


from poll import until
from tap import Skip, Suite
import harness
from harness import Sandbox

t = Suite()

NGINX_CONF = """
daemon off;
master_process on;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/logs/error.log notice;
events {{ worker_connections 64; }}
http {{
    access_log {d}/logs/access.log combined;
    client_body_temp_path {d}/tmp-body;
    proxy_temp_path {d}/tmp-proxy;
    fastcgi_temp_path {d}/tmp-fcgi;
    uwsgi_temp_path {d}/tmp-uwsgi;
    scgi_temp_path {d}/tmp-scgi;
    server {{
        listen unix:{d}/nginx.sock;
        location / {{ return 200 "ok\\n"; }}
    }}
}}
"""


def request(sock_path, path):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    try:
        s.connect(sock_path)
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: t\r\n"
                  f"User-Agent: collector-test/1\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    assert data.startswith(b"HTTP/1.1 200"), data[:40]


def events_of(col):
    return harness.parse_events(col.output())


@t.case
def nginx_access_log_rotated_then_reopened():
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(nginx, os.X_OK):
        raise Skip("nginx not installed")
    with Sandbox("nginx") as sb:
        d = sb.dir
        os.makedirs(os.path.join(d, "logs"))
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(d=d))
        access = os.path.join(d, "logs", "access.log")
        ng = subprocess.Popen([nginx, "-c", conf, "-e",
                               os.path.join(d, "logs", "error.log")],
                              stderr=subprocess.DEVNULL)
        try:
            sock = os.path.join(d, "nginx.sock")
            assert until(lambda: os.path.exists(sock), 5), "no nginx"
            col = sb.collector(["--state", sb.path("state"),
                                "--close-quiet-ms", "300",
                                f"nginx-access={access}",
                                f"nginx-error={d}/logs/error.log"]).start()
            time.sleep(0.3)
            n = 0
            for _ in range(150):
                n += 1
                request(sock, f"/r/{n}")
            os.rename(access, access + ".1")      # logrotate: rename...
            for _ in range(50):                   # nginx still writes .1
                n += 1
                request(sock, f"/r/{n}")
            with open(f"{d}/nginx.pid") as f:
                os.kill(int(f.read()), signal.SIGUSR1)   # ...postrotate
            assert until(lambda: os.path.exists(access), 5), \
                "nginx did not reopen"
            for _ in range(100):
                n += 1
                request(sock, f"/r/{n}")
            want = {f"/r/{i}" for i in range(1, n + 1)}

            def got_all():
                paths = [e.get("parsed", {}).get("path")
                         for e in events_of(col)]
                return want <= set(paths)
            assert until(got_all, 10), "requests missing"
            time.sleep(0.5)
            col.term()
        finally:
            ng.send_signal(signal.SIGQUIT)
            try:
                ng.wait(timeout=10)
            except subprocess.TimeoutExpired:
                ng.kill()
                ng.wait()
        access_events = [e for e in events_of(col)
                         if e["type"] == "nginx-access"]
        paths = [e["parsed"]["path"] for e in access_events]
        assert sorted(paths) == sorted(want), \
            f"{len(paths)} events for {len(want)} requests"
        for e in access_events:
            p = e["parsed"]
            assert p["format"] == "nginx-combined"
            assert p["method"] == "GET" and p["status"] == 200
            assert p["bytes"] == 3 and p["agent"] == "collector-test/1"
            assert p["client"] == "unix:"
        # in request order within each physical file: 1..200 went to the
        # renamed file, the rest to the one nginx reopened
        nums = [int(p.split("/")[2]) for p in paths]
        old = [x for x in nums if x <= 200]
        new = [x for x in nums if x > 200]
        assert old == sorted(old) and new == sorted(new), \
            "requests out of order within a file"
        errors = [e for e in events_of(col) if e["type"] == "nginx-error"]
        assert any("reopening logs" in e["message"] for e in errors), \
            "nginx's error log (reopen notice) not collected"


@t.case
def redis_server_log_parsed():
    redis = shutil.which("redis-server")
    if redis is None:
        raise Skip("redis-server not installed")
    with Sandbox("redis") as sb:
        d = sb.dir
        log = os.path.join(d, "redis.log")
        col = sb.collector(["--state", sb.path("state"),
                            f"redis={d}/*.log"]).start()
        time.sleep(0.3)
        rs = subprocess.Popen([redis, "--port", "0", "--unixsocket",
                               os.path.join(d, "redis.sock"), "--dir", d,
                               "--logfile", log, "--save", "",
                               "--appendonly", "no"],
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        try:
            assert until(lambda: any(
                "ready to accept connections" in e["message"]
                for e in events_of(col)), 10), "no ready line"
        finally:
            rs.send_signal(signal.SIGTERM)
            rs.wait(timeout=10)
        assert until(lambda: any(
            "ready to exit" in e["message"].lower()
            for e in events_of(col)), 5), "shutdown lines missing"
        col.term()
        with open(log, "rb") as f:
            lines = f.read().decode().splitlines()
        events = events_of(col)
        assert [e["message"] for e in events] == lines, \
            "not every Redis log line exactly once, in order"
        parsed = [e for e in events if "parsed" in e]
        assert parsed, "no Redis line recognised"
        ready = [e for e in parsed
                 if "ready to accept connections" in e["message"]][0]
        p = ready["parsed"]
        assert p["format"] == "redis" and p["pid"] == rs.pid
        assert p["role"] == "master" and p["level"] == "notice"
        assert ready["message"].startswith(f"{rs.pid}:M {p['time']} * ")
        assert ready["type"] == "redis"
        assert json.dumps(ready)                 # round-trips


def setup():
    if not os.access(harness.BINARY, os.X_OK):
        raise Skip(f"{harness.BINARY} not built (make -C collector)")


if __name__ == "__main__":
    t.run(setup=setup)
