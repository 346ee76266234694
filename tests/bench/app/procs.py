"""procs.py -- start, watch and stop the processes of one benchmark run.

Owns the life cycle of everything tests/bench/app/run starts (redis-server,
php-fpm, the C app, nginx, wrk): each is spawned in its own session, so its
process group id is its pid, with output to a log file in the run's temp
dir.  stop_all() ends exactly those process groups (SIGTERM, then SIGKILL
after a grace period) and is safe to call twice.  It also renders the
@KEY@ config templates and waits for ports.  It knows nothing about what
the processes are for.
"""
import os
import re
import signal
import socket
import subprocess
import time


class ProcError(Exception):
    """A process could not be started or died while it was needed."""


class Stack:
    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []         # [(name, Popen)] in start order

    def spawn(self, name, argv, env=None, stdout=None):
        """Start argv as a new session with stdin from /dev/null and output
        to <tmp>/<name>.log (or to stdout if given).  Returns the Popen."""
        log = open(os.path.join(self.tmp, name + ".log"), "ab")
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                 stdout=stdout if stdout else log,
                                 stderr=log, env=env, cwd=self.tmp,
                                 start_new_session=True)
        except OSError as e:
            raise ProcError(f"{name}: exec {argv[0]}: {e}") from e
        finally:
            log.close()
        self.procs.append((name, p))
        return p

    def run(self, name, argv, env=None, timeout=None):
        """Run argv to completion like spawn(); return its stdout as text.
        On timeout the process group is killed and ProcError raised."""
        p = self.spawn(name, argv, env=env, stdout=subprocess.PIPE)
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as e:
            self.stop(name)
            raise ProcError(f"{name}: no result after {timeout}s") from e
        # Interrupted (signal): p stays listed, stop_all() will end it.
        self.procs = [(n, q) for (n, q) in self.procs if q is not p]
        if p.returncode != 0:
            raise ProcError(f"{name}: exit {p.returncode}: "
                            f"{self.log_tail(name)}")
        return out.decode(errors="replace")

    def groups(self):
        """{pgid: name} of everything running now (pgid == pid)."""
        return {p.pid: n for n, p in self.procs if p.poll() is None}

    def log_tail(self, name, lines=8):
        """Last lines of <tmp>/<name>.log, joined with ' | ' for messages."""
        try:
            with open(os.path.join(self.tmp, name + ".log"), "rb") as f:
                text = f.read()[-4000:].decode(errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"

    def check_alive(self, name):
        """Raise ProcError if the named process has exited."""
        for n, p in self.procs:
            if n == name and p.poll() is not None:
                raise ProcError(f"{name}: exited with {p.returncode}: "
                                f"{self.log_tail(name)}")

    def signal(self, name, sig):
        """Send sig to the named process (its leader only)."""
        for n, p in self.procs:
            if n == name and p.poll() is None:
                os.kill(p.pid, sig)

    def stop(self, name):
        for n, p in list(self.procs):
            if n == name:
                self._stop_one(n, p)
                self.procs.remove((n, p))

    def stop_all(self):
        """Stop every process group this Stack started, newest first."""
        while self.procs:
            n, p = self.procs.pop()
            self._stop_one(n, p)

    @staticmethod
    def _stop_one(name, p, grace=5.0):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(p.pid, sig)       # pgid == pid: own session
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=grace)
                # The leader is gone; members of its group may linger.
                os.killpg(p.pid, 0)
            except ProcessLookupError:
                return
            except subprocess.TimeoutExpired:
                pass
            time.sleep(0.2)


def wait_port(stack, name, port, timeout=10.0):
    """Wait until 127.0.0.1:port accepts, failing early if name died."""
    deadline = time.monotonic() + timeout
    while True:
        stack.check_alive(name)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise ProcError(f"{name}: port {port} not open after "
                                f"{timeout}s: {stack.log_tail(name)}")
            time.sleep(0.05)


def wait_unix(stack, name, path, timeout=10.0):
    """Wait until the unix socket at path accepts, failing early if name
    died."""
    deadline = time.monotonic() + timeout
    while True:
        stack.check_alive(name)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(1)
                s.connect(path)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise ProcError(f"{name}: {path} not accepting after "
                                f"{timeout}s: {stack.log_tail(name)}")
            time.sleep(0.05)


def render(src, dst, values):
    """Copy template src to dst replacing @KEY@ by values[KEY]; every
    placeholder must be known (a typo fails the run, not the benchmark)."""
    with open(src) as f:
        text = f.read()
    for k, v in values.items():
        text = text.replace(f"@{k}@", str(v))
    left = [k for k in re.findall(r"@[A-Z_]+@", text) if k != "@KEY@"]
    if left:
        raise ProcError(f"{src}: unknown placeholders {sorted(set(left))}")
    with open(dst, "w") as f:
        f.write(text)
