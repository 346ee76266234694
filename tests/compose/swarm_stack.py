#!/usr/bin/env python3
"""swarm_stack.py -- render compose.yaml for `docker stack deploy`.

The docker CLI's stack loader refuses compose.yaml as it is
("services.fcgi-app.depends_on must be a list": it only knows the short
depends_on form, which cannot say service_healthy) and rejects dns_opt.
This renders, from compose.yaml itself (through `docker-compose config` or
`docker compose config`, so interpolation and anchors are resolved):

  stack.yaml     compose.yaml minus what Swarm does not take: depends_on,
                 build, restart, network_mode, profiles (and the profiled
                 sentinel services), ports, dns_opt, bridge driver_opts,
                 and the container-only forms of the limits (mem_limit,
                 pids_limit), tmpfs options and security_opt;
  override.yaml  what Swarm needs instead (SWARM_OVERRIDE below), and
                 each service's memory and pids limits, from compose.yaml,
                 as deploy.resources.limits.

What stays of compose.yaml's least privilege under Swarm (Engine 20.10,
API 1.41): read_only, cap_drop/cap_add and the limits carry over; nginx's
tmpfs becomes a volume, and the pool's and /metrics' binding to the
backend network's address does not carry over (both: see
SWARM_OVERRIDE); no-new-privileges has no Swarm service form at that API
version, so it is left to the images, which hold no setuid or setgid file,
and to the engine's own "no-new-privileges": true (docs/OPERATIONS.md,
"Least privilege").

Usage:
  tests/compose/swarm_stack.py OUTDIR
  docker stack deploy --resolve-image never -c OUTDIR/stack.yaml \\
      -c OUTDIR/override.yaml -c OUTDIR/limits.yaml webstack

The rendering is line based and relies on the config command's stable
output (two-space indentation, one key per line); it only drops blocks.
"""
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

# Service keys Swarm ignores or the stack loader refuses.
DROP_SERVICE_KEYS = {"depends_on", "build", "restart", "network_mode",
                     "profiles", "ports", "dns_opt", "mem_limit",
                     "pids_limit", "tmpfs", "security_opt"}
# Bridge-only network options (inhibit_ipv4 means nothing on an overlay).
DROP_NETWORK_KEYS = {"driver_opts"}
# Services that only run under a compose profile.
DROP_SERVICE_PREFIX = "redis-sentinel"

# What Swarm needs instead, measured on a single-node swarm here:
# - endpoint_mode dnsrr everywhere: a service name then resolves to its
#   tasks' own addresses.  With the default virtual IP, the replicas could
#   not reach the primary through the VIP on this machine (and nginx's
#   watcher would see one address instead of one per instance);
# - nginx publishes 3000 in host mode: the ingress routing mesh did not
#   answer here (and dnsrr services cannot use it);
# - the one-shot secrets service must not be restarted;
# - one collector per node, reading that node's log volumes.
SWARM_OVERRIDE = """\
version: "3.9"
services:
  secrets:
    deploy:
      restart_policy:
        condition: none
  redis-primary:
    deploy:
      endpoint_mode: dnsrr
  redis-replica-1:
    deploy:
      endpoint_mode: dnsrr
  redis-replica-2:
    deploy:
      endpoint_mode: dnsrr
  fcgi-app:
    # Swarm puts a task in its service's DNS (aliases included) only once
    # it is healthy, so a task cannot find its own address through the
    # backend alias at start (measured: "Temporary failure in name
    # resolution", every restart).  Under Swarm the pool listens on every
    # interface, and nginx's /metrics likewise (below).
    environment:
      APP_LISTEN: 0.0.0.0:9000
    deploy:
      replicas: 2
      endpoint_mode: dnsrr
  nginx:
    environment:
      NGINX_INTERNAL_LISTEN: "3001"
    deploy:
      endpoint_mode: dnsrr
    # Its writable /var/lib/nginx: a Swarm tmpfs mount takes no owner, and
    # the mode in the stack file did not reach the service (measured: the
    # spec kept only SizeBytes, the mount was root's 0755 and nginx, as
    # www-data, could not write).  A volume starts as the image's
    # directory, owned by www-data.
    volumes:
      - nginx-run:/var/lib/nginx
    ports:
      - target: 3000
        published: ${WEBSTACK_PORT:-3000}
        mode: host
  collector:
    deploy:
      mode: global
      endpoint_mode: dnsrr
volumes:
  nginx-run: {}
"""


def config_text(env=None):
    """compose.yaml as the compose tool renders it (interpolated, with env
    added to this process's environment)."""
    if shutil.which("docker-compose"):
        cmd = ["docker-compose"]
    else:
        cmd = ["docker", "compose"]
    r = subprocess.run(cmd + ["-f", os.path.join(ROOT, "compose.yaml"),
                              "config"],
                       capture_output=True, text=True, check=True, cwd=ROOT,
                       env=dict(os.environ, **(env or {})))
    return r.stdout


def strip_for_swarm(text):
    """Drop the blocks Swarm does not take; see the module comment."""
    out = []
    section = None
    skip = None         # indent of the block being dropped
    for line in text.splitlines():
        body = line.lstrip(" ")
        indent = len(line) - len(body)
        if skip is not None:
            if body and (indent > skip
                         or (indent == skip and body.startswith("- "))):
                continue
            skip = None
        if body.startswith("version:") and indent == 0:
            continue
        if indent == 0:
            section = body.rstrip(":")
        key = body.split(":", 1)[0]
        drop = ((indent == 2 and section == "services"
                 and key.startswith(DROP_SERVICE_PREFIX))
                or (indent == 4 and section == "services"
                    and key in DROP_SERVICE_KEYS)
                or (indent == 4 and section == "networks"
                    and key in DROP_NETWORK_KEYS))
        if drop:
            skip = indent
            continue
        out.append(line)
    return 'version: "3.9"\n' + "\n".join(out) + "\n"


def limits(text):
    """{service: {"memory": ..., "pids": ...}} from the config's mem_limit
    and pids_limit lines."""
    out = {}
    section = service = None
    for line in text.splitlines():
        body = line.lstrip(" ")
        indent = len(line) - len(body)
        if indent == 0:
            section = body.rstrip(":")
        elif indent == 2 and section == "services":
            service = body.rstrip(":")
        elif indent == 4 and section == "services":
            key, _, value = body.partition(":")
            if key in ("mem_limit", "pids_limit"):
                out.setdefault(service, {})[
                    "memory" if key == "mem_limit" else "pids"] = \
                    value.strip()
    return out


def override_text(text):
    """SWARM_OVERRIDE plus each service's limits under deploy.resources
    (a second file merges by key, so they add to the same services)."""
    extra = ['version: "3.9"', "services:"]
    for service, lim in sorted(limits(text).items()):
        if service.startswith(DROP_SERVICE_PREFIX):
            continue
        extra += [f"  {service}:", "    deploy:", "      resources:",
                  "        limits:"]
        extra += [f"          {k}: {v}" for k, v in sorted(lim.items())]
    return SWARM_OVERRIDE, "\n".join(extra) + "\n"


def render(outdir, env=None):
    """Write outdir/stack.yaml, outdir/override.yaml and outdir/limits.yaml
    (compose.yaml interpolated with env added); return their paths."""
    text = config_text(env)
    paths = [os.path.join(outdir, n)
             for n in ("stack.yaml", "override.yaml", "limits.yaml")]
    for path, body in zip(paths, (strip_for_swarm(text),)
                          + override_text(text)):
        with open(path, "w") as f:
            f.write(body)
    return tuple(paths)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: swarm_stack.py OUTDIR")
    os.makedirs(sys.argv[1], exist_ok=True)
    s, o, lim = render(sys.argv[1])
    print(f"docker stack deploy --resolve-image never -c {s} -c {o} "
          f"-c {lim} webstack")
