#!/usr/bin/env python3
"""stack.py -- start the whole stack natively on loopback (make run, tests).

Owns: rendering the native nginx main config around nginx/app/*.conf,
starting and supervising Redis (primary + replicas), the FastCGI pool
(fcgi-app/fcgi-app), nginx and, when built, the collector; waiting until
each is ready; and stopping every process it started (process groups, no
orphans) on exit, error or Ctrl-C.  It does not own any component's
config: redis/*.conf are loaded when present, with path and port
overrides on the command line.

As a program (what `make run` calls):
    python3 lib/tools/stack.py [--base-port N] [--run-dir DIR] [--keep]
starts everything in the foreground on the development ports (nginx on
3000, /metrics on 3001, Redis on 6379/6380/6381, the pool on a unix
socket in the run directory) until Ctrl-C.

As a library (the integration tier, the app benchmark; tests/run puts
lib/tools on the import path):
    with Stack(run_dir=tmp, base_port=20100) as s:
        s.url("/")                    # http://127.0.0.1:20100/
        s.ports["http"]               # 20100, for the caller's HTTP client
        s.redis_cli("primary", "PING")
        s.stop("fcgi-app"); s.cont("fcgi-app")
It makes no HTTP request but its readiness probe: callers bring their own
client (the tests use httpc.http_get).  It imports only the standard
library and redis_wire.py beside it, nothing from tests/.

Port layout for base_port B: nginx B, internal (/metrics) B+1, Redis
primary B+10, replicas B+11 and B+12; B+2 (9000 on the development
ports) is the pool's port only where it listens on TCP (watch mode, as
in containers), else the pool is on fcgi-app.sock in the run directory.
"""
import argparse
import ctypes
import functools
import http.client
import os
import pwd
import grp
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import redis_wire as resp
from redis_wire import RedisError  # noqa: F401  (callers catch it)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
NGINX_DIR = os.path.join(ROOT, "nginx")
APP_BIN = os.path.join(ROOT, "fcgi-app", "fcgi-app")
COLLECTOR_BIN = os.path.join(ROOT, "collector", "collector")
REDIS_DIR = os.path.join(ROOT, "redis")

DEV_PORTS = {"http": 3000, "internal": 3001, "app": 9000,
             "primary": 6379, "replica1": 6380, "replica2": 6381}

REDIS_NODES = ("primary", "replica1", "replica2")

# nginx's per-client limits: setting -> (template placeholder, default,
# minimum, maximum).  The same settings, defaults and bounds as
# nginx/upstream-watch.sh, which fills in the same template in containers.
NGINX_LIMITS = {
    "NGINX_LIMIT_REQ_RATE": ("@LIMIT_REQ_RATE@", 50, 1, 1000000),
    "NGINX_LIMIT_REQ_BURST": ("@LIMIT_REQ_BURST@", 100, 0, 1000000),
    "NGINX_LIMIT_CONN": ("@LIMIT_CONN@", 50, 1, 65535),
}
LIMITS_TEMPLATE = os.path.join(NGINX_DIR, "app", "limits.conf.in")
# What a Stack gets unless told otherwise: every limit at its maximum.
# Tests and benchmarks send thousands of requests a second from 127.0.0.1,
# which the shipped defaults would (rightly) refuse.
NGINX_LIMITS_MAX = {name: spec[3] for name, spec in NGINX_LIMITS.items()}

PR_SET_PDEATHSIG = 1


class StackError(Exception):
    """A component failed to start or to become ready."""


def ports_for(base_port):
    """Return the port map for base_port (None: the development ports)."""
    if base_port is None:
        return dict(DEV_PORTS)
    b = base_port
    return {"http": b, "internal": b + 1, "app": b + 2,
            "primary": b + 10, "replica1": b + 11, "replica2": b + 12}


def _child_setup(deathsig=signal.SIGTERM):
    """In the child before exec: own process group, get deathsig when the
    launcher dies (even by SIGKILL), default SIGINT/SIGQUIT.  A background job of a non-interactive shell
    (`make test &`, CI steps) starts with both ignored, and a shell that
    starts with a signal ignored cannot trap it (POSIX, "trap"): the nginx
    watcher would never see SIGQUIT."""
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(deathsig))
    except OSError:
        pass


def tail(path, n=30):
    """Return the last n lines of a file, or a note that it is missing."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 16384))
            data = f.read().decode("utf-8", "replace")
    except OSError as e:
        return f"({path}: {e.strerror})"
    lines = data.splitlines()[-n:]
    return "\n".join(lines)


# --- Redis: one command per connection (wire format in redis_wire.py) -

def redis_command(port, password, *args, timeout=2.0, host="127.0.0.1"):
    """Run one command on a Redis node (AUTH first when password).

    Returns the decoded reply; raises RedisError on an error reply and
    OSError/ConnectionError when the node cannot be reached in time."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        f = s.makefile("rb")
        if password:
            s.sendall(resp.encode(["AUTH", password]))
            resp.read(f)
        s.sendall(resp.encode(args))
        return resp.read(f)


# --- HTTP: the readiness probe only ------------------------------------

def _http_status(port, path, timeout):
    """The status of one GET of path on 127.0.0.1:port, on a fresh
    connection (headers and body are not kept).  Raises OSError or
    http.client.HTTPException when nothing answers."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        return c.getresponse().status
    finally:
        c.close()


# --- processes ------------------------------------------------------------

class Proc:
    """One started component: its Popen, output file and main log."""

    def __init__(self, name, argv, env, out_path, log_path=None, cwd=None,
                 stdout_inherit=False, stdout_path=None,
                 deathsig=signal.SIGTERM):
        self.name = name
        self.deathsig = deathsig
        self.stdout_path = stdout_path
        self.argv = argv
        self.env = env
        self.out_path = out_path
        self.log_path = log_path or out_path
        self.cwd = cwd
        self.stdout_inherit = stdout_inherit
        self.popen = None

    def start(self):
        out = open(self.out_path, "ab")
        sout = open(self.stdout_path, "ab") if self.stdout_path else out
        try:
            self.popen = subprocess.Popen(
                self.argv, env=self.env, cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=None if self.stdout_inherit else sout,
                stderr=out,
                preexec_fn=functools.partial(_child_setup, self.deathsig))
        finally:
            out.close()
            if sout is not out:
                sout.close()

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig):
        """Send sig to the component's whole process group."""
        if self.popen is None or self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, timeout=10.0):
        """SIGTERM the group (after SIGCONT), SIGKILL it after timeout."""
        if self.popen is None:
            return
        pgid = self.popen.pid
        for sig in (signal.SIGCONT, signal.SIGTERM):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        # Kill whatever is left in the group (workers of a dead master).
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def describe(self, n=30):
        text = f"--- {self.name}: {' '.join(self.argv)}\n"
        if self.popen is not None and self.popen.poll() is not None:
            text += f"(exited with status {self.popen.returncode})\n"
        text += f"--- tail of {self.out_path}\n{tail(self.out_path, n)}\n"
        if self.log_path != self.out_path:
            text += f"--- tail of {self.log_path}\n{tail(self.log_path, n)}\n"
        return text


class Stack:
    """The native stack.  All ports and paths are parameters.

    run_dir:   where configs, logs, data and sockets go (created; a temp
               dir, removed at exit, when None and keep is False).
    base_port: port layout (see ports_for); None = development ports.
    app:       start the pool (False: nginx answers 502, for nginx-only
               tests before fcgi-app exists).
    apps:      instead of the one pool, these instances: a list of
               (name, listen, hostname) tuples, e.g. for the watcher test
               ("app-a", "127.0.0.2:<app port>", "app-a").
    collector: start collector/collector (None: when it is built).
    watch:     start nginx through nginx/upstream-watch.sh, resolving this
               service name (instances listen on <addr>:<app port>).
    hosts_file: with watch, run the watcher in a private mount namespace
               where this file is bind-mounted over /etc/hosts.
    watch_env: with watch, more settings for the watcher, e.g.
               {"UPSTREAM_RESOLVER": "127.0.0.1:5353"}.
    nginx_limits: nginx's per-client limits, {NGINX_LIMIT_*: value}; a
               setting left out takes its shipped default ({}: all the
               defaults, what `make run` uses).  None: every limit at its
               maximum (NGINX_LIMITS_MAX), so that load from one address
               is never refused.
    """

    def __init__(self, run_dir=None, base_port=None, *, app=True,
                 collector=False, replicas=2, app_workers=2,
                 nginx_workers=2, session_secret=None,
                 redis_password=None, watch=None, hosts_file=None,
                 watch_env=None,
                 app_env=None, apps=None, pool_socket="tcp", keep=False,
                 verbose=False, nginx_limits=None):
        self.ports = ports_for(base_port)
        self.keep = keep
        self._own_run_dir = run_dir is None
        self.run_dir = os.path.abspath(
            run_dir or tempfile.mkdtemp(prefix="stack-"))
        if apps is None:
            # pool_socket "unix": nginx reaches the one pool through a
            # socket file in the run dir (make run: both on one host, and
            # measured cheaper per request than loopback TCP,
            # docs/BENCHMARKS.md); "tcp": 127.0.0.1:<app port>.
            listen = (f"127.0.0.1:{self.ports['app']}"
                      if pool_socket == "tcp" else None)
            apps = [("fcgi-app", listen, None)] if app else []
        self.app_specs = list(apps)
        self.want_app = bool(self.app_specs)
        self.app_addrs = {}
        self.want_collector = collector
        self.replicas = replicas
        self.app_workers = app_workers
        self.nginx_workers = nginx_workers
        self.secret = (session_secret or os.environ.get("SESSION_SECRET")
                       or secrets.token_urlsafe(32))
        self.redis_password = (redis_password
                               or os.environ.get("REDIS_PASSWORD")
                               or secrets.token_urlsafe(24))
        self.watch = watch
        self.hosts_file = hosts_file
        self.watch_env = dict(watch_env or {})
        self.app_env = dict(app_env or {})
        self.nginx_limits = limit_values(
            NGINX_LIMITS_MAX if nginx_limits is None else nginx_limits)
        self.verbose = verbose
        self.procs = {}
        self.started = False

        r = self.run_dir
        self.dirs = {
            "log": os.path.join(r, "log"),
            "nginx_log": os.path.join(r, "log", "nginx"),
            "app_log": os.path.join(r, "log", "app"),
            "redis_log": os.path.join(r, "log", "redis"),
            "out": os.path.join(r, "out"),
            "nginx": os.path.join(r, "nginx"),
            "data": os.path.join(r, "data"),
            "collector": os.path.join(r, "collector"),
        }
        self.logs = {
            "nginx-access": os.path.join(r, "log", "nginx", "access.log"),
            "nginx-error": os.path.join(r, "log", "nginx", "error.log"),
            "primary": os.path.join(r, "log", "redis", "redis-server.log"),
            "replica1": os.path.join(r, "log", "redis",
                                     "redis-replica-1.log"),
            "replica2": os.path.join(r, "log", "redis",
                                     "redis-replica-2.log"),
        }
        self.nginx_conf = os.path.join(r, "nginx", "nginx.conf")
        self.collector_out = os.path.join(r, "out", "collector.jsonl")
        self.upstream_conf = os.path.join(r, "nginx", "upstream.conf")
        self.limits_conf = os.path.join(r, "nginx", "limits.conf")
        # The internal server's "listen": upstream-watch.sh writes it in
        # watch mode, as in the container; otherwise it is inline.
        self.internal_listen_conf = os.path.join(r, "nginx",
                                                 "internal-listen.conf")
        self.app_specs = [
            (n, listen or "unix:" + os.path.join(r, "fcgi-app.sock"), h)
            for n, listen, h in self.app_specs]

    # --- public helpers ---------------------------------------------------

    def url(self, path="/", internal=False):
        port = self.ports["internal" if internal else "http"]
        return f"http://127.0.0.1:{port}{path}"

    def redis_cli(self, node, *args, timeout=2.0):
        """Run a command on "primary", "replica1" or "replica2"."""
        return redis_command(self.ports[node], self.redis_password, *args,
                             timeout=timeout)

    def log_path(self, name):
        """Main log file of a component (nginx-access, nginx-error,
        primary, replica1, replica2, fcgi-app: the pool's directory)."""
        if name == "fcgi-app":
            return self.dirs["app_log"]
        if name in self.logs:
            return self.logs[name]
        return self.procs[name].log_path

    def pid(self, name):
        return self.procs[name].popen.pid

    def kill(self, name, sig=signal.SIGKILL):
        """Signal a component's process group (default SIGKILL) and, for
        SIGKILL/SIGTERM, wait for it to be gone."""
        p = self.procs[name]
        p.signal(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            try:
                p.popen.wait(10)
            except subprocess.TimeoutExpired:
                raise StackError(f"{name} did not exit on signal {sig}")

    def stop(self, name):
        """SIGSTOP a component (it stalls; its sockets stay open).

        killpg() returns once the signal is queued, not once every thread
        of every process in the group has stopped; a thread running on
        the other core can still finish a request meanwhile.  So wait
        until /proc shows every process of the group stopped ("T")."""
        p = self.procs[name]
        if p.popen is None or p.popen.poll() is not None:
            raise StackError(f"{name} is not running; cannot stall it")
        p.signal(signal.SIGSTOP)
        pgid = p.popen.pid
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if all(state == "T" for state in _group_states(pgid)):
                return
            time.sleep(0.01)
        raise StackError(f"{name}: SIGSTOP did not stop its whole group")

    def cont(self, name):
        """SIGCONT a component stopped by stop()."""
        self.procs[name].signal(signal.SIGCONT)

    def terminate(self, name):
        """Stop a component for good (SIGTERM, then SIGKILL)."""
        self.procs[name].stop()

    def restart(self, name):
        """Start a component again (after kill/terminate) and wait until
        it is ready."""
        p = self.procs[name]
        if p.alive():
            p.stop()
        p.start()
        self._wait_ready(name)

    # --- lifecycle --------------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def start(self):
        """Start every component in order and wait until each is ready.
        On failure stop what was started and raise StackError."""
        try:
            self._check_ports_free()
            for d in self.dirs.values():
                os.makedirs(d, exist_ok=True)
            self._start_redis()
            if self.want_app:
                self._snapshot_app()
            for name, listen, hostname in self.app_specs:
                self.add_app(name, listen, hostname)
            self._start_nginx()
            if self.want_collector is None:
                self.want_collector = os.access(COLLECTOR_BIN, os.X_OK)
            if self.want_collector:
                self._start_collector()
            self.started = True
        except BaseException:
            self.close()
            raise

    def _check_ports_free(self):
        """Fail at once, naming the port, when another process (often a
        second run of the same suite) already listens on one of ours."""
        busy = []
        for name, port in sorted(self.ports.items()):
            if name == "app" and not self.want_app:
                continue
            if name.startswith("replica") and \
                    int(name[-1]) > self.replicas:
                continue
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError as e:
                busy.append(f"{name} 127.0.0.1:{port} ({e.strerror})")
            finally:
                s.close()
        if busy:
            raise StackError("ports in use (another stack running?): "
                             + ", ".join(busy))

    def close(self):
        """Stop everything, newest first; remove an owned temp run dir."""
        for name in reversed(list(self.procs)):
            self.procs[name].stop()
        if self._own_run_dir and not self.keep:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    # --- components -------------------------------------------------------

    def _spawn(self, name, argv, env=None, log_path=None, inherit=False,
               stdout_path=None, deathsig=signal.SIGTERM):
        out = os.path.join(self.dirs["out"], f"{name}.out")
        full_env = dict(os.environ)
        full_env.update(env or {})
        p = Proc(name, argv, full_env, out, log_path, cwd=self.run_dir,
                 stdout_inherit=inherit, stdout_path=stdout_path,
                 deathsig=deathsig)
        self.procs[name] = p
        p.start()
        return p

    def _fail(self, name, why):
        p = self.procs.get(name)
        detail = p.describe() if p else ""
        raise StackError(f"{name}: {why}\n{detail}")

    def _wait(self, name, check, timeout, what):
        """Poll check() until true; fail with the component's log tail
        when it exits or timeout passes."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            p = self.procs.get(name)
            if p is not None and not p.alive():
                self._fail(name, f"exited while waiting for {what}")
            try:
                if check():
                    return
            except Exception as e:  # noqa: BLE001 (readiness probe)
                last = e
            if time.monotonic() > deadline:
                self._fail(name, f"not ready after {timeout}s ({what}; "
                                 f"last error: {last})")
            time.sleep(0.05)

    def _wait_ready(self, name):
        if name in REDIS_NODES:
            self._wait(name, lambda: self.redis_cli(name, "PING") == "PONG",
                       10, "PING")
            if name != "primary":
                self._wait(name, lambda: "master_link_status:up"
                           in self.redis_cli(name, "INFO", "replication"),
                           15, "replication link up")
        elif name.startswith("fcgi-app"):
            addr = self.app_addrs[name]
            self._wait(name, lambda: _can_connect(addr), 10,
                       f"listening on {addr}")
        elif name == "nginx":
            want_app = self.want_app
            path = "/healthz" if want_app else "/nginx-only-probe"

            def healthy():
                st = _http_status(self.ports["http"], path, timeout=2)
                return st == 200 if want_app else st in (502, 404)
            self._wait(name, healthy, 15, f"GET {path} through nginx")

    def _redis_argv(self, node):
        """redis-server command line for a node: redis/<role>.conf when
        present, else built-in settings; ports and paths always overridden.
        """
        port = self.ports[node]
        role = "primary" if node == "primary" else "replica"
        conf = os.path.join(REDIS_DIR, f"{role}.conf")
        data = os.path.join(self.dirs["data"], node)
        os.makedirs(data, exist_ok=True)
        argv = ["redis-server"]
        if (os.path.isfile(conf)
                and os.environ.get("STACK_REDIS_CONF", "1") != "0"):
            argv.append(self._native_redis_conf(role, conf))
        argv += ["--port", str(port), "--bind", "127.0.0.1",
                 "--dir", data, "--logfile", self.logs[node],
                 "--daemonize", "no", "--pidfile", "",
                 "--requirepass", self.redis_password,
                 "--masterauth", self.redis_password,
                 "--protected-mode", "yes"]
        if node != "primary":
            argv += ["--replicaof", "127.0.0.1", str(self.ports["primary"])]
        return argv

    # Directives of redis/*.conf that name container paths or hosts, or
    # the container's ACL users.  Redis applies the file before the
    # command line and "dir /data" fails at once where /data does not
    # exist, so these are dropped from a copy instead of overridden.
    # Natively every node uses one password (requirepass/masterauth);
    # the ACL users are a container concern (redis/users.acl.in).
    REDIS_DROP = ("dir", "logfile", "aclfile", "pidfile", "bind",
                  "replicaof", "slaveof", "masteruser", "masterauth",
                  "requirepass", "include", "daemonize", "port",
                  "unixsocket", "user")

    def _native_redis_conf(self, role, conf):
        """Copy redis/<role>.conf into the run dir minus REDIS_DROP."""
        out = os.path.join(self.dirs["data"], f"{role}.conf")
        keep = []
        with open(conf) as f:
            for line in f:
                words = line.split()
                if words and words[0].lower() in self.REDIS_DROP:
                    continue
                keep.append(line)
        with open(out, "w") as f:
            f.write(f"# Native copy of {conf} (stack.py dropped: "
                    + " ".join(self.REDIS_DROP) + ")\n")
            f.writelines(keep)
        return out

    def _start_redis(self):
        nodes = ["primary"] + [f"replica{i}"
                               for i in range(1, self.replicas + 1)]
        for node in nodes:
            # SIGKILL when the launcher dies: on SIGTERM Redis saves
            # first and refuses to exit when it cannot (run dir already
            # removed), which would leave it running.  Nginx and the pool
            # get SIGTERM, which they pass on to their own workers.
            self._spawn(node, self._redis_argv(node),
                        log_path=self.logs[node], deathsig=signal.SIGKILL)
        for node in nodes:
            self._wait_ready(node)

    def _snapshot_app(self):
        """Copy fcgi-app/fcgi-app into the run dir: every instance, and
        every restart, runs the build the stack started with, even while
        someone rebuilds the tree."""
        if not os.access(APP_BIN, os.X_OK):
            raise StackError(f"{APP_BIN} is not built (make -C fcgi-app)")
        os.makedirs(os.path.join(self.run_dir, "bin"), exist_ok=True)
        self.app_bin = os.path.join(self.run_dir, "bin", "fcgi-app")
        shutil.copy2(APP_BIN, self.app_bin)

    app_bin = None

    def add_app(self, name, listen, hostname=None, env=None):
        """Start one pool instance listening on listen ("ip:port" or
        "unix:/path") and wait until it accepts connections."""
        e = {
            "APP_LISTEN": listen,
            "APP_WORKERS": str(self.app_workers),
            "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": str(self.ports["primary"]),
            "REDIS_PASSWORD": self.redis_password,
            "SESSION_SECRET": self.secret,
            "LOG_DIR": self.dirs["app_log"],
        }
        if hostname:
            e["APP_HOSTNAME"] = hostname
        e.update(self.app_env)
        e.update(env or {})
        self.app_addrs[name] = listen
        if self.app_bin is None:
            self._snapshot_app()
        log = f"{hostname or socket.gethostname()}.log"
        self._spawn(name, [self.app_bin], e,
                    log_path=os.path.join(self.dirs["app_log"], log))
        self._wait_ready(name)

    def _render_upstream(self):
        """The native upstream: the one pool instance (no watcher)."""
        listen = self.app_specs[0][1] if self.app_specs else \
            f"127.0.0.1:{self.ports['app']}"
        return (
            "# Rendered by lib/tools/stack.py; do not edit.\n"
            "upstream fcgi_app {\n"
            f"    server {listen};\n"
            # Same as upstream-watch.sh: per nginx worker, enough idle
            # connections for its requests in flight at peak.
            f"    keepalive {self._keepalive()};\n"
            "    keepalive_timeout 30s;\n"
            "}\n"
            # What nginx/app/fastcgi.conf passes to, as upstream-watch.sh
            # writes it.
            "map $server_port $fcgi_app { default fcgi_app; }\n")

    def _keepalive(self):
        return 32           # upstream-watch.sh's UPSTREAM_KEEPALIVE default

    def _render_limits(self):
        """nginx/app/limits.conf.in with this stack's limits filled in, as
        upstream-watch.sh writes it in containers."""
        with open(LIMITS_TEMPLATE) as f:
            text = f.read()
        for name, value in self.nginx_limits.items():
            text = text.replace(NGINX_LIMITS[name][0], str(value))
        return ("# Written by lib/tools/stack.py from "
                f"{LIMITS_TEMPLATE}; do not edit.\n" + text)

    def _render_nginx_conf(self):
        r = self.run_dir
        tmp = os.path.join(r, "nginx", "tmp")
        user = ""
        if os.geteuid() == 0:
            # nginx started as root would run its workers as "nobody";
            # run them as the current user, who owns the run dir.
            pw = pwd.getpwuid(os.geteuid())
            user = f"user {pw.pw_name} {grp.getgrgid(pw.pw_gid).gr_name};\n"
        temp_paths = "".join(
            f"    {k}_temp_path {tmp}/{k};\n"
            for k in ("client_body", "fastcgi", "proxy", "scgi", "uwsgi"))
        if self.watch:
            internal_listen = f"include {self.internal_listen_conf};"
        else:
            internal_listen = f"listen 127.0.0.1:{self.ports['internal']};"
        return (
            "# Rendered by lib/tools/stack.py for a native run; the server\n"
            "# bodies are nginx/app/*.conf (app/ is a symlink).\n"
            f"{user}"
            f"worker_processes {self.nginx_workers};\n"
            f"pid {r}/nginx/nginx.pid;\n"
            f"error_log {self.logs['nginx-error']} notice;\n"
            "events {\n    worker_connections 1024;\n}\n"
            "http {\n"
            f"    access_log {self.logs['nginx-access']} combined;\n"
            f"{temp_paths}"
            f"    include {self.upstream_conf};\n"
            f"    include {self.limits_conf};\n"
            "    server {\n"
            f"        listen 127.0.0.1:{self.ports['http']};\n"
            "        set $app_internal 0;\n"
            "        include app/server.conf;\n"
            "    }\n"
            "    server {\n"
            f"        {internal_listen}\n"
            "        set $app_internal 1;\n"
            "        include app/server.conf;\n"
            "    }\n"
            "}\n")

    def nginx_args(self):
        """Options that select this stack's nginx (for nginx -t etc.)."""
        return ["-p", self.dirs["nginx"] + "/", "-c", self.nginx_conf]

    def _start_nginx(self):
        ndir = self.dirs["nginx"]
        os.makedirs(os.path.join(ndir, "tmp"), exist_ok=True)
        link = os.path.join(ndir, "app")
        if not os.path.islink(link):
            os.symlink(os.path.join(NGINX_DIR, "app"), link)
        with open(self.nginx_conf, "w") as f:
            f.write(self._render_nginx_conf())
        if self.watch:
            env = {"UPSTREAM_SERVICE": self.watch,
                   "UPSTREAM_PORT": str(self.ports["app"]),
                   "UPSTREAM_FILE": self.upstream_conf,
                   "UPSTREAM_KEEPALIVE": str(self._keepalive()),
                   "UPSTREAM_INTERVAL": "1",
                   "LIMITS_TEMPLATE": LIMITS_TEMPLATE,
                   "LIMITS_FILE": self.limits_conf,
                   "NGINX_INTERNAL_LISTEN":
                       f"127.0.0.1:{self.ports['internal']}",
                   "INTERNAL_LISTEN_FILE": self.internal_listen_conf}
            env.update({k: str(v) for k, v in self.nginx_limits.items()})
            env.update(self.watch_env)
            watcher = [os.path.join(NGINX_DIR, "upstream-watch.sh")]
            watcher += self.nginx_args()
            if self.hosts_file:
                argv = ["unshare", "-m", "sh", "-c",
                        'mount --bind "$0" /etc/hosts && exec "$@"',
                        self.hosts_file] + watcher
            else:
                argv = watcher
            self._spawn("nginx", argv, env,
                        log_path=self.logs["nginx-error"])
        else:
            with open(self.upstream_conf, "w") as f:
                f.write(self._render_upstream())
            with open(self.limits_conf, "w") as f:
                f.write(self._render_limits())
            check = subprocess.run(["nginx", "-t", "-q"] + self.nginx_args(),
                                   capture_output=True, text=True)
            if check.returncode != 0:
                raise StackError("nginx -t failed:\n" + check.stderr)
            self._spawn("nginx", ["nginx"] + self.nginx_args()
                        + ["-g", "daemon off;"],
                        log_path=self.logs["nginx-error"])
        self._wait_ready("nginx")

    def _start_collector(self):
        """collector/collector tails the run dir's logs.  Its JSON events
        go to the terminal in `make run`, else to out/collector.jsonl
        (self.collector_out); its own messages to out/collector.out."""
        state = os.path.join(self.dirs["collector"], "offsets")
        # --from-beginning: the logs already hold the start-up lines.
        argv = [COLLECTOR_BIN, "--state", state, "--from-beginning",
                f"nginx-access={self.logs['nginx-access']}",
                f"nginx-error={self.logs['nginx-error']}",
                f"fcgi-app={self.dirs['app_log']}/*.log",
                f"redis={self.dirs['redis_log']}/*.log"]
        self._spawn("collector", argv, inherit=self.verbose,
                    stdout_path=self.collector_out)
        time.sleep(0.3)
        if not self.procs["collector"].alive():
            self._fail("collector", "exited at start")


def limit_values(given):
    """Return {setting: int} for every NGINX_LIMITS setting: given's value
    (an int or a decimal string) or the default.  Raises StackError naming
    a setting that is unknown, not a whole number, or out of bounds."""
    for name in given:
        if name not in NGINX_LIMITS:
            raise StackError(f"unknown nginx limit {name} (known: "
                             + ", ".join(NGINX_LIMITS) + ")")
    values = {}
    for name, (_, default, lo, hi) in NGINX_LIMITS.items():
        raw = str(given.get(name, default))
        # Digits only, no sign, no leading zero: what upstream-watch.sh
        # accepts too.
        if (not raw.isascii() or not raw.isdigit()
                or (len(raw) > 1 and raw[0] == "0")
                or not lo <= int(raw) <= hi):
            raise StackError(f"{name}={raw!r}: want a whole number from "
                             f"{lo} to {hi}")
        values[name] = int(raw)
    return values


def _group_states(pgid):
    """The state letter of every thread of every process in group pgid."""
    states = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            tasks = os.listdir(f"/proc/{d}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                with open(f"/proc/{d}/task/{t}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            # pid (comm) state ppid pgrp ...: comm may hold spaces or ')'
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[2]) == pgid:
                states.append(fields[0])
    return states


def _can_connect(addr):
    if addr.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX)
        target = addr[5:]
    else:
        host, _, port = addr.rpartition(":")
        host = host.strip("[]")
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(fam)
        target = (host, int(port))
    try:
        s.settimeout(0.5)
        s.connect(target)
        return True
    except OSError:
        return False
    finally:
        s.close()


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Run the whole stack natively on loopback until Ctrl-C.")
    ap.add_argument("--base-port", type=int, default=None,
                    help="port layout base (default: 3000/6379/9000)")
    ap.add_argument("--run-dir", default=None,
                    help="configs, logs and data (default: a temp dir)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temp run dir at exit")
    ap.add_argument("--no-collector", action="store_true")
    args = ap.parse_args(argv)

    stopping = []

    def on_signal(signum, _frame):
        stopping.append(signum)
        raise KeyboardInterrupt

    # SIGINT explicitly: a shell that starts us in the background leaves
    # it ignored, and Python then would not raise KeyboardInterrupt.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    given_secret = "SESSION_SECRET" in os.environ
    given_pw = "REDIS_PASSWORD" in os.environ
    # Per-client limits as in a container: NGINX_LIMIT_* from the
    # environment, the shipped defaults for the rest.
    limits = {k: os.environ[k] for k in NGINX_LIMITS if k in os.environ}
    try:
        s = Stack(run_dir=args.run_dir, base_port=args.base_port,
                  collector=False if args.no_collector else None,
                  pool_socket="unix", keep=args.keep, verbose=True,
                  nginx_limits=limits)
        s.start()
    except KeyboardInterrupt:
        print("stack: interrupted during start", file=sys.stderr)
        return 130
    except StackError as e:
        print(f"stack: {e}", file=sys.stderr)
        return 1
    try:
        p = s.ports
        print(f"stack: run dir     {s.run_dir}")
        print(f"stack: nginx       {s.url('/')}")
        print(f"stack: metrics     {s.url('/metrics', internal=True)}")
        print(f"stack: redis       127.0.0.1:{p['primary']} (replicas "
              f"{p['replica1']}, {p['replica2']})")
        print(f"stack: pool        {s.app_specs[0][1]}")
        print("stack: limits      " + ", ".join(
            f"{k}={v}" for k, v in s.nginx_limits.items())
            + " (per client address)")
        if not given_secret:
            print(f"stack: SESSION_SECRET={s.secret}  "
                  "(generated DEV value for this run only)")
        if not given_pw:
            print(f"stack: REDIS_PASSWORD={s.redis_password}  "
                  "(generated DEV value for this run only)")
        print("stack: logs        " + s.dirs["log"])
        print("stack: ready; Ctrl-C stops everything", flush=True)
        while True:
            for name, proc in s.procs.items():
                if not proc.alive():
                    print(f"stack: {name} exited unexpectedly\n"
                          + proc.describe(), file=sys.stderr)
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstack: stopping", file=sys.stderr)
        return 0
    finally:
        s.close()


if __name__ == "__main__":
    sys.exit(main())
