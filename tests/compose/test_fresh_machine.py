#!/usr/bin/env python3
"""test_fresh_machine.py -- the README's test command on a fresh Debian 12.

A newcomer's machine, as a container: a clean debian:bookworm-slim (the
image `make base-image` provides offline) with nothing of the project's
installed, the repository copied in (every file git tracks or would
track, as they are in this checkout), and the README's steps run as
root: `apt-get install make`, then `make test` for the unit and pool
tiers.  tests/packages must say first which packages it installs,
install them from Debian's archive (through the engine's default bridge,
which reaches it), and the run must pass.  A second `make test` finds
nothing to install.

The container gets CAP_SYS_ADMIN (on top of Docker's default
capabilities) because some unit and pool cases make a private mount
namespace, and IPv6 on, as a Debian machine has ::1; it has its own
network namespace, so its tests' ports never meet the host's.  It is removed at the end, even on failure.  Skips (77)
only when no Docker engine is reachable.  Takes about 4 minutes here
(about two of them apt; 227 s for the install and the two tiers).
"""
import os
import re
import subprocess
import uuid

import composelib
from composelib import ROOT, log, run
from tap import Suite, teardown_guard

BASE = "debian:bookworm-slim"
NAME = "ws-fresh-" + uuid.uuid4().hex[:8]
TIERS = "unit pool"
CLOSING = re.compile(r"^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$",
                     re.M)
t = Suite()


def in_box(script, timeout):
    """Run script as root in the container: (exit status, output)."""
    r = subprocess.run(["docker", "exec", NAME, "sh", "-c", script],
                       capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout + r.stderr


def setup():
    composelib.engine_or_skip()
    if run(["docker", "image", "inspect", BASE], check=False,
           timeout=30).returncode != 0:
        log(f"{BASE} missing: make base-image")
        run([composelib.BASE_IMAGE_SCRIPT], timeout=1200)
    # Docker leaves IPv6 off in a container; a Debian machine has ::1.
    run(["docker", "run", "-d", "--name", NAME, "--cap-add", "SYS_ADMIN",
         "--sysctl", "net.ipv6.conf.lo.disable_ipv6=0",
         "--sysctl", "net.ipv6.conf.all.disable_ipv6=0",
         BASE, "sleep", "infinity"], timeout=60)
    # The checkout as git sees it: tracked files and new ones not ignored
    # (so build outputs and tests/.out stay behind), as a clone would be.
    files = run(["git", "-C", ROOT, "ls-files", "-z", "--cached",
                 "--others", "--exclude-standard"]).stdout
    names = [f for f in files.split("\0")
             if f and os.path.lexists(os.path.join(ROOT, f))]
    tar = subprocess.Popen(["tar", "-C", ROOT, "--null", "-T", "-", "-cf",
                            "-"], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE)
    box = subprocess.Popen(["docker", "exec", "-i", NAME, "sh", "-c",
                            "mkdir /src && tar -xf - -C /src"],
                           stdin=tar.stdout)
    tar.stdout.close()
    tar.communicate(("\0".join(names) + "\0").encode())
    if box.wait(timeout=120) != 0 or tar.returncode != 0:
        raise RuntimeError("copying the checkout into the container failed")
    return {}


def teardown(_ctx):
    run(["docker", "rm", "-f", NAME], check=False, timeout=60)


@t.case
def nothing_of_the_project_is_installed():
    st, out = in_box("command -v make gcc nginx redis-server python3; "
                     "dpkg-query -W libfcgi-dev 2>&1", 60)
    assert out.strip().endswith("no packages found matching libfcgi-dev"), \
        out
    assert not re.search(r"^/", out, re.M), f"already there: {out}"


@t.case
def readme_test_command_installs_then_passes():
    st, out = in_box("apt-get update -q && apt-get install -y -q make", 600)
    assert st == 0, out[-2000:]
    st, out = in_box(f'cd /src && make test TIERS="{TIERS}"', 1500)
    tail = out[-3000:]
    said = out.find("make test: installing them now (as root)")
    assert said >= 0, tail
    assert out.find("packages from .ci/packages are missing:") < said, \
        out[:2000]
    assert out.find("make test: installed ") > said, tail
    closing = CLOSING.findall(out)
    assert closing, tail
    passed, failed, skipped = (int(x or 0) for x in closing[-1])
    log(f"in {BASE}: {passed} passed, {failed} failed, {skipped} skipped")
    for line in re.findall(r"^(?:skip|not ok) .*$", out, re.M):
        log(line)
    assert st == 0 and failed == 0 and passed > 0, tail


@t.case
def a_second_run_installs_nothing():
    st, out = in_box("cd /src && tests/packages", 120)
    assert (st, out) == (0, ""), (st, out)


teardown_guard(teardown, 30)
t.run(setup, teardown)
