"""compose_case.py -- the Compose stack as a user measures it, as one peer
of tests/bench/app/run.

Owns: deciding whether the case can run (BENCH_COMPOSE auto|0|1: a Docker
engine, the base image, a compose command), building the images and
bringing compose.yaml up under a unique project name on the published
port, reading where the CPU went (each container's cgroup, the
docker-proxy processes that carry the published port on loopback, and the
engine's own processes), Redis checks through `docker exec redis-cli` (the
data network is internal: the host has no route to Redis, by design), and
the teardown (`down -v`, then whatever carries the project's label).  The
Compose plumbing itself is tests/compose/composelib.py's.  The load target
is always localhost:<published port>, never a container address.
"""
import os
import shutil
import subprocess
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
import composelib  # tests/compose/composelib.py (run puts it on the path)

import measure  # noqa: E402
from resp import RedisError  # noqa: E402

BASE_IMAGE = "debian:bookworm-slim"
# Images are tagged for the bench (compose.yaml's WEBSTACK_TAG), so a run
# never replaces the :latest images someone else built from another tree.
IMAGE_TAG = "bench"
UP_TIMEOUT = 300
BUILD_TIMEOUT = 3600

# compose service -> report group; both replicas are one group.
GROUPS = {"nginx": "compose:nginx", "fcgi-app": "compose:fcgi-app",
          "redis-primary": "compose:redis",
          "redis-replica-1": "compose:replicas",
          "redis-replica-2": "compose:replicas",
          "collector": "compose:collector"}
PROXY_GROUP = "docker-proxy"
# The engine's long-running processes, by group: their own CPU (utime +
# stime), not their children's (what runs inside a container, healthchecks
# included, is in its cgroup already).  dockerd runs the API, the
# healthchecks and the json-file log driver; the shims carry each
# container's stdout/stderr to it.
ENGINE_GROUPS = {"dockerd": ("dockerd",),
                 "containerd": ("containerd", "containerd-shim",
                                "containerd-shim-runc-v2")}


class ComposeError(Exception):
    """The Compose stack could not be built, started or read."""


def _docker_ok():
    if shutil.which("docker") is None:
        return "no docker CLI"
    try:
        r = subprocess.run(["docker", "info"], capture_output=True,
                           timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"docker info: {e}"
    if r.returncode != 0:
        return "no Docker engine reachable (docker info failed)"
    r = subprocess.run(["docker", "image", "inspect", BASE_IMAGE],
                       capture_output=True, timeout=30)
    if r.returncode != 0:
        return f"no {BASE_IMAGE} image (make base-image)"
    return None


def unusable(mode):
    """Why the Compose case does not run, or None.  mode is BENCH_COMPOSE:
    "0" never, "1" always (a missing piece is then a failure, run says so),
    "auto" when the engine and the base image are there."""
    if mode == "0":
        return "BENCH_COMPOSE=0"
    why = _docker_ok()
    if why is None and composelib.compose_cmd() is None:
        why = "neither `docker compose` nor docker-compose"
    return why


def _mountpoints():
    """{"v1:<controller>": dir, "v2": dir} from /proc/self/mountinfo."""
    out = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if len(rfields) < 3:
                continue
            if rfields[0] == "cgroup2":
                out.setdefault("v2", fields[4])
            elif rfields[0] == "cgroup":
                for opt in rfields[2].split(","):
                    out.setdefault("v1:" + opt, fields[4])
    return out


def cgroup_reader(pid):
    """A function returning the CPU seconds used so far by the cgroup that
    pid is in: cgroup v1 cpuacct.usage, else v2 cpu.stat usage_usec."""
    mounts = _mountpoints()
    v1 = v2 = None
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _hid, ctrls, path = line.rstrip("\n").split(":", 2)
            if "cpuacct" in ctrls.split(",") and "v1:cpuacct" in mounts:
                v1 = os.path.join(mounts["v1:cpuacct"], path.lstrip("/"),
                                  "cpuacct.usage")
            elif ctrls == "" and "v2" in mounts:
                v2 = os.path.join(mounts["v2"], path.lstrip("/"),
                                  "cpu.stat")
    if v1 and os.path.exists(v1):
        def read_v1():
            with open(v1) as f:
                return int(f.read()) / 1e9
        return read_v1, v1
    if v2 and os.path.exists(v2):
        def read_v2():
            with open(v2) as f:
                for line in f:
                    k, _, v = line.partition(" ")
                    if k == "usage_usec":
                        return int(v) / 1e6
            return 0.0
        return read_v2, v2
    raise ComposeError(f"no cgroup CPU file for pid {pid}")


def _stat(pid):
    """(comm, utime + stime in ticks) of pid, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    comm = stat[stat.find(b"(") + 1:stat.rfind(b")")].decode(errors="replace")
    fields = stat[stat.rfind(b")") + 2:].split()
    return comm, int(fields[11]) + int(fields[12])


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def proxy_pids(port):
    """docker-proxy processes forwarding host port `port` (one per address
    family the port is published on)."""
    want = str(port).encode()
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        argv = _cmdline(d)
        if (argv and os.path.basename(argv[0]) == b"docker-proxy"
                and b"-host-port" in argv
                and argv[argv.index(b"-host-port") + 1:][:1] == [want]):
            pids.append(int(d))
    return sorted(pids)


def comm_pids(comms):
    """Pids of the processes whose name is one of comms."""
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            s = _stat(d)
            if s and s[0] in comms:
                pids.append(int(d))
    return sorted(pids)


def ticks_reader(pids):
    """A function returning the CPU seconds of a fixed set of processes;
    one that exits keeps its last value (no negative differences)."""
    hz = os.sysconf("SC_CLK_TCK")
    last = dict.fromkeys(pids, 0)

    def read():
        for pid in pids:
            s = _stat(pid)
            if s is not None:
                last[pid] = s[1]
        return sum(last.values()) / hz
    return read


class DockerRedis:
    """The few commands run's checks send, through `docker exec <primary>
    redis-cli --raw` as the admin user (its password file is in the
    container).  Replies are typed by command: integers for DBSIZE, EXISTS
    and TTL; bytes or None for GET and RANDOMKEY; bytes for the rest."""

    INT = ("DBSIZE", "EXISTS", "TTL")
    BULK = ("GET", "RANDOMKEY")

    def __init__(self, cid):
        self.cid = cid

    def call(self, *args):
        script = ('REDISCLI_AUTH="$(head -n 1 /run/secrets/redis/admin)" '
                  'exec redis-cli --raw "$@"')
        r = subprocess.run(["docker", "exec", self.cid, "sh", "-c", script,
                            "sh"] + [str(a) for a in args],
                           capture_output=True, timeout=60)
        out = r.stdout
        if r.returncode != 0 or out.startswith((b"ERR", b"WRONGTYPE",
                                                b"NOAUTH", b"NOPERM")):
            raise RedisError(f"docker exec redis-cli {args[0]}: "
                             f"{(out + r.stderr).decode()[:200]}")
        cmd = str(args[0]).upper()
        if cmd in self.INT:
            return int(out.strip())
        if cmd in self.BULK:
            out = out[:-1] if out.endswith(b"\n") else out
            return out or None
        return out

    def close(self):
        pass


class ComposeStack:
    """compose.yaml from `root` (the work tree, or a git ref extracted by
    run) as project `name`, nginx published on `port`."""

    def __init__(self, root, port, files=("compose.yaml",)):
        self.name = "benchapp" + uuid.uuid4().hex[:8]
        self.port = port
        self.project = composelib.Project(self.name, port, files=files)
        self.project.env["WEBSTACK_TAG"] = IMAGE_TAG
        # composelib resolves -f files and runs in its ROOT; a tree from
        # BENCH_COMPOSE_REF lives elsewhere.
        self.root = root
        self.project.cmd = composelib.compose_cmd()
        self.up_done = False

    def _compose(self, *args, timeout=300):
        f = []
        for name in self.project.files:
            f += ["-f", os.path.join(self.root, name)]
        r = subprocess.run(self.project.cmd + f + ["-p", self.name]
                           + list(args), capture_output=True, text=True,
                           timeout=timeout, cwd=self.root,
                           env=dict(os.environ, **self.project.env))
        if r.returncode != 0:
            raise ComposeError(f"compose {args[0]}: exit {r.returncode}: "
                               + (r.stderr or r.stdout)[-1500:])
        return r.stdout

    def build(self):
        self._compose("build", timeout=BUILD_TIMEOUT)

    def up(self):
        """Start the project and wait until GET / answers on localhost."""
        self.up_done = True
        self._compose("up", "-d", timeout=UP_TIMEOUT)
        got = measure.wait_ok(self.port, timeout=120, host="localhost")
        if not got or got[0] != 200:
            raise ComposeError(f"localhost:{self.port} never answered 200: "
                               f"{got!r}")

    def ids(self, service):
        return self.project.ids(service)

    def redis(self):
        return DockerRedis(self.project.one("redis-primary"))

    def probes(self):
        """{group: fn() -> CPU seconds so far} for every running container
        of the project, the docker-proxy processes of the published port
        and the engine; plus a description of what was found."""
        readers, found = {}, []
        for service, group in GROUPS.items():
            for cid in self.ids(service):
                pid = int(composelib.inspect(cid, "{{.State.Pid}}") or 0)
                if pid <= 0:
                    continue
                fn, path = cgroup_reader(pid)
                readers.setdefault(group, []).append(fn)
                found.append(f"{service} {path}")
        proxies = proxy_pids(self.port)
        if proxies:
            readers[PROXY_GROUP] = [ticks_reader(proxies)]
        found.append(f"docker-proxy pids {proxies or 'none'} (userland "
                     "proxy " + ("on" if proxies else "off") + ")")
        for group, comms in ENGINE_GROUPS.items():
            readers[group] = [ticks_reader(comm_pids(comms))]

        def total(fns):
            return lambda: sum(fn() for fn in fns)
        return {g: total(fns) for g, fns in readers.items()}, found

    def teardown(self):
        """down -v and remove leftovers by label; safe to call twice and
        when up() never ran."""
        if self.project.cmd is None or not self.up_done:
            return
        self.up_done = False
        try:
            self._compose("down", "-v", "--remove-orphans", "-t", "5")
        except (ComposeError, subprocess.TimeoutExpired, OSError):
            pass
        for kind in ("container", "network", "volume"):
            flag = ["-aq"] if kind == "container" else ["-q"]
            r = subprocess.run(["docker", kind, "ls"] + flag +
                               ["--filter", self.project.label()],
                               capture_output=True, text=True, timeout=60)
            left = r.stdout.split()
            if left:
                rm = ["rm", "-f"] if kind != "network" else ["rm"]
                subprocess.run(["docker", kind] + rm + left,
                               capture_output=True, timeout=120)
