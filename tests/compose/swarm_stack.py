#!/usr/bin/env python3
"""swarm_stack.py -- render compose.yaml for `docker stack deploy`.

The docker CLI's stack loader refuses compose.yaml as it is
("services.fcgi-app.depends_on must be a list": it only knows the short
depends_on form, which cannot say service_healthy) and rejects dns_opt.
This renders, from compose.yaml itself (through `docker-compose config` or
`docker compose config`, so interpolation and anchors are resolved):

  stack.yaml     compose.yaml minus what Swarm does not take: depends_on,
                 build, restart, network_mode, profiles (and the profiled
                 sentinel services), ports, dns_opt, bridge driver_opts;
  override.yaml  what Swarm needs instead (SWARM_OVERRIDE below).

Usage:
  tests/compose/swarm_stack.py OUTDIR
  docker stack deploy --resolve-image never \\
      -c OUTDIR/stack.yaml -c OUTDIR/override.yaml webstack

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
                     "profiles", "ports", "dns_opt"}
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
    deploy:
      replicas: 2
      endpoint_mode: dnsrr
  nginx:
    deploy:
      endpoint_mode: dnsrr
    ports:
      - target: 3000
        published: ${WEBSTACK_PORT:-3000}
        mode: host
  collector:
    deploy:
      mode: global
      endpoint_mode: dnsrr
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


def render(outdir, env=None):
    """Write outdir/stack.yaml and outdir/override.yaml (compose.yaml
    interpolated with env added); return paths."""
    stack = os.path.join(outdir, "stack.yaml")
    override = os.path.join(outdir, "override.yaml")
    with open(stack, "w") as f:
        f.write(strip_for_swarm(config_text(env)))
    with open(override, "w") as f:
        f.write(SWARM_OVERRIDE)
    return stack, override


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: swarm_stack.py OUTDIR")
    os.makedirs(sys.argv[1], exist_ok=True)
    s, o = render(sys.argv[1])
    print(f"docker stack deploy --resolve-image never -c {s} -c {o} "
          f"webstack")
