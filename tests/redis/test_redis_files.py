#!/usr/bin/env python3
"""test_redis_files.py -- the shipped redis/ files keep their own rules: only
commented directives, the shared block identical in primary.conf and
replica.conf, nothing path-dependent that Redis applies while parsing,
no password anywhere, and an ACL template that renders and loads.

No network except one redis-server on 127.0.0.1:21000 (ACL load check).
"""
import os
import re
import shutil
import subprocess
import tempfile

from tap import Skip, Suite
from tier import REDIS_DIR, Conn, wait_for

PORT = 21000
t = Suite()


def read(name):
    with open(os.path.join(REDIS_DIR, name)) as f:
        return f.read()


def directives(text):
    """(line number, line) of every non-comment, non-blank line."""
    return [(i, ln) for i, ln in enumerate(text.splitlines(), 1)
            if ln.strip() and not ln.lstrip().startswith("#")]


@t.case
def every_directive_has_a_comment_above():
    for name in ("primary.conf", "replica.conf", "sentinel.conf"):
        lines = read(name).splitlines()
        for i, ln in directives(read(name)):
            above = lines[i - 2] if i >= 2 else ""
            assert above.startswith("#"), "%s:%d %r has no comment above" % (
                name, i, ln)
            assert "#" not in ln, "%s:%d: Redis does not allow a trailing " \
                "comment: %r" % (name, i, ln)


@t.case
def shared_block_identical_in_primary_and_replica():
    def shared(name):
        text = read(name)
        i = text.index("# --- shared with ")
        return text[text.index("\n", i):]
    assert shared("primary.conf") == shared("replica.conf"), \
        "the shared blocks differ: keep them identical"


@t.case
def no_parse_time_paths_includes_or_passwords():
    banned = {"dir", "logfile", "include", "requirepass", "masterauth",
              "user", "pidfile", "daemonize"}
    for name in ("primary.conf", "replica.conf", "sentinel.conf"):
        for i, ln in directives(read(name)):
            word = ln.split()[0].lower()
            assert word not in banned, "%s:%d sets %s" % (name, i, word)
            if name == "sentinel.conf":
                assert "auth-pass" not in ln, "%s:%d" % (name, i)


@t.case
def settings_we_rely_on_are_there():
    want = {
        "primary.conf": ["appendonly yes", "maxmemory-policy volatile-ttl",
                         "protected-mode yes", "masteruser replica-user",
                         "aclfile /data/users.acl", "loglevel notice"],
        "replica.conf": ["replicaof redis-primary 6379", "appendonly yes",
                         "masteruser replica-user"],
        "sentinel.conf": [
            "sentinel monitor @MASTER_NAME@ @PRIMARY_HOST@ @PRIMARY_PORT@ 2",
            "sentinel auth-user @MASTER_NAME@ sentinel-user",
            "sentinel resolve-hostnames yes",
            "sentinel announce-hostnames yes"],
    }
    for name, lines in want.items():
        have = [ln.strip() for _, ln in directives(read(name))]
        for w in lines:
            assert w in have, "%s lacks %r" % (name, w)
    for name in ("primary.conf", "replica.conf"):
        for bad in ("replica-read-only no", "protected-mode no",
                    "replica-serve-stale-data no"):
            assert bad not in read(name), "%s: %s" % (name, bad)
    assert not any(ln.startswith("replicaof")
                   for _, ln in directives(read("primary.conf")))


@t.case
def acl_template_renders_and_redis_loads_it():
    tmp = tempfile.mkdtemp(prefix="redis-config-")
    proc = None
    try:
        sec = os.path.join(tmp, "secrets")
        subprocess.run([os.path.join(REDIS_DIR, "secrets.sh"), "generate",
                        sec], check=True, capture_output=True, timeout=10)
        out = os.path.join(tmp, "users.acl")
        subprocess.run([os.path.join(REDIS_DIR, "acl.sh"),
                        os.path.join(REDIS_DIR, "users.acl.in"), sec, out],
                       check=True, capture_output=True, timeout=10)
        with open(out) as f:
            acl = f.read()
        users = [ln.split()[1] for ln in acl.splitlines()]
        assert users == ["default", "app", "replica-user",
                         "sentinel-user"], users
        assert "@" not in acl.replace("+@all", ""), "placeholder left"
        assert not re.search(r"\s>", acl), "plain-text password rule"
        assert os.stat(out).st_mode & 0o077 == 0
        proc = subprocess.Popen(
            ["redis-server", "--port", str(PORT), "--bind", "127.0.0.1",
             "--dir", tmp, "--logfile", os.path.join(tmp, "log"),
             "--aclfile", out, "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(os.path.join(sec, "admin")) as f:
            admin = f.read().strip()
        wait_for("redis-server with the rendered ACL", lambda: Conn(
            PORT, None, admin).cmd("PING") == "PONG", 5)
        with Conn(PORT, None, admin) as c:
            listed = c.cmd("ACL", "LIST")
        assert len(listed) == 4, listed
        app = [u for u in listed if u.startswith("user app ")][0]
        assert "~sess:*" in app and "+@all" not in app, app
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)


@t.case
def scripts_are_posix_sh():
    """The entrypoint, its role scripts and tools run under #!/bin/sh;
    the sourced libraries (no #!, not executable) parse as sh too."""
    run = ("entrypoint.sh", "role-primary.sh", "role-replica.sh",
           "role-sentinel.sh", "role-secrets.sh", "secrets.sh", "acl.sh")
    sourced = (os.path.join(REDIS_DIR, "entrypoint-lib.sh"),
               os.path.join(os.path.dirname(REDIS_DIR), "lib", "sh",
                            "wscommon.sh"))
    for path in [os.path.join(REDIS_DIR, n) for n in run] + list(sourced):
        name = os.path.basename(path)
        with open(path) as f:
            first = f.readline()
        if path in sourced:
            assert not first.startswith("#!"), name + " is sourced"
        else:
            assert os.access(path, os.X_OK), name + " is not executable"
            assert first == "#!/bin/sh\n", name
        for sh in ("dash", "sh"):
            if shutil.which(sh):
                r = subprocess.run([sh, "-n", path], capture_output=True,
                                   text=True, timeout=10)
                assert r.returncode == 0, "%s -n %s: %s" % (sh, name,
                                                            r.stderr)


@t.case
def no_secret_files_tracked_by_git():
    if not shutil.which("git") or not os.path.isdir(
            os.path.join(os.path.dirname(REDIS_DIR), ".git")):
        raise Skip("not a git checkout")
    r = subprocess.run(["git", "-C", os.path.dirname(REDIS_DIR), "ls-files",
                        "--", "redis"], capture_output=True, text=True,
                       timeout=10)
    for path in r.stdout.split():
        base = os.path.basename(path)
        assert base not in ("admin", "app", "replication", "sentinel",
                            "sentinel-admin", "users.acl") \
            and not base.endswith(".sha256"), \
            "secret-like file tracked: " + path


t.run()
