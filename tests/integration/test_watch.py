#!/usr/bin/env python3
"""test_watch.py -- nginx/upstream-watch.sh follows a scaled pool natively.

The watcher runs as it does in the container (entrypoint, nginx as its
child), but in a private mount namespace (unshare -m, needs root or user
namespaces) where a temp file is bind-mounted over /etc/hosts: the real
"getent ahosts" then sees the service name gain and lose addresses as the
test rewrites that file, like Docker's DNS during "compose up --scale".
Pool instances are real fcgi-app processes on 127.0.0.2 and 127.0.0.3,
same port, like containers behind one service name.  Without the
fcgi-app binary the traffic is nginx's own (404 /metrics) and the cases
that need the pool are skipped.  Ports 20300-20312.  One case runs the
watcher alone, with stand-ins for nginx and getent, to see which config
each "nginx -t" was given.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time


from tap import Suite, Skip
from stack import Stack, APP_BIN, NGINX_DIR, LIMITS_TEMPLATE
from httpc import check_json, header_of, http_get, session_workers
from poll import wait_for

BASE = 20300
SERVICE = "fcgi-app.invalid"   # .invalid never resolves through DNS
t = Suite()


class Ctx:
    pass


def write_hosts(path, addrs):
    # Rewrite in place: the bind mount follows the inode, not the name.
    with open(path, "w") as f:
        f.write("127.0.0.1 localhost\n")
        for a in addrs:
            f.write(f"{a} {SERVICE}\n")


def setup():
    if os.geteuid() != 0:
        r = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
        if r.returncode != 0:
            raise Skip("unshare -m not permitted (needs root or userns)")
    c = Ctx()
    c.tmp = tempfile.mkdtemp(prefix="test-watch-")
    c.hosts = os.path.join(c.tmp, "hosts")
    c.have_app = os.access(APP_BIN, os.X_OK)
    c.port = BASE + 2
    write_hosts(c.hosts, ["127.0.0.2"])
    # A failing DNS lookup must not stall the watcher's loop.
    os.environ["RES_OPTIONS"] = "timeout:1 attempts:1"
    apps = [("app-a", f"127.0.0.2:{c.port}", "app-a")] if c.have_app else []
    c.s = Stack(run_dir=os.path.join(c.tmp, "run"), base_port=BASE,
                app=False, apps=apps, watch=SERVICE, hosts_file=c.hosts)
    c.s.start()
    return c


def teardown(c):
    if c is None:
        return
    c.s.close()
    if not os.environ.get("TEST_KEEP"):
        shutil.rmtree(c.tmp, ignore_errors=True)


def need_app(c):
    if not c.have_app:
        raise Skip(f"{APP_BIN} not built")


def upstream_servers(c):
    """The upstream's instances (its server lines, less the backup lines
    the watcher adds: checked to be the same set), and its text."""
    with open(c.s.upstream_conf) as f:
        text = f.read()
    lines = re.findall(r"^\s*server (\S+?)( [^;]*)?;", text, re.M)
    main = sorted(a for a, opts in lines if " backup" not in opts)
    backup = sorted(a for a, opts in lines if " backup" in opts)
    want = [] if " down;" in text else main
    assert backup == want, f"backup lines {backup} for {main}:\n{text}"
    return main, text


def wait_servers(c, want, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        got, text = upstream_servers(c)
        if got == sorted(want):
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"upstream {got}, want {sorted(want)}:\n"
                                 + text)
        time.sleep(0.1)


def reloads(c):
    with open(c.s.log_path("nginx-error")) as f:
        return len(re.findall(r"signal 1 \(SIGHUP\) received.*reconfiguring",
                              f.read()))


def master_pid(c):
    with open(os.path.join(c.s.dirs["nginx"], "nginx.pid")) as f:
        return int(f.read())


def wait_reloads(c, n, timeout=5.0):
    deadline = time.monotonic() + timeout
    while reloads(c) < n:
        if time.monotonic() > deadline:
            raise AssertionError(f"{reloads(c)} reloads, want {n}")
        time.sleep(0.1)


class Load:
    """Requests in a loop on fresh connections; counts what failed."""

    def __init__(self, c):
        self.c = c
        self.path, self.want = (("/healthz", 200) if c.have_app
                                else ("/metrics", 404))
        self.done = 0
        self.failures = []
        self.stop = threading.Event()
        self.th = threading.Thread(target=self.run, daemon=True)
        self.th.start()

    def run(self):
        while not self.stop.is_set():
            try:
                st, _, _ = http_get(self.c.s.ports["http"], self.path,
                                    timeout=10)
                if st != self.want:
                    self.failures.append(st)
            except OSError as e:
                self.failures.append(repr(e))
            self.done += 1

    def finish(self):
        self.stop.set()
        self.th.join(15)
        assert self.done > 20, f"only {self.done} requests"
        if self.failures:
            with open(self.c.s.log_path("nginx-error")) as f:
                errs = [ln for ln in f.read().splitlines()
                        if "[error]" in ln or "[warn]" in ln]
            raise AssertionError(
                f"{len(self.failures)}/{self.done} failed: "
                f"{self.failures[:5]}; nginx said: {errs[-3:]}")


def change_hosts(c, addrs):
    """Point the service name at addrs; wait until nginx runs with them."""
    n0 = reloads(c)
    want = [f"{a}:{c.port}" for a in addrs] or [f"127.0.0.1:{c.port}"]
    same = upstream_servers(c)[0] == sorted(want)
    write_hosts(c.hosts, addrs)
    text = wait_servers(c, want)
    if not same:         # an unchanged set is, rightly, not reloaded
        wait_reloads(c, n0 + 1)
        time.sleep(0.3)  # the new workers are up; the old ones draining
    return text


def workers_seen(c, n=40):
    return session_workers(c.s.ports["http"], n)


@t.case
def initial_upstream_comes_from_dns(c):
    text = wait_servers(c, [f"127.0.0.2:{c.port}"])
    assert "keepalive " in text, text
    if c.have_app:
        st, _, body = http_get(c.s.ports["http"], "/healthz")
        assert st == 200, (st, body)


@t.case
def scale_up_is_found_and_reloaded_without_drops(c):
    pid0, n0 = master_pid(c), reloads(c)
    load = Load(c)
    try:
        if c.have_app:
            c.s.add_app("app-b", f"127.0.0.3:{c.port}", "app-b")
        change_hosts(c, ["127.0.0.2", "127.0.0.3"])
        time.sleep(1.0)
    finally:
        load.finish()
    wait_for("nginx reloaded for the new instance",
             lambda: reloads(c) > n0, WATCH_S)
    assert master_pid(c) == pid0, "nginx was restarted, not reloaded"
    if c.have_app:
        seen = workers_seen(c)
        assert seen == {"app-a", "app-b"}, seen


@t.case
def instance_killed_before_dns_notices_fails_no_get(c):
    need_app(c)
    load = Load(c)
    try:
        c.s.kill("app-a")          # SIGKILL, still in DNS and upstream
        time.sleep(1.5)
        change_hosts(c, ["127.0.0.3"])
        time.sleep(1.0)
    finally:
        load.finish()
    assert workers_seen(c, 10) == {"app-b"}


@t.case
def scale_down_is_followed_without_drops(c):
    if c.have_app:
        c.s.restart("app-a")
    change_hosts(c, ["127.0.0.2", "127.0.0.3"])
    load = Load(c)
    try:
        change_hosts(c, ["127.0.0.2"])
        time.sleep(1.0)   # old workers finish, then the instance goes
        if c.have_app:
            c.s.terminate("app-b")
        time.sleep(1.0)
    finally:
        load.finish()


@t.case
def no_instance_gives_fast_502_json_then_recovers(c):
    text = change_hosts(c, [])
    assert " down;" in text, text
    t0 = time.monotonic()
    st, hdrs, body = http_get(c.s.ports["http"], "/")
    assert st == 502 and time.monotonic() - t0 < 1.0, st
    check_json(st, header_of(hdrs, "Content-Type"), body)
    change_hosts(c, ["127.0.0.2"])
    if c.have_app:
        deadline = time.monotonic() + 5
        while http_get(c.s.ports["http"], "/healthz")[0] != 200:
            assert time.monotonic() < deadline, "no recovery"
            time.sleep(0.1)


def identity(path):
    """What shows that a file was neither rewritten nor replaced."""
    st = os.stat(path)
    with open(path) as f:
        return st.st_ino, st.st_mtime_ns, f.read()


@t.case
def config_nginx_t_refuses_is_not_loaded(c):
    conf = c.s.nginx_conf
    with open(conf) as f:
        good = f.read()
    n0 = reloads(c)
    live = identity(c.s.upstream_conf)
    try:
        with open(conf, "a") as f:
            f.write("this_is_not_a_directive;\n")
        write_hosts(c.hosts, ["127.0.0.2", "127.0.0.4"])
        time.sleep(2.5)
        got, _ = upstream_servers(c)
        assert got == [f"127.0.0.2:{c.port}"], got
        # Checked as a candidate: the live file was never touched.
        assert identity(c.s.upstream_conf) == live, "live file rewritten"
        assert reloads(c) == n0, "reloaded a config nginx -t refused"
        with open(c.s.procs["nginx"].out_path) as f:
            assert "refused" in f.read()
        st, _, _ = http_get(c.s.ports["http"], "/metrics")
        assert st == 404, st
    finally:
        with open(conf, "w") as f:
            f.write(good)
    # Fixed: the pending change goes in.
    wait_servers(c, [f"127.0.0.2:{c.port}", f"127.0.0.4:{c.port}"])
    wait_reloads(c, n0 + 1)
    change_hosts(c, ["127.0.0.2"])


STAND_IN_NGINX = r"""#!/usr/bin/env python3
# A stand-in for nginx.  -t: read the -c config and what it includes
# (relative paths against the config's directory, as nginx does), note
# whether that text or the live UPSTREAM_FILE has the address 127.0.0.9,
# and refuse it.  Otherwise: run until SIGTERM, noting each SIGHUP.
import os, re, signal, sys, time
def note(line):
    with open(os.environ["STAND_IN_LOG"], "a") as f:
        f.write(line + "\n")
args = sys.argv[1:]
if "-t" in args:
    conf = args[args.index("-c") + 1]
    with open(conf) as f:
        text = f.read()
    for inc in re.findall(r"^\s*include\s+(\S+);", text, re.M):
        with open(os.path.join(os.path.dirname(conf), inc)) as f:
            text += f.read()
    live = ""
    if os.path.exists(os.environ["UPSTREAM_FILE"]):
        with open(os.environ["UPSTREAM_FILE"]) as f:
            live = f.read()
    note(f"t conf={conf} refused={'127.0.0.9' in text} "
         f"live_has_it={'127.0.0.9' in live}")
    if "127.0.0.9" in text:
        sys.exit("nginx: [emerg] stand-in refuses 127.0.0.9")
    sys.exit(0)
signal.signal(signal.SIGHUP, lambda *a: note("HUP"))
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
while True:
    time.sleep(0.1)
"""

STAND_IN_GETENT = """#!/bin/sh
# A stand-in for getent ahosts NAME: the addresses in $STAND_IN_HOSTS.
[ -s "$STAND_IN_HOSTS" ] || exit 2
awk -v n="$2" '{ print $1 "  STREAM " n }' "$STAND_IN_HOSTS"
"""


# How long the watcher (UPSTREAM_INTERVAL 1 s) gets to act.
WATCH_S = 6.0


@t.case
def refused_candidate_never_becomes_live():
    """The watcher writes a candidate, has nginx -t check the main config
    with the candidate included in place of the live file, and renames
    it over the live file only once that passed: a refused candidate is
    logged and leaves the live file (and nginx) as they were."""
    tmp = tempfile.mkdtemp(prefix="test-watch-candidate-")
    w = None
    try:
        for name, text in (("nginx", STAND_IN_NGINX),
                           ("getent", STAND_IN_GETENT)):
            with open(os.path.join(tmp, name), "w") as f:
                f.write(text)
            os.chmod(os.path.join(tmp, name), 0o755)
        conf_dir = os.path.join(tmp, "conf")
        os.mkdir(conf_dir)
        live = os.path.join(tmp, "up", "fcgi-app.conf")
        main = os.path.join(conf_dir, "main.conf")
        with open(main, "w") as f:
            f.write(f"events {{}}\nhttp {{\n    include {live};\n"
                    "    include rel.conf;\n}\n")
        with open(os.path.join(conf_dir, "rel.conf"), "w") as f:
            f.write("# found through the main config's directory\n")
        hosts = os.path.join(tmp, "hosts")
        log = os.path.join(tmp, "stand-in.log")

        def set_hosts(*addrs):
            with open(hosts + ".new", "w") as f:
                f.write("".join(a + "\n" for a in addrs))
            os.replace(hosts + ".new", hosts)

        def noted():
            if not os.path.exists(log):
                return []
            with open(log) as f:
                return f.read().splitlines()

        def live_text():
            try:
                with open(live) as f:
                    return f.read()
            except FileNotFoundError:
                return ""

        set_hosts("127.0.0.2")
        env = dict(os.environ, NGINX=os.path.join(tmp, "nginx"),
                   PATH=tmp + os.pathsep + os.environ["PATH"],
                   STAND_IN_LOG=log, STAND_IN_HOSTS=hosts,
                   UPSTREAM_SERVICE=SERVICE, UPSTREAM_FILE=live,
                   UPSTREAM_INTERVAL="1",
                   LIMITS_FILE=os.path.join(tmp, "limits.conf"),
                   LIMITS_TEMPLATE=LIMITS_TEMPLATE,
                   INTERNAL_LISTEN_FILE=os.path.join(tmp, "listen.conf"))
        for k in ("NGINX_INTERNAL_LISTEN", "LOG_ROTATE_FILES",
                  "NGINX_LIMIT_REQ_RATE", "NGINX_LIMIT_REQ_BURST",
                  "NGINX_LIMIT_CONN"):
            env.pop(k, None)
        out = open(os.path.join(tmp, "watcher.out"), "w+")
        w = subprocess.Popen(
            [os.path.join(NGINX_DIR, "upstream-watch.sh"), "-p", tmp + "/",
             "-c", main], env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
        wait_for("the first upstream file",
                 lambda: "127.0.0.2:" in live_text(), WATCH_S)
        wait_for("the stand-in nginx to run", lambda: os.path.exists(log),
                 WATCH_S)
        before = identity(live)
        checks = len(noted())

        set_hosts("127.0.0.2", "127.0.0.9")
        wait_for("two refused checks", lambda: sum(
            "refused=True" in ln for ln in noted()[checks:]) >= 2, WATCH_S)
        lines = noted()
        refused = [ln for ln in lines if "refused=True" in ln]
        # nginx -t read the candidate through a copy of the main config
        # (its relative include found), never the live file...
        assert all(f"conf={main} " not in ln for ln in refused), refused
        assert "live_has_it=True" not in "".join(lines), lines
        # ...which is as it was, and nginx was not reloaded.
        assert identity(live) == before, "live file rewritten"
        assert "HUP" not in lines, lines
        out.seek(0)
        said = out.read()
        assert "refused the new upstream set" in said, said
        assert "stand-in refuses 127.0.0.9" in said, said

        # A set that passes goes in by rename, and nginx is reloaded.
        set_hosts("127.0.0.2", "127.0.0.3")
        wait_for("the next set", lambda: "127.0.0.3:" in live_text(),
                 WATCH_S)
        wait_for("a reload", lambda: "HUP" in noted(), WATCH_S)
        assert os.stat(live).st_ino != before[0], "rewritten in place"
        assert "127.0.0.9" not in live_text(), live_text()
    finally:
        if w is not None:
            try:
                os.killpg(w.pid, signal.SIGTERM)
                w.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(w.pid, signal.SIGKILL)
                w.wait()
        shutil.rmtree(tmp, ignore_errors=True)


@t.case
def sighup_is_forwarded_to_nginx(c):
    n0, pid0 = reloads(c), master_pid(c)
    c.s.procs["nginx"].popen.send_signal(signal.SIGHUP)
    wait_reloads(c, n0 + 1)
    assert master_pid(c) == pid0


@t.case
def sigquit_stops_nginx_gracefully_and_the_watcher_exits(c):
    pid = master_pid(c)
    w = c.s.procs["nginx"].popen
    w.send_signal(signal.SIGQUIT)
    try:
        rc = w.wait(10)
    except subprocess.TimeoutExpired:
        with open(c.s.procs["nginx"].out_path) as f:
            said = f.read().splitlines()[-4:]
        raise AssertionError("watcher still running 10 s after SIGQUIT; "
                             f"it said: {said}")
    assert rc == 0, f"watcher exit status {rc}"
    try:
        os.kill(pid, 0)
        raise AssertionError(f"nginx master {pid} still alive")
    except ProcessLookupError:
        pass
    with open(c.s.log_path("nginx-error")) as f:
        assert "gracefully shutting down" in f.read()


t.run(setup, teardown)
