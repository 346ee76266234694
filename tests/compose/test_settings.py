#!/usr/bin/env python3
"""test_settings.py -- the settings compose.yaml takes from the user's
environment reach the services, with their documented defaults.

Renders compose.yaml with the compose tool (`config`, no containers) with
and without the variables set: SESSION_COOKIE_SECURE for the app (a
Compose setting for stacks served through a TLS proxy, docs/OPERATIONS.md),
the per-client limits NGINX_LIMIT_* for nginx (docs/NGINX.md), and the
log rotation settings LOG_ROTATE_* for nginx, the app and every Redis
node, Sentinels included (docs/OPERATIONS.md, "Log rotation").  Skips
(77) only when no compose tool is installed.
"""
import os
import shutil
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
import swarm_stack
from tap import Skip, Suite

VARS = ("SESSION_COOKIE_SECURE", "NGINX_LIMIT_REQ_RATE",
        "NGINX_LIMIT_REQ_BURST", "NGINX_LIMIT_CONN")
ROTATE = ("LOG_ROTATE_SIZE", "LOG_ROTATE_KEEP", "LOG_ROTATE_INTERVAL")
# The writers whose containers rotate their logs.
ROTATING = ("nginx", "fcgi-app", "redis-primary", "redis-replica-1",
            "redis-replica-2")
SENTINELS = ("redis-sentinel-1", "redis-sentinel-2", "redis-sentinel-3")
t = Suite()


def setup():
    if not (shutil.which("docker-compose") or shutil.which("docker")):
        raise Skip("no compose tool installed")
    for v in VARS + ROTATE:        # the defaults must not come from here
        os.environ.pop(v, None)


def service_env(text, service):
    """The environment block of service in `compose config` output, as a
    dict (both tools print it as a mapping)."""
    out, inside, env = {}, False, False
    for line in text.splitlines():
        if line.startswith("  ") and not line.startswith("   "):
            inside = line.strip() == service + ":"
            env = False
            continue
        if not inside:
            continue
        if line.startswith("    ") and not line.startswith("     "):
            env = line.strip() == "environment:"
            continue
        if env and line.startswith("      ") and ":" in line:
            k, v = line.strip().split(":", 1)
            out[k] = v.strip().strip("'\"")
    return out


@t.case
def defaults_reach_the_services():
    text = swarm_stack.config_text()
    app, nginx = service_env(text, "fcgi-app"), service_env(text, "nginx")
    assert app.get("SESSION_COOKIE_SECURE") == "0", app
    assert nginx.get("NGINX_LIMIT_REQ_RATE") == "50", nginx
    assert nginx.get("NGINX_LIMIT_REQ_BURST") == "100", nginx
    assert nginx.get("NGINX_LIMIT_CONN") == "50", nginx


@t.case
def user_values_reach_the_services():
    text = swarm_stack.config_text({"SESSION_COOKIE_SECURE": "1",
                                    "NGINX_LIMIT_REQ_RATE": "7",
                                    "NGINX_LIMIT_REQ_BURST": "8",
                                    "NGINX_LIMIT_CONN": "9"})
    app, nginx = service_env(text, "fcgi-app"), service_env(text, "nginx")
    assert app.get("SESSION_COOKIE_SECURE") == "1", app
    limits = tuple(nginx.get(k) for k in VARS[1:])
    assert limits == ("7", "8", "9"), nginx


def sentinel_config_text(env):
    """compose.yaml + compose.sentinel.yaml as the compose tool renders
    them (swarm_stack.config_text renders compose.yaml alone)."""
    cmd = (["docker-compose"] if shutil.which("docker-compose")
           else ["docker", "compose"])
    for f in ("compose.yaml", "compose.sentinel.yaml"):
        cmd += ["-f", os.path.join(swarm_stack.ROOT, f)]
    return subprocess.run(cmd + ["config"], capture_output=True, text=True,
                          check=True, cwd=swarm_stack.ROOT,
                          env=dict(os.environ, **env)).stdout


def rotation_of(text, services):
    """{service: (LOG_ROTATE_SIZE, _KEEP, _INTERVAL)} from config output."""
    return {svc: tuple(service_env(text, svc).get(k) for k in ROTATE)
            for svc in services}


@t.case
def log_rotation_reaches_every_writer():
    for env, want in (({}, ("52428800", "5", "5")),
                      ({"LOG_ROTATE_SIZE": "65536", "LOG_ROTATE_KEEP": "3",
                        "LOG_ROTATE_INTERVAL": "1"}, ("65536", "3", "1"))):
        got = rotation_of(swarm_stack.config_text(env), ROTATING)
        got.update(rotation_of(sentinel_config_text(env), SENTINELS))
        bad = {k: v for k, v in got.items() if v != want}
        assert not bad, f"want {want}, got {bad}"


t.run(setup)
