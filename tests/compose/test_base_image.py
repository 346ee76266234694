#!/usr/bin/env python3
"""test_base_image.py -- the offline base image and builds on top of it.

Proves the air-gapped path of lib/tools/base-image.sh on this machine's
Docker Engine: the script is idempotent, the image it provides is a slim
Debian bookworm, the cached tarball imports under another name, and a
multi-stage Dockerfile that installs packages from Debian's archive builds
with plain `docker build` and with docker-compose.  Skips (77) only when no
Docker engine is reachable.  Every image, container and network it creates
carries a random suffix and is removed at the end, even on failure.
"""
import os
import shutil
import subprocess
import tempfile
import uuid

from tap import Skip, Suite

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "lib", "tools", "base-image.sh")
BASE = "debian:bookworm-slim"
TAG = "webstack-test-" + uuid.uuid4().hex[:8]

DOCKERFILE = """\
FROM {base} AS build
RUN echo {mark} && apt-get update \\
 && apt-get install -y --no-install-recommends gcc libc6-dev \\
 && rm -rf /var/lib/apt/lists/*
RUN printf '#include <stdio.h>\\nint main(void) {{ puts("{mark}"); }}\\n' \\
      > /hello.c && gcc -O2 -o /hello /hello.c
FROM {base}
COPY --from=build /hello /usr/local/bin/hello
CMD ["hello"]
"""

t = Suite()


def sh(args, timeout=600, env=None, cwd=None):
    """Run a command, return CompletedProcess with text stdout/stderr."""
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run(args, capture_output=True, text=True,
                          timeout=timeout, env=e, cwd=cwd)


def setup():
    if shutil.which("docker") is None:
        raise Skip("no docker CLI")
    if sh(["docker", "info"], timeout=30).returncode != 0:
        raise Skip("no Docker engine reachable")
    ctx = {"dir": tempfile.mkdtemp(prefix="test_base_image."),
           "images": []}
    # Two markers, so that the compose build cannot reuse the plain
    # build's layers: each one really runs apt-get against the archive.
    for name, mark in (("Dockerfile", TAG), ("Dockerfile.compose",
                                             TAG + "-compose")):
        with open(os.path.join(ctx["dir"], name), "w") as f:
            f.write(DOCKERFILE.format(base=BASE, mark=mark))
    return ctx


def teardown(ctx):
    if ctx is None:
        return
    sh(["docker-compose", "-p", TAG, "down", "--rmi", "all",
        "--remove-orphans"], cwd=ctx["dir"], timeout=120)
    for img in ctx["images"]:
        sh(["docker", "rmi", "-f", img], timeout=120)
    shutil.rmtree(ctx["dir"], ignore_errors=True)


@t.case
def script_provides_image(ctx):
    r = sh([SCRIPT])
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr[-500:]}"
    assert sh(["docker", "image", "inspect", BASE]).returncode == 0, \
        f"{BASE} missing after the script"


@t.case
def script_is_idempotent(ctx):
    r = sh([SCRIPT], timeout=60)
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr[-500:]}"
    assert "nothing to do" in r.stderr, f"second run did work: {r.stderr}"


@t.case
def image_is_slim_bookworm(ctx):
    probe = ("set -e; . /etc/os-release; echo $VERSION_CODENAME; "
             "find /usr/share/doc -type f ! -name copyright | wc -l; "
             "find /usr/share/man /usr/share/info -type f | wc -l; "
             "ls /var/lib/apt/lists | grep -vc -e partial -e lock || true; "
             "test -x /usr/sbin/policy-rc.d && echo policy; "
             "grep -c '^path-exclude' /etc/dpkg/dpkg.cfg.d/docker")
    r = sh(["docker", "run", "--rm", BASE, "sh", "-c", probe], timeout=60)
    assert r.returncode == 0, r.stderr
    out = r.stdout.split()
    assert out == ["bookworm", "0", "0", "0", "policy", "7"], \
        f"probe said {out}"
    size = int(sh(["docker", "image", "inspect", "-f", "{{.Size}}",
                   BASE]).stdout)
    # The official bookworm-slim is about 75 MB.
    assert size < 90e6, f"{BASE} is {size / 1e6:.0f} MB"


@t.case
def cached_tarball_imports(ctx):
    name = f"{TAG}-base:latest"
    ctx["images"].append(name)
    r = sh([SCRIPT, "--no-pull"], env={"BASE_IMAGE": name})
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr[-500:]}"
    assert "using cached" in r.stderr or "rootfs built" in r.stderr, r.stderr
    r = sh(["docker", "run", "--rm", name, "cat", "/etc/debian_version"],
           timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("12."), \
        f"{r.stdout!r} {r.stderr!r}"
    cmd = sh(["docker", "image", "inspect", "-f", "{{json .Config.Cmd}}",
              name]).stdout.strip()
    assert cmd == '["bash"]', f"CMD is {cmd}"


@t.case
def multistage_apt_docker_build(ctx):
    img = f"{TAG}:plain"
    ctx["images"].append(img)
    r = sh(["docker", "build", "-q", "-t", img, ctx["dir"]])
    assert r.returncode == 0, r.stderr[-800:]
    r = sh(["docker", "run", "--rm", img], timeout=60)
    assert r.stdout.strip() == TAG, f"{r.stdout!r} {r.stderr!r}"


@t.case
def multistage_apt_compose_build(ctx):
    if shutil.which("docker-compose") is None:
        raise Skip("no docker-compose v1 here")
    img = f"{TAG}:compose"
    ctx["images"].append(img)
    with open(os.path.join(ctx["dir"], "compose.yaml"), "w") as f:
        f.write("services:\n  hello:\n    build:\n      context: .\n"
                "      dockerfile: Dockerfile.compose\n"
                "      network: ${BUILD_NETWORK:-default}\n"
                f"    image: {img}\n")
    r = sh(["docker-compose", "-p", TAG, "build"], cwd=ctx["dir"])
    assert r.returncode == 0, (r.stdout + r.stderr)[-800:]
    r = sh(["docker-compose", "-p", TAG, "run", "--rm", "hello"],
           cwd=ctx["dir"], timeout=120)
    assert TAG + "-compose" in r.stdout, \
        f"{r.stdout!r} {r.stderr[-300:]!r}"


t.run(setup, teardown)
