#!/usr/bin/env python3
"""test_launcher.py -- the launcher itself: `make run`'s program and its promises.

Runs lib/tools/stack.py as a program (what `make run` does) and as a
library: it becomes ready and serves, Ctrl-C stops everything, a SIGKILLed
launcher leaves no process behind, and a component that cannot start fails
the start loudly (its log tail in the error) and is cleaned up.
Ports 20400-20412.
"""
import os
import signal
import subprocess
import sys
import tempfile
import time
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
# What `make run` runs.
STACK_PY = os.path.join(os.path.dirname(os.path.dirname(HERE)), "lib",
                        "tools", "stack.py")

from tap import Suite, Skip
from stack import Stack, StackError, APP_BIN
from httpc import http_get

BASE = 20400
t = Suite()


def need_app():
    if not os.access(APP_BIN, os.X_OK):
        raise Skip(f"{APP_BIN} not built")


def procs_under(path):
    """PIDs whose command line mentions path (our run dir) or whose
    working directory is in it (redis-server rewrites its command line)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if path in cmd or cwd == path or cwd.startswith(path + "/"):
            found.append((int(pid), cmd))
    return found


def wait_gone(path, timeout):
    deadline = time.monotonic() + timeout
    while True:
        left = procs_under(path)
        if not left:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"left behind: {left[:4]}")
        time.sleep(0.1)


class Program:
    """python3 lib/tools/stack.py in its own process group."""

    def __init__(self, run_dir):
        env = dict(os.environ, SESSION_SECRET="test-secret-for-stack-py-0123456789",
                   REDIS_PASSWORD="test-password-for-stack-py")
        self.p = subprocess.Popen(
            [sys.executable, STACK_PY, "--base-port",
             str(BASE), "--run-dir", run_dir, "--no-collector"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
            start_new_session=True, text=True)
        self.lines = []

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.p.stdout.readline()
            if not line:
                break
            self.lines.append(line.rstrip("\n"))
            if "stack: ready" in line:
                return
        raise AssertionError("not ready: " + " | ".join(self.lines[-10:]))

    def kill(self):
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.p.wait(5)


@t.case
def program_serves_and_ctrl_c_stops_everything():
    need_app()
    d = tempfile.mkdtemp(prefix="test-stack-")
    prog = Program(d)
    try:
        prog.wait_ready()
        text = "\n".join(prog.lines)
        assert f"http://127.0.0.1:{BASE}/" in text, text
        # Secrets given in the environment are used, not printed as dev.
        assert "generated DEV value" not in text, text
        st, _, body = http_get(BASE, "/")
        assert st == 200 and body == b'{"status":"ok"}', (st, body)
        st, _, body = http_get(BASE + 1, "/metrics")
        assert st == 200 and b"fcgi_app_requests_total" in body, st
        assert procs_under(d), "no process runs from the run dir?"
        prog.p.send_signal(signal.SIGINT)          # Ctrl-C
        rc = prog.p.wait(30)
        assert rc == 0, f"exit status {rc}"
        wait_gone(d, 5)
    finally:
        prog.kill()
        shutil.rmtree(d, ignore_errors=True)


@t.case
def sigkilled_launcher_leaves_no_process_behind():
    need_app()
    d = tempfile.mkdtemp(prefix="test-stack-")
    prog = Program(d)
    try:
        prog.wait_ready()
        assert len(procs_under(d)) >= 4, procs_under(d)
        os.kill(prog.p.pid, signal.SIGKILL)        # only the launcher
        prog.p.wait(5)
        # Each child dies with it (PR_SET_PDEATHSIG) and takes its own
        # children (nginx and pool workers) down.
        wait_gone(d, 15)
    finally:
        prog.kill()
        for pid, _ in procs_under(d):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(d, ignore_errors=True)


@t.case
def failing_component_fails_start_with_its_log_tail():
    need_app()
    d = tempfile.mkdtemp(prefix="test-stack-")
    try:
        s = Stack(run_dir=d, base_port=BASE,
                  app_env={"APP_WORKERS": "abc"})
        try:
            s.start()
            s.close()
            raise AssertionError("started with APP_WORKERS=abc")
        except StackError as e:
            msg = str(e)
        assert "fcgi-app" in msg and "APP_WORKERS" in msg, msg
        assert "exited" in msg, msg
        wait_gone(d, 5)
    finally:
        shutil.rmtree(d, ignore_errors=True)


@t.case
def busy_port_is_named_and_nothing_starts():
    d = tempfile.mkdtemp(prefix="test-stack-")
    import socket
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", BASE + 11))
    blocker.listen()
    try:
        try:
            Stack(run_dir=d, base_port=BASE, app=False).start()
            raise AssertionError("started with a busy port")
        except StackError as e:
            assert f"127.0.0.1:{BASE + 11}" in str(e), str(e)
        assert not procs_under(d), procs_under(d)
    finally:
        blocker.close()
        shutil.rmtree(d, ignore_errors=True)


t.run()
