#!/usr/bin/env python3
"""test_packages.py -- tests/packages, the first step of `make test`.

Each case runs the real script from a copy of the tree whose .ci/packages
names either packages this machine has (bash, coreutils) or one that no
archive has, and checks what a newcomer would see: silence when nothing
is missing; the missing names and the exact command, and no install,
when the caller is not root, not on Debian 12, or asks only to --check.
The root-on-Debian-12 path that really installs is proven by
tests/compose/test_fresh_machine.py in a clean debian:bookworm-slim
container.
"""
import os
import pwd
import shutil
import subprocess
import tempfile

from tap import Skip, Suite

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "tests", "packages")
MISSING = "ws-no-such-package-x"
t = Suite()


def tree(packages):
    """A temporary copy of tests/packages with its own .ci/packages."""
    d = tempfile.mkdtemp(prefix="ws-packages-")
    os.makedirs(os.path.join(d, "tests"))
    os.makedirs(os.path.join(d, ".ci"))
    shutil.copy(SCRIPT, os.path.join(d, "tests", "packages"))
    with open(os.path.join(d, ".ci", "packages"), "w") as f:
        f.write("# a comment line\n" + "\n".join(packages) + "\n")
    os.chmod(d, 0o755)
    for sub in ("tests", ".ci"):
        os.chmod(os.path.join(d, sub), 0o755)
    return d


def run(d, *args, user=None, os_release=None, path=None, bare_sbin=False):
    """Run the copy; as `user` (by setpriv) and/or, in a private mount
    namespace, with /etc/os-release replaced and (bare_sbin) an empty
    /usr/sbin, so that no policy-rc.d is there.  (status, output)."""
    argv = [os.path.join(d, "tests", "packages"), *args]
    if user is not None:
        pw = pwd.getpwnam(user)
        argv = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}",
                "--clear-groups", *argv]
    if os_release is not None:
        fake = os.path.join(d, "os-release")
        with open(fake, "w") as f:
            f.write(os_release)
        script = 'mount --bind "$0" /etc/os-release && exec "$@"'
        if bare_sbin:
            script = ('mount -t tmpfs ws-sbin /usr/sbin && '
                      'mount --bind "$0" /etc/os-release || exit 99; "$@"; '
                      'st=$?; [ -z "$(ls -A /usr/sbin)" ] || '
                      'echo "policy-rc.d left behind"; exit $st')
        argv = ["unshare", "-m", "sh", "-c", script, fake, *argv]
    env = dict(os.environ)
    if path is not None:
        env["PATH"] = path + os.pathsep + env["PATH"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                       env=env)
    return p.returncode, p.stderr + p.stdout


def command_line(missing):
    return ("apt-get update && apt-get install -y --no-install-recommends "
            + " ".join(missing))


def setup():
    if os.geteuid() != 0:
        raise Skip("needs root (setpriv, a private mount namespace)")
    for tool in ("dpkg-query", "setpriv", "unshare"):
        if shutil.which(tool) is None:
            raise Skip(f"{tool} not found")


@t.case
def nothing_missing_says_nothing():
    d = tree(["bash", "coreutils"])
    try:
        st, out = run(d)
        assert (st, out) == (0, ""), (st, out)
    finally:
        shutil.rmtree(d)


@t.case
def not_root_names_the_command_and_installs_nothing():
    d = tree(["bash", MISSING])
    try:
        st, out = run(d, user="nobody")
        assert st == 1, (st, out)
        assert f"missing: {MISSING}" in out, out
        assert "not root" in out, out
        assert f"sudo sh -c '{command_line([MISSING])}'" in out, out
        assert "installing" not in out, out
    finally:
        shutil.rmtree(d)


@t.case
def not_debian_12_names_the_command_and_installs_nothing():
    d = tree([MISSING, "bash", "ws-another-missing"])
    try:
        st, out = run(d, os_release='ID=debian\nVERSION_ID="13"\n'
                      'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\n')
        assert st == 1, (st, out)
        assert "not Debian 12 (Debian GNU/Linux 13 (trixie))" in out, out
        assert command_line([MISSING, "ws-another-missing"]) in out, out
        assert "installing" not in out, out
        st, out = run(d, os_release='ID=ubuntu\nVERSION_ID="24.04"\n')
        assert st == 1 and "not Debian 12" in out, (st, out)
    finally:
        shutil.rmtree(d)


@t.case
def check_only_names_the_command_and_installs_nothing():
    d = tree([MISSING])
    try:
        st, out = run(d, "--check")
        assert st == 1, (st, out)
        assert f"run as root: {command_line([MISSING])}" in out, out
        assert "installing" not in out, out
    finally:
        shutil.rmtree(d)


FAKE_APT = """#!/bin/sh
# Records each call and the policy-rc.d in force; the install fails.
echo "$*" >> "$0.calls"
if [ "$1" = install ]; then
    cat /usr/sbin/policy-rc.d > "$0.rcd" 2>/dev/null
    for s in nginx redis-server php8.2-fpm rsyslog docker; do
        /usr/sbin/policy-rc.d "$s" start; echo "$s $?"
    done >> "$0.rcd"
    exit 100
fi
"""


@t.case
def root_on_debian_12_says_so_then_installs():
    """As root on Debian 12 it names what is missing, says it installs it,
    runs apt-get update and apt-get install (here a stand-in for apt-get
    first on PATH: the real one is run by tests/compose/
    test_fresh_machine.py), with package scripts barred from starting the
    servers the tests start but not Docker; apt's failure is its own, and
    the policy-rc.d it wrote is gone afterwards.  /usr/sbin is an empty
    tmpfs in the script's own mount namespace, as on a machine without a
    policy-rc.d; the script leaves it empty."""
    d = tree([MISSING, "bash"])
    bin_dir = os.path.join(d, "bin")
    os.makedirs(bin_dir)
    apt = os.path.join(bin_dir, "apt-get")
    with open(apt, "w") as f:
        f.write(FAKE_APT)
    os.chmod(apt, 0o755)
    try:
        st, out = run(d, os_release='ID=debian\nVERSION_ID="12"\n',
                      path=bin_dir, bare_sbin=True)
        assert st == 100, (st, out)
        assert out.index(f"missing: {MISSING}") < out.index(
            f"installing them now (as root): {command_line([MISSING])}"), out
        with open(apt + ".calls") as f:
            calls = f.read().splitlines()
        assert calls == ["update -q", "install -y -q --no-install-recommends "
                         + MISSING], calls
        with open(apt + ".rcd") as f:
            seen = f.read()
        assert seen.startswith("#!/bin/sh\n# Written by tests/packages"), seen
        assert seen.endswith("nginx 101\nredis-server 101\nphp8.2-fpm 101\n"
                             "rsyslog 101\ndocker 0\n"), seen
        assert "policy-rc.d left behind" not in out, out
    finally:
        shutil.rmtree(d)


t.run(setup)
