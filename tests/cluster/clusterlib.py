#!/usr/bin/env python3
"""clusterlib.py -- a multi-node Docker Swarm on one machine, for tests.

The host's engine leads; each extra node is its own dockerd (with its own
supervised containerd) in a network namespace this module creates, joined
to the host by a veth pair:

    host engine (manager, "node0"): 198.18.77.1/32 on lo, the address it
        | veth wsc<i>h (no address)      advertises; route to each node
    netns wsc-node<i>: dockerd, hostname wsc-node<i> (own UTS namespace),
                     wsc<i>n 198.18.77.<i+1>/32, default route via .1

198.18.0.0/15 is the benchmark range (RFC 2544): no Docker address pool
or the host's routes use it.  The nodes reach each other (and the host's
advertise address) through the host's routing, which Docker's FORWARD
policy DROP would stop, so one FORWARD rule accepts 198.18.77.0/24 <->
198.18.77.0/24 while the cluster lives.

Facts this relies on (measured here, Engine 20.10.24):
- only the network namespace is entered (nsenter --net), plus a new UTS
  namespace for a distinct hostname; `ip netns exec` also remounts /sys
  and dockerd then fails with "Devices cgroup isn't mounted";
- each engine needs its own config file (the host's daemon.json names a
  data root), data root, exec root, pid file and socket; storage driver
  fuse-overlayfs like the host's;
- images: the nodes have no registry to pull from, so `docker save` on the
  host piped into each node's `docker load` (one stream of every stack
  image, shared layers once).

Everything is removed by teardown() -- stack, swarm membership of the
extra nodes, the swarm itself if this module created it (and the
docker_gwbridge network it brought), engines, their containers and
mounts, namespaces, veths, the FORWARD rule, data roots -- and a killed
run's leftovers are found from STATE and removed by the next setup().

Usage (as a program, by hand, as root; PYTHONPATH=tests/lib:lib/tools as
for every test program run without tests/run):
    tests/cluster/clusterlib.py up [N]     # leaves the cluster running
    tests/cluster/clusterlib.py down       # removes it (and leftovers)
    tests/cluster/clusterlib.py docker I ARGS...   # the CLI on node I
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

from poll import wait_for       # tests/lib, on PYTHONPATH

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

NET = "198.18.77"
BASE = "/var/lib/wscluster"          # data roots and STATE
RUN = "/run/wscluster"               # exec roots, sockets, pid files
STATE = os.path.join(BASE, "state.json")
RULE = ["-s", f"{NET}.0/24", "-d", f"{NET}.0/24", "-m", "comment",
        "--comment", "wscluster", "-j", "ACCEPT"]
IMAGES = ["webstack/redis-primary", "webstack/redis-replica",
          "webstack/redis-sentinel", "webstack/fcgi-app", "webstack/nginx",
          "webstack/collector"]
HOST_ADDR = f"{NET}.1"


def log(msg):
    print(f"# {msg}", file=sys.stderr, flush=True)


def run(cmd, check=True, timeout=120, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    r = subprocess.run(cmd, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: "
                           f"{(r.stderr or '').strip()[-800:]}")
    return r


class Node:
    """One extra engine: index i >= 1 (the host's engine is node 0)."""

    def __init__(self, i):
        self.i = i
        self.name = f"wsc-node{i}"
        self.netns = self.name
        self.veth_host = f"wsc{i}h"
        self.veth_ns = f"wsc{i}n"
        self.addr = f"{NET}.{i + 1}"
        self.data = os.path.join(BASE, self.name)
        self.exec_root = os.path.join(RUN, self.name)
        self.sock = os.path.join(self.exec_root, "docker.sock")
        self.pidfile = os.path.join(self.exec_root, "docker.pid")
        self.log_path = os.path.join(self.data, "dockerd.log")
        self.node_id = None

    def docker(self, *args, check=True, timeout=120, **kw):
        return run(["docker", "-H", f"unix://{self.sock}"] + list(args),
                   check=check, timeout=timeout, **kw)

    def nsexec(self, *args):
        """argv running args in this node's network namespace."""
        return ["nsenter", f"--net=/run/netns/{self.netns}"] + list(args)

    # -- network ----------------------------------------------------------
    def net_up(self):
        """A point-to-point link: the host's side of the veth has no
        address of its own, only a route to the node from HOST_ADDR.  Then
        every packet the host sends a node (the VXLAN overlay's included)
        comes from the address it advertises; with an address per veth,
        the host's VXLAN packets left from that one instead and the node
        dropped them (measured: host <-> node overlay TCP closed, node <->
        node open)."""
        run(["ip", "netns", "add", self.netns])
        run(["ip", "link", "add", self.veth_host, "type", "veth",
             "peer", "name", self.veth_ns])
        run(["ip", "link", "set", self.veth_ns, "netns", self.netns])
        self.link(True)
        ns = ["ip", "-n", self.netns]
        run(ns + ["addr", "add", f"{self.addr}/32", "dev", self.veth_ns])
        run(ns + ["link", "set", self.veth_ns, "up"])
        run(ns + ["link", "set", "lo", "up"])
        run(ns + ["route", "add", f"{HOST_ADDR}/32", "dev", self.veth_ns])
        run(ns + ["route", "add", "default", "via", HOST_ADDR])

    def link(self, up):
        """Bring this node's only link (the host's side of its veth) up or
        down: down, the node is gone from the network while its engine
        still runs."""
        run(["ip", "link", "set", self.veth_host, "up" if up else "down"])
        if up:
            run(["ip", "route", "replace", f"{self.addr}/32", "dev",
                 self.veth_host, "src", HOST_ADDR])

    # -- engine -----------------------------------------------------------
    def engine_start(self):
        os.makedirs(self.data, exist_ok=True)
        os.makedirs(self.exec_root, exist_ok=True)
        conf = os.path.join(self.data, "daemon.json")
        with open(conf, "w") as f:
            json.dump({"storage-driver": "fuse-overlayfs", "mtu": 1400,
                       "log-driver": "json-file",
                       "log-opts": {"max-size": "10m", "max-file": "2"}}, f)
        argv = ["unshare", "--uts", "sh", "-c",
                f'hostname {self.name} && exec "$@"', "sh"] + self.nsexec(
            "dockerd", "--config-file", conf,
            "--data-root", os.path.join(self.data, "root"),
            "--exec-root", self.exec_root, "--pidfile", self.pidfile,
            "-H", f"unix://{self.sock}")
        with open(self.log_path, "ab") as out:
            # A task's image is pulled even when present unless this is
            # set, and with no registry each pull waited out a DNS timeout
            # (about 20 s per task, measured).
            env = dict(os.environ, DOCKER_SERVICE_PREFER_OFFLINE_IMAGE="1")
            subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, env=env,
                             start_new_session=True)
        wait_for(f"{self.name} engine answering", lambda: self.docker(
            "info", "-f", "{{.ID}}", check=False, timeout=10
        ).returncode == 0, 90, interval=0.5)

    def engine_pid(self):
        try:
            with open(self.pidfile) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def engine_stop(self, kill=False):
        """Stop this node's dockerd: SIGTERM (its containers stop with it)
        or, with kill, SIGKILL -- the machine losing power.  Its containerd
        and shims are killed too in that case (they are its children by
        exec root)."""
        pid = self.engine_pid()
        inits = []
        if kill and pid:
            ids = self.docker("ps", "-q", check=False).stdout.split()
            if ids:
                inits = [int(p) for p in self.docker(
                    "inspect", "-f", "{{.State.Pid}}", *ids,
                    check=False).stdout.split() if p.isdigit()]
        if pid and _alive(pid):
            os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
            end = time.monotonic() + 30
            while _alive(pid) and time.monotonic() < end:
                time.sleep(0.2)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if kill:
            _kill_marked(self.exec_root)
            # each container's init: the kernel then kills the rest of
            # its PID namespace
            for p in inits:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            os.unlink(self.pidfile)
        except OSError:
            pass


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _kill_marked(mark):
    """Kill the processes whose command line names mark (a path only this
    module uses: an engine's exec root or data root), by pid."""
    me = os.getpid()
    for _ in range(3):
        pids = []
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) == me:
                continue
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(
                        errors="replace")
            except OSError:
                continue
            if mark in cmd:
                pids.append(int(d))
        if not pids:
            return
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.5)


def _umount_under(path):
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for p in sorted((p for p in points if p == path
                     or p.startswith(path + "/")), key=len, reverse=True):
        run(["umount", "-l", p], check=False)


def _forward_rule(add):
    have = run(["iptables", "-C", "FORWARD"] + RULE,
               check=False).returncode == 0
    if add and not have:
        run(["iptables", "-I", "FORWARD", "1"] + RULE)
    while not add and have:
        run(["iptables", "-D", "FORWARD"] + RULE, check=False)
        have = run(["iptables", "-C", "FORWARD"] + RULE,
                   check=False).returncode == 0


def _host_addr(add):
    """HOST_ADDR/32 on the host's loopback: the address the host's engine
    advertises to the nodes (this kernel has no dummy interfaces)."""
    have = f" {HOST_ADDR}/32 " in run(["ip", "-o", "addr", "show", "dev",
                                       "lo"]).stdout
    if add and not have:
        run(["ip", "addr", "add", f"{HOST_ADDR}/32", "dev", "lo"])
    elif not add and have:
        run(["ip", "addr", "del", f"{HOST_ADDR}/32", "dev", "lo"],
            check=False)


def host_docker(*args, check=True, timeout=120, **kw):
    return run(["docker"] + list(args), check=check, timeout=timeout, **kw)


class Cluster:
    """The host's engine plus n extra nodes.  setup() builds it, teardown()
    removes all of it; both are safe to call again."""

    def __init__(self, n=2):
        self.nodes = [Node(i) for i in range(1, n + 1)]
        self.state = {"swarm_created": False, "gwbridge_before": True,
                      "nodes": n, "stacks": [], "secrets": []}
        self.host_id = None

    def save(self):
        os.makedirs(BASE, exist_ok=True)
        with open(STATE, "w") as f:
            json.dump(self.state, f)

    # -- build ------------------------------------------------------------
    def setup(self, images=IMAGES, labels=None):
        """labels: {node index: {key: value}} (0 = the host's engine)."""
        cleanup_leftovers()
        state = host_docker("info", "-f", "{{.Swarm.LocalNodeState}}"
                            ).stdout.strip()
        t0 = time.monotonic()
        self.save()
        _host_addr(True)
        for node in self.nodes:
            node.net_up()
        _forward_rule(True)
        if state == "inactive":
            self.state["gwbridge_before"] = host_docker(
                "network", "inspect", "docker_gwbridge",
                check=False).returncode == 0
            self.state["swarm_created"] = True
            self.save()
            host_docker("swarm", "init", "--advertise-addr", HOST_ADDR,
                        "--data-path-addr", HOST_ADDR)
            manager = f"{HOST_ADDR}:2377"
        elif state == "active":
            manager = host_docker(
                "info", "-f", "{{range .Swarm.RemoteManagers}}{{.Addr}} "
                "{{end}}").stdout.split()[0]
        else:
            raise RuntimeError(f"host engine's swarm state is {state!r}")
        self.host_id = host_docker("info", "-f", "{{.Swarm.NodeID}}"
                                   ).stdout.strip()
        token = host_docker("swarm", "join-token", "-q", "worker"
                            ).stdout.strip()
        for node in self.nodes:
            node.engine_start()
        log(f"{len(self.nodes)} engines up {time.monotonic() - t0:.1f}s")
        t1 = time.monotonic()
        tags = [f"{i}:{os.environ.get('WEBSTACK_TAG', 'latest')}"
                for i in images]
        self.load_images(tags)
        log(f"images loaded on every node {time.monotonic() - t1:.1f}s")
        for node in self.nodes:
            node.docker("swarm", "join", "--token", token,
                        "--advertise-addr", node.addr,
                        "--data-path-addr", node.addr, manager)
            node.node_id = node.docker("info", "-f", "{{.Swarm.NodeID}}"
                                       ).stdout.strip()
        wait_for("every node Ready", self.all_ready, 60)
        for i, lab in (labels or {}).items():
            args = []
            for k, v in lab.items():
                args += ["--label-add", f"{k}={v}"]
            host_docker("node", "update", *args, self.node_id(i))
        log(f"cluster of {len(self.nodes) + 1} nodes ready "
            f"{time.monotonic() - t0:.1f}s")

    def load_images(self, tags):
        for node in self.nodes:
            save = subprocess.Popen(["docker", "save"] + tags,
                                    stdout=subprocess.PIPE)
            try:
                node.docker("load", "-q", stdin=save.stdout, timeout=600)
            finally:
                save.stdout.close()
                save.wait()

    def node_id(self, i):
        return self.host_id if i == 0 else self.nodes[i - 1].node_id

    def index_of(self, node_id):
        for i in range(len(self.nodes) + 1):
            if self.node_id(i) == node_id:
                return i
        return None

    def nodes_status(self):
        """{node id: (state, availability)} as the manager sees them."""
        out = host_docker("node", "ls", "--format",
                          "{{.ID}} {{.Status}} {{.Availability}}").stdout
        return {f[0]: (f[1], f[2]) for f in
                (line.split() for line in out.splitlines()) if f}

    def all_ready(self):
        st = self.nodes_status()
        ids = [self.node_id(i) for i in range(len(self.nodes) + 1)]
        return all(st.get(i, ("",))[0] == "Ready" for i in ids)

    def engine(self, i):
        """The docker CLI prefix for node i."""
        if i == 0:
            return ["docker"]
        return ["docker", "-H", f"unix://{self.nodes[i - 1].sock}"]

    def stack_deployed(self, name):
        self.state["stacks"].append(name)
        self.save()

    # -- remove -----------------------------------------------------------
    def teardown(self):
        teardown_from(self.state, [n.i for n in self.nodes])


def teardown_from(state, indexes):
    """Remove a cluster described by state (see Cluster.state); every
    step is tried even if an earlier one failed."""
    def step(what, fn, *a, **kw):
        try:
            fn(*a, **kw)
        except Exception as e:      # keep going: remove everything
            log(f"teardown: {what}: {e}")
    nodes = [Node(i) for i in indexes]
    for stack in state.get("stacks", []):
        step(f"stack rm {stack}", host_docker, "stack", "rm", stack)
    for name in state.get("secrets", []):
        step(f"secret rm {name}", host_docker, "secret", "rm", name)
    for node in nodes:
        if node.engine_pid() and _alive(node.engine_pid()):
            step(f"{node.name} swarm leave", node.docker, "swarm", "leave",
                 "--force", check=False, timeout=30)
        step(f"{node.name} stop", node.engine_stop)
        step(f"{node.name} processes", _kill_marked, node.exec_root)
        step(f"{node.name} processes", _kill_marked, node.data)
    if state.get("swarm_created"):
        # waits for the stack's tasks to go, then leaves (removing the
        # host's tasks of any stack too)
        if host_docker("info", "-f", "{{.Swarm.LocalNodeState}}",
                       check=False).stdout.strip() != "inactive":
            step("host stack containers", _wait_stack_gone,
                 state.get("stacks", []))
            step("swarm leave", host_docker, "swarm", "leave", "--force")
        if not state.get("gwbridge_before", True):
            step("docker_gwbridge", host_docker, "network", "rm",
                 "docker_gwbridge", check=False)
    else:
        out = host_docker("node", "ls", "--format", "{{.ID}} {{.Hostname}}",
                          check=False).stdout
        for line in out.splitlines():
            f = line.split()
            if len(f) == 2 and f[1].startswith("wsc-node"):
                step("node rm", host_docker, "node", "rm", "--force", f[0],
                     check=False)
    for stack in state.get("stacks", []):
        label = f"label=com.docker.stack.namespace={stack}"
        for kind in ("volume", "network"):
            left = host_docker(kind, "ls", "-q", "--filter", label,
                               check=False).stdout.split()
            if left:
                step(f"{kind} rm", host_docker, kind, "rm", *left,
                     check=False)
    for node in nodes:
        step(f"{node.name} veth", run, ["ip", "link", "del",
                                        node.veth_host], check=False)
        step(f"{node.name} netns", run, ["ip", "netns", "del", node.netns],
             check=False)
        step(f"{node.name} mounts", _umount_under, node.exec_root)
        step(f"{node.name} mounts", _umount_under, node.data)
        step(f"{node.name} exec root", shutil.rmtree, node.exec_root, True)
        step(f"{node.name} data root", shutil.rmtree, node.data, True)
    step("FORWARD rule", _forward_rule, False)
    step("host address", _host_addr, False)
    for path in (STATE, RUN, BASE):
        try:
            (os.rmdir if path != STATE else os.unlink)(path)
        except OSError:
            pass


def _wait_stack_gone(stacks):
    def gone():
        for s in stacks:
            if host_docker("ps", "-aq", "--filter",
                           f"label=com.docker.stack.namespace={s}",
                           check=False).stdout.split():
                return False
        return True
    try:
        wait_for("stack containers gone", gone, 60, interval=1)
    except AssertionError as e:
        log(str(e))


def cleanup_leftovers():
    """Remove what a killed run left (its STATE, any wsc-node namespace,
    veth or engine, the FORWARD rule); nothing if there is none."""
    state = None
    try:
        with open(STATE) as f:
            state = json.load(f)
    except (OSError, ValueError):
        pass
    indexes = set()
    if os.path.isdir(RUN):
        indexes |= {int(d[8:]) for d in os.listdir(RUN)
                    if d.startswith("wsc-node") and d[8:].isdigit()}
    if os.path.isdir(BASE):
        indexes |= {int(d[8:]) for d in os.listdir(BASE)
                    if d.startswith("wsc-node") and d[8:].isdigit()}
    netns = run(["ip", "netns", "list"], check=False).stdout
    indexes |= {int(w[8:]) for w in netns.split()
                if w.startswith("wsc-node") and w[8:].isdigit()}
    if state is None and not indexes:
        _forward_rule(False)
        _host_addr(False)
        for path in (RUN, BASE):
            try:
                os.rmdir(path)
            except OSError:
                pass
        return
    log(f"removing a previous run's leftovers (nodes {sorted(indexes)})")
    teardown_from(state or {"swarm_created": False}, sorted(indexes))


def main(argv):
    if len(argv) >= 2 and argv[1] == "up":
        c = Cluster(int(argv[2]) if len(argv) > 2 else 2)
        c.setup(labels={0: {"edge": "true"}})
        print(run(["docker", "node", "ls"]).stdout)
        return 0
    if len(argv) >= 2 and argv[1] == "down":
        cleanup_leftovers()
        return 0
    if len(argv) >= 3 and argv[1] == "docker":
        i = int(argv[2])
        return subprocess.call(Cluster(max(i, 1)).engine(i) + argv[3:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
