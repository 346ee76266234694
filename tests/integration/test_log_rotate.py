#!/usr/bin/env python3
"""test_log_rotate.py -- collector/log-rotate.sh, the rotation every
container of the stack runs, on real files and real writers.

Settings: valid values (bounds included, 0 = off) pass `check`; each bad
one (junk, sign, leading zero, out of range, too many digits) exits 1 with
a message naming the setting, and so do the three entrypoints that start
the rotator (nginx/upstream-watch.sh, fcgi-app/entrypoint.sh,
redis/entrypoint.sh), before their writer starts.

Rotation: a writer that keeps its file open and reopens it on SIGUSR1
(as nginx and the app do) writes numbered lines while the script rotates
at 4 KiB, keeping 3: the log never has more than 4 files, each within the
size bound, and the retained files hold one unbroken run of numbers
(nothing lost or repeated across a rename), every rotation followed by
one SIGUSR1; files beyond a lowered KEEP are removed; the rotator stops
within 2 s of its writer.  Real redis-server 7.0 (which opens its log for
every line) at loglevel verbose, rotated with no signal at all: every
named client connection's "Client closed connection ... name=<n>" line is
in the files exactly once.  Port 20700 (Redis, loopback).
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
from tap import Suite

ROTATE = os.path.join(ROOT, "collector", "log-rotate.sh")
WATCHER = os.path.join(ROOT, "nginx", "upstream-watch.sh")
APP_ENTRY = os.path.join(ROOT, "fcgi-app", "entrypoint.sh")
REDIS_ENTRY = os.path.join(ROOT, "redis", "entrypoint.sh")
REDIS_PORT = 20700
SETTINGS = ("LOG_ROTATE_SIZE", "LOG_ROTATE_KEEP", "LOG_ROTATE_INTERVAL")
t = Suite()

# A writer like nginx's or the app's: one descriptor, O_APPEND, reopened
# (same path) on SIGUSR1; numbered lines at a steady rate until SIGTERM.
WRITER = r"""
import os, signal, sys, time
path, rate = sys.argv[1], float(sys.argv[2])
flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
fd = os.open(path, flags, 0o644)
state = {"reopen": 0, "stop": 0, "signals": 0}


def on_usr1(*a):
    state["reopen"] = 1
    state["signals"] += 1


signal.signal(signal.SIGUSR1, on_usr1)
signal.signal(signal.SIGTERM, lambda *a: state.__setitem__("stop", 1))
n = 0
t0 = time.monotonic()
while not state["stop"]:
    if state["reopen"]:
        state["reopen"] = 0
        new = os.open(path, flags, 0o644)
        os.dup2(new, fd)
        os.close(new)
    os.write(fd, b"line %08d padding-padding-padding\n" % n)
    n += 1
    delay = t0 + n / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
# Stopped writing: stay a while, so that a rotation of what was written
# last, and its signal, land before the count (seen in CI: the signal
# reached a writer that had already printed).
end = time.monotonic() + 3.0
while time.monotonic() < end:
    if state["reopen"]:
        state["reopen"] = 0
        new = os.open(path, flags, 0o644)
        os.dup2(new, fd)
        os.close(new)
    time.sleep(0.1)
print(n, state["signals"], flush=True)
"""


def env_with(**kw):
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    env.update(kw)
    return env


def check(**kw):
    return subprocess.run([ROTATE, "check"], env=env_with(**kw),
                          capture_output=True, text=True, timeout=10)


def kill_group(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()


@t.case
def valid_settings_pass():
    cases = [{}, {"LOG_ROTATE_SIZE": "0"}, {"LOG_ROTATE_SIZE": "4096"},
             {"LOG_ROTATE_SIZE": "1099511627776"},
             {"LOG_ROTATE_KEEP": "1"}, {"LOG_ROTATE_KEEP": "1000"},
             {"LOG_ROTATE_INTERVAL": "1"}, {"LOG_ROTATE_INTERVAL": "3600"},
             # empty means unset (the default), as for the app's settings
             {"LOG_ROTATE_SIZE": "", "LOG_ROTATE_KEEP": ""}]
    for given in cases:
        r = check(**given)
        assert r.returncode == 0 and r.stderr == "", (given, r.stderr)


@t.case
def bad_settings_exit_1_naming_the_setting():
    bad = {"LOG_ROTATE_SIZE": ["abc", "-1", "+4096", "4095", "1",
                               "1099511627777", "0x1000", "010000",
                               "1e6", " 8192", "8192 ",
                               "99999999999999999999999999"],
           "LOG_ROTATE_KEEP": ["0", "1001", "two", "05", "-3"],
           "LOG_ROTATE_INTERVAL": ["0", "3601", "1.5", "5s", "01"]}
    for name, values in bad.items():
        for v in values:
            r = check(**{name: v})
            assert r.returncode == 1, (name, v, r.returncode, r.stderr)
            assert f'{name}="{v}"' in r.stderr, (name, v, r.stderr)


@t.case
def entrypoints_refuse_a_bad_setting_before_their_writer_starts():
    tmp = tempfile.mkdtemp(prefix="test-log-rotate-")
    try:
        marker = os.path.join(tmp, "started")
        fake = os.path.join(tmp, "writer")
        with open(fake, "w") as f:
            f.write(f"#!/bin/sh\ntouch {marker}\n")
        os.chmod(fake, 0o755)
        runs = {
            "upstream-watch.sh": ([WATCHER], {
                "NGINX": fake, "UPSTREAM_SERVICE": "localhost",
                "UPSTREAM_FILE": os.path.join(tmp, "upstream.conf"),
                "LIMITS_FILE": os.path.join(tmp, "limits.conf"),
                "LIMITS_TEMPLATE": os.path.join(
                    ROOT, "nginx", "app", "limits.conf.in"),
                "INTERNAL_LISTEN_FILE": os.path.join(tmp, "internal.conf"),
                "LOG_ROTATE_FILES": os.path.join(tmp, "access.log"),
                "LOG_ROTATE_SIZE": "12k"}),
            "fcgi-app/entrypoint.sh": ([APP_ENTRY], {
                "FCGI_APP": fake, "LOG_DIR": tmp,
                "LOG_ROTATE_KEEP": "0"}),
            "fcgi-app/entrypoint.sh, no LOG_DIR": ([APP_ENTRY], {
                "FCGI_APP": fake, "LOG_DIR": "",
                "LOG_ROTATE_INTERVAL": "0"}),
            # Checked before anything else happens (secrets, data dir).
            "redis/entrypoint.sh": ([REDIS_ENTRY, "primary"], {
                "REDIS_SECRETS_DIR": os.path.join(tmp, "no-secrets"),
                "LOG_ROTATE_SIZE": "-5"}),
        }
        for what, (cmd, extra) in runs.items():
            r = subprocess.run(cmd, env=env_with(**extra),
                               capture_output=True, text=True, timeout=20,
                               start_new_session=True)
            name = next(k for k in SETTINGS if k in extra)
            assert r.returncode == 1, (what, r.returncode, r.stderr)
            assert f'{name}="{extra[name]}"' in r.stderr, (what, r.stderr)
            assert not os.path.exists(marker), f"{what}: writer started"
        assert not os.path.exists(os.path.join(tmp, "no-secrets")), \
            "redis/entrypoint.sh made secrets before checking the setting"
        # And with good settings the writer does start (the check is not
        # simply failing).
        r = subprocess.run([APP_ENTRY], env=env_with(FCGI_APP=fake,
                                                     LOG_DIR=""),
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 0 and os.path.exists(marker), r.stderr
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def files_of(d, base):
    """{name: size} of base and its rotated names in d (a name renamed
    away meanwhile is left out)."""
    out = {}
    for n in os.listdir(d):
        if n == base or re.fullmatch(re.escape(base) + r"\.\d+", n):
            try:
                out[n] = os.path.getsize(os.path.join(d, n))
            except FileNotFoundError:
                pass
    return out


def numbers(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data == b"" or data.endswith(b"\n"), f"{path}: partial line"
    return [int(line.split()[1]) for line in data.splitlines()]


@t.case
def rotation_by_rename_loses_and_repeats_nothing():
    tmp = tempfile.mkdtemp(prefix="test-log-rotate-")
    size, keep, rate, seconds = 4096, 3, 400.0, 6.0
    writer = rot = None
    try:
        log = os.path.join(tmp, "app.log")
        writer = subprocess.Popen([sys.executable, "-c", WRITER, log,
                                   str(rate)], stdout=subprocess.PIPE,
                                  text=True, start_new_session=True)
        rot = subprocess.Popen(
            [ROTATE, "run", "-p", str(writer.pid), "-s", "USR1", log],
            env=env_with(LOG_ROTATE_SIZE=str(size),
                         LOG_ROTATE_KEEP=str(keep),
                         LOG_ROTATE_INTERVAL="1"),
            stderr=subprocess.PIPE, text=True, start_new_session=True)
        most = {}
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for n, sz in files_of(tmp, "app.log").items():
                most[n] = max(most.get(n, 0), sz)
            time.sleep(0.05)
        writer.send_signal(signal.SIGTERM)
        written, signals = map(int, writer.communicate(timeout=10)[0]
                               .split())
        # The rotator ends by itself once its writer is gone.
        t0 = time.monotonic()
        _, err = rot.communicate(timeout=10)
        gone = time.monotonic() - t0
        rotations = err.count("rotated ")
        print(f"# {written} lines, {rotations} rotations, {signals} "
              f"SIGUSR1; largest sizes seen {sorted(most.values())[-3:]};"
              f" rotator stopped {gone:.1f} s after its writer",
              file=sys.stderr)
        assert gone <= 2.0, f"rotator outlived its writer by {gone:.1f} s"
        assert rotations >= keep + 2, f"only {rotations} rotations: {err}"
        # One signal per rotation (the writer may be gone before the
        # last one: the rotator then says the kill failed).
        assert signals == rotations - err.count("failed"), \
            f"{rotations} rotations but {signals} SIGUSR1: {err}"
        names = files_of(tmp, "app.log")
        want = {"app.log"} | {f"app.log.{i}" for i in range(1, keep + 1)}
        assert set(names) == want, f"files {sorted(names)}"
        # Bound: LOG_ROTATE_SIZE plus what the writer writes in an
        # interval (1 s) and until it has reopened; 2 s of it allowed.
        line = len(b"line 00000000 padding-padding-padding\n")
        bound = size + int(2 * rate * line)
        big = {n: s for n, s in list(most.items()) + list(names.items())
               if s > bound}
        assert not big, f"over {bound} bytes: {big}"
        # Oldest to newest, the retained files are one unbroken run that
        # ends with the last line written.
        seq = []
        for n in [f"app.log.{i}" for i in range(keep, 0, -1)] + ["app.log"]:
            seq += numbers(os.path.join(tmp, n))
        assert seq, "no lines retained"
        assert seq == list(range(seq[0], written)), (
            f"retained lines are not one run ending at {written - 1}: "
            f"{len(seq)} lines from {seq[0]} to {seq[-1]}")
        assert seq[0] > 0, "nothing was dropped: KEEP not exercised"
    finally:
        for p in (writer, rot):
            if p is not None:
                kill_group(p)
        shutil.rmtree(tmp, ignore_errors=True)


@t.case
def files_beyond_a_lowered_keep_are_removed():
    tmp = tempfile.mkdtemp(prefix="test-log-rotate-")
    try:
        log = os.path.join(tmp, "x.log")
        for n in ["x.log"] + [f"x.log.{i}" for i in range(1, 8)]:
            with open(os.path.join(tmp, n), "w") as f:
                f.write(n + "\n" * 5000)
        # Not ours: never touched.
        for n in ("x.log.old", "x.log.1.gz", "y.log.9"):
            open(os.path.join(tmp, n), "w").close()
        p = subprocess.Popen([ROTATE, "run", log],
                             env=env_with(LOG_ROTATE_SIZE="4096",
                                          LOG_ROTATE_KEEP="2",
                                          LOG_ROTATE_INTERVAL="1"),
                             stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
        try:
            deadline = time.monotonic() + 10
            while os.path.exists(log) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            kill_group(p)
        left = sorted(os.listdir(tmp))
        assert left == ["x.log.1", "x.log.1.gz", "x.log.2", "x.log.old",
                        "y.log.9"], left
        with open(os.path.join(tmp, "x.log.1")) as f:
            assert f.readline() == "x.log\n"
        with open(os.path.join(tmp, "x.log.2")) as f:
            assert f.readline() == "x.log.1\n"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def redis_cmd(*args):
    with socket.create_connection(("127.0.0.1", REDIS_PORT), 2) as s:
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        s.sendall(out)
        reply = s.recv(256)
        assert reply.startswith((b"+", b":", b"$")), reply


@t.case
def redis_log_rotated_by_rename_alone_loses_nothing():
    if shutil.which("redis-server") is None:
        raise AssertionError("redis-server not installed")
    tmp = tempfile.mkdtemp(prefix="test-log-rotate-")
    red = rot = None
    try:
        log = os.path.join(tmp, "redis-server.log")
        red = subprocess.Popen(
            ["redis-server", "--port", str(REDIS_PORT), "--bind",
             "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp,
             "--logfile", log, "--loglevel", "verbose"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                redis_cmd("PING")
                break
            except OSError:
                assert time.monotonic() < deadline, "redis did not start"
                time.sleep(0.05)
        # Only -p: no signal, Redis opens the file for every line.
        rot = subprocess.Popen([ROTATE, "run", "-p", str(red.pid), log],
                               env=env_with(LOG_ROTATE_SIZE="8192",
                                            LOG_ROTATE_KEEP="1000",
                                            LOG_ROTATE_INTERVAL="1"),
                               stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
        names = [f"rot-{i}" for i in range(1500)]
        t0 = time.monotonic()
        for n in names:
            # Each connection: "Accepted ..." and "Client closed
            # connection ... name=rot-<i> ..." (verbose level); spread
            # over about 4 s so that several passes rotate under way.
            redis_cmd("CLIENT", "SETNAME", n)
            time.sleep(0.002)
        time.sleep(2.5)              # the last closes logged, a last pass
        red.send_signal(signal.SIGTERM)
        red.wait(10)
        _, err = rot.communicate(timeout=10)
        rotations = err.count("rotated ")
        files = sorted(n for n in os.listdir(tmp)
                       if n.startswith("redis-server.log"))
        seen = {}
        for f in files:
            with open(os.path.join(tmp, f), encoding="utf-8",
                      errors="replace") as fh:
                for line in fh:
                    m = re.search(r"Client closed connection .*"
                                  r"\bname=(rot-\d+) ", line)
                    if m:
                        seen[m.group(1)] = seen.get(m.group(1), 0) + 1
        print(f"# {len(names)} connections in "
              f"{time.monotonic() - t0:.1f} s, {rotations} rotations, "
              f"{len(files)} files", file=sys.stderr)
        assert rotations >= 3, f"only {rotations} rotations: {err}"
        lost = [n for n in names if n not in seen]
        twice = [n for n, c in seen.items() if c != 1]
        assert not lost, f"{len(lost)} lines lost, e.g. {lost[:5]}"
        assert not twice, f"repeated: {twice[:5]}"
    finally:
        for p in (red, rot):
            if p is not None:
                kill_group(p)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    t.run()
