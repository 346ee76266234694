"""composelib.py -- what the Compose suites share: running commands, one
Compose project (its containers, exec, redis-cli, teardown), HTTP to nginx
on the host, and the collector's output read back for the
exactly-once checks.

    from composelib import Project, engine_or_skip
    engine_or_skip()                      # Skip when no engine answers
    p = Project("webstack-x", 3100, files=("compose.yaml",))
    p.compose("up", "-d"); p.one("redis-primary"); p.teardown()

Standard library only, like every test in tests/.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

from httpc import http_get
from tap import Skip

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
# make base-image: debian:bookworm-slim, pulled or made from Debian's
# archive; every image of the project builds on it.
BASE_IMAGE_SCRIPT = os.path.join(ROOT, "lib", "tools", "base-image.sh")


def log(msg):
    print(f"# {msg}", file=sys.stderr, flush=True)


def run(args, timeout=300, check=True, **kw):
    """Run a command; return CompletedProcess (text).  check: raise on
    non-zero exit with the command's stderr tail."""
    r = subprocess.run(args, capture_output=True, text=True,
                       timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:6])}... exit {r.returncode}: "
                           f"{(r.stderr or r.stdout)[-800:]}")
    return r


def compose_cmd():
    """docker compose (v2) when the plugin exists, else docker-compose."""
    if run(["docker", "compose", "version"], check=False,
           timeout=30).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def engine_or_skip():
    """The compose command to use; Skip when no Docker engine answers
    (tests/run turns that into a failure under REQUIRE_DOCKER=1)."""
    if shutil.which("docker") is None:
        raise Skip("no docker CLI")
    if run(["docker", "info"], check=False, timeout=30).returncode != 0:
        raise Skip("no Docker engine reachable")
    cmd = compose_cmd()
    if cmd is None:
        raise RuntimeError("Docker engine but neither `docker compose` nor "
                           "docker-compose")
    return cmd


def inspect(cid, fmt):
    return run(["docker", "inspect", "-f", fmt, cid]).stdout.strip()


def dexec(cid, script, timeout=30, check=True):
    return run(["docker", "exec", cid, "sh", "-c", script],
               timeout=timeout, check=check)


def tcp_from(cid, host, port, timeout=3):
    """From inside container cid: "open" when a TCP connection to
    host:port succeeds, "unresolved" when the name has no address there,
    else "closed" (refused, unreachable or timed out).  bash's /dev/tcp,
    which every image has (Debian's bash is essential)."""
    r = dexec(cid, f"getent hosts {host} >/dev/null || {{ echo unresolved; "
                   f"exit 0; }}; timeout {timeout} bash -c "
                   f"'exec 3<>/dev/tcp/{host}/{port}' 2>/dev/null "
                   "&& echo open || echo closed", check=False)
    return r.stdout.strip()


def least_privilege_problems(cid, cap_add=()):
    """What container cid lacks of compose.yaml's least privilege (empty
    when it has it all): read-only root, every capability dropped and only
    cap_add (names without CAP_) added back, no-new-privileges, pids and memory limits, and a
    non-root user unless it adds capabilities back."""
    hc = json.loads(inspect(cid, "{{json .HostConfig}}"))
    user = inspect(cid, "{{.Config.User}}")
    bad = []
    if not hc.get("ReadonlyRootfs"):
        bad.append("root filesystem writable")
    if "ALL" not in (hc.get("CapDrop") or []):
        bad.append(f"cap_drop {hc.get('CapDrop')}")
    added = sorted(c.upper().replace("CAP_", "", 1)
                   for c in hc.get("CapAdd") or [])
    if added != sorted(cap_add):
        bad.append(f"cap_add {hc.get('CapAdd')}")
    if "no-new-privileges:true" not in (hc.get("SecurityOpt") or []):
        bad.append(f"security_opt {hc.get('SecurityOpt')}")
    if not (hc.get("PidsLimit") or 0) > 0:
        bad.append("no pids limit")
    if not (hc.get("Memory") or 0) > 0:
        bad.append("no memory limit")
    if not cap_add and user.split(":")[0] in ("", "0", "root"):
        bad.append(f"user {user!r}")
    return bad


def running_privileges(cid):
    """(effective capabilities, NoNewPrivs) of every process in running
    container cid, as /proc says: {(CapEff, NoNewPrivs), ...}."""
    out = dexec(cid, "for d in /proc/[0-9]*; do awk '/^(CapEff|NoNewPrivs):/"
                     " {printf \"%s \", $2} END {print \"\"}' "
                     "$d/status 2>/dev/null || true; done").stdout
    return {tuple(line.split()) for line in out.splitlines() if line.strip()}


# -- the collector's output, read back ---------------------------------------
# The exactly-once checks (test_compose_stack.py's check_exact, test_rotation.py)
# compare these with the log files.  Docker must keep all of the
# collector's stdout for that: see keep-collector-output.yaml.

def collector_events(cid):
    """The collector container's JSON events (its stdout), in order."""
    r = run(["docker", "logs", cid], timeout=60)
    out = []
    for line in r.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def messages_of(evs, path):
    """The messages of the events read from path, in order."""
    return [e["message"] for e in evs if e.get("path") == path]


def rotated_messages(evs, path):
    """The messages of the events read from path or from one of its
    rotated names (path.1, path.2, ...: an event names the file as the
    collector last saw it), in order."""
    name = re.compile(re.escape(path) + r"(\.[0-9]+)?")
    return [e["message"] for e in evs
            if name.fullmatch(e.get("path", ""))]


def each_once(msgs, pattern, want):
    """Problems (empty: none) with the ids that pattern's first group
    finds in msgs, against want (the ids written): each must be there
    exactly once, and no other id."""
    seen = {}
    for m in msgs:
        k = re.search(pattern, m)
        if k:
            seen[k.group(1)] = seen.get(k.group(1), 0) + 1
    lost = [w for w in want if w not in seen]
    twice = sorted(k for k, n in seen.items() if n > 1)
    extra = sorted(set(seen) - set(want))
    bad = []
    if lost:
        bad.append(f"{len(lost)} of {len(want)} lost (e.g. {lost[:3]})")
    if twice:
        bad.append(f"{len(twice)} repeated (e.g. {twice[:3]})")
    if extra:
        bad.append(f"{len(extra)} unexpected (e.g. {extra[:3]})")
    return bad


class Project:
    """One Compose project: its name, nginx's host port, its -f files and
    extra environment.  cmd (the compose command) is set by the caller
    once the engine is known."""

    # Every request of a test comes from this host, which nginx sees as one
    # client (the bridge gateway): the per-client limits would turn the
    # load loops into 429s.  tests/integration/test_limits.py tests the
    # limits themselves; a test may pass lower ones in env.
    UNLIMITED = {"NGINX_LIMIT_REQ_RATE": "1000000",
                 "NGINX_LIMIT_REQ_BURST": "1000000",
                 "NGINX_LIMIT_CONN": "65535"}

    def __init__(self, name, port, files=("compose.yaml",), env=None):
        self.name = name
        self.port = port
        self.files = files
        self.env = dict(self.UNLIMITED, **(env or {}),
                        WEBSTACK_PORT=str(port))
        self.cmd = None
        self._torn_down = threading.Lock()

    def compose(self, *args, timeout=300, check=True):
        f = []
        for name in self.files:
            f += ["-f", os.path.join(ROOT, name)]
        return run(self.cmd + f + ["-p", self.name] + list(args),
                   timeout=timeout, check=check,
                   env=dict(os.environ, **self.env), cwd=ROOT)

    def build_images(self):
        """The base image (lib/tools/base-image.sh: pulled, or made
        from Debian's archive) and the project's images (layer cache);
        logs how long it took and the tag."""
        t0 = time.monotonic()
        run([BASE_IMAGE_SCRIPT], timeout=900)
        self.compose("build", timeout=1800)
        log(f"images ready in {time.monotonic() - t0:.0f}s "
            f"(tag {os.environ.get('WEBSTACK_TAG', 'latest')})")

    def label(self):
        return f"label=com.docker.compose.project={self.name}"

    def ids(self, service):
        """Container ids of a service (running or not), sorted."""
        r = run(["docker", "ps", "-aq", "--filter", self.label(),
                 "--filter", f"label=com.docker.compose.service={service}"])
        return sorted(r.stdout.split())

    def one(self, service):
        c = self.ids(service)
        assert len(c) == 1, f"{service}: expected one container, have {c}"
        return c[0]

    def redis_cli(self, service, *args, secret="admin", port=None):
        """redis-cli inside a service's container, as the user whose
        password is /run/secrets/redis/<secret> (admin: `default`)."""
        cmd = (f'REDISCLI_AUTH="$(head -n 1 /run/secrets/redis/{secret})" '
               'redis-cli --raw ' + (f"-p {port} " if port else "")
               + " ".join(args))
        return dexec(self.one(service), cmd).stdout.strip()

    def visit_on_replicas(self, cookie, sid, views, bound=1.0):
        """GET / with cookie (a visit: the session goes from views to
        views + 1) and assert that write is on both replicas within bound
        seconds of the response (write_lag).  Returns the lags."""
        def write():
            s, _, _ = http_get(self.port, "/", cookie=cookie)
            assert s == 200, f"GET / {s}"
        lags = self.write_lag(("redis-replica-1", "redis-replica-2"),
                              f"sess:{sid}", f'"views":{views + 1}[,}}]',
                              write)
        log("replica lag after the response: " + ", ".join(
            f"{k} {v * 1000:.0f} ms" for k, v in lags.items()))
        for svc, lag in lags.items():
            assert lag <= bound, f"{svc} had the write {lag:.2f}s after it"
        return lags

    def write_lag(self, services, key, pattern, write, timeout=5):
        """Seconds from write() returning until each service's Redis holds
        key with a value matching pattern (grep -E), {service: lag}.  A
        watcher polls inside each container, started before the write, and
        reads the wall clock (containers share the host's), so docker
        exec's own latency is not counted.  Fails if one never sees it
        within timeout."""
        watch = ('export REDISCLI_AUTH="$(head -n 1 '
                 '/run/secrets/redis/admin)"; '
                 f'end=$(( $(date +%s) + {timeout} )); '
                 f'until redis-cli --raw GET {key} | grep -qE \'{pattern}\'; '
                 'do [ $(date +%s) -lt $end ] || exit 1; done; date +%s.%N')
        procs = {svc: subprocess.Popen(
            ["docker", "exec", self.one(svc), "sh", "-c", watch],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for svc in services}
        time.sleep(1.0)     # docker exec has started every loop
        try:
            write()
            written = time.time()
        finally:
            outs = {svc: p.communicate(timeout=timeout + 15)
                    for svc, p in procs.items()}
        lags = {}
        for svc, (out, err) in outs.items():
            assert procs[svc].returncode == 0, \
                f"{svc}: {key} never matched {pattern!r} within " \
                f"{timeout}s of the write ({err.strip()})"
            lags[svc] = float(out) - written
        return lags

    def teardown(self, *more_args):
        """Remove the project's containers, networks and volumes; once,
        whoever calls first (the suite, SIGTERM, the deadline watchdog)."""
        if self.cmd is None or not self._torn_down.acquire(blocking=False):
            return
        self.compose(*more_args, "down", "-v", "--remove-orphans", "-t", "5",
                     timeout=300, check=False)
        # Whatever a failed `down` left behind, by the project's label
        # (containers the suite ran itself carry it too).
        for kind in ("container", "network", "volume"):
            flag = ["-aq"] if kind == "container" else ["-q"]
            r = run(["docker", kind, "ls"] + flag + ["--filter",
                                                     self.label()],
                    check=False)
            left = r.stdout.split()
            if left:
                log(f"removing leftover {kind}s: {left}")
                rm = ["rm", "-f"] if kind != "network" else ["rm"]
                run(["docker", kind] + rm + left, check=False, timeout=120)
