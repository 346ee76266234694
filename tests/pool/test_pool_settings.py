#!/usr/bin/env python3
"""test_pool_settings.py -- fcgi-app's settings: strict parsing, errors that name
the setting (exit 2), the secret rules (required, at least 32 bytes,
*_FILE, APP_DEV), the listen setting, --config-table and --version.
Ports 23020-23029."""
import os
import subprocess
import time

import poollib as P
from tap import Suite

REDIS_PORT = 23020
t = Suite()


def setup():
    return P.setup(REDIS_PORT)


def run_app(env_extra, args=(), timeout=5):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "SESSION_SECRET": P.SECRET, "APP_LISTEN": "127.0.0.1:23029",
           "REDIS_PORT": str(REDIS_PORT), "APP_WORKERS": "1"}
    env.update(env_extra)
    env = {k: v for k, v in env.items() if v is not None}
    return subprocess.run([P.APP_BIN, *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


BAD = [
    ("APP_WORKERS", "abc", "not an integer (1..256)"),
    ("APP_WORKERS", "0", "out of range (1..256)"),
    ("APP_WORKERS", "257", "out of range"),
    ("APP_WORKERS", "4x", "not an integer"),
    ("APP_THREADS", " 4", "not an integer"),
    ("APP_THREADS", "+4", "not an integer"),
    ("REDIS_PORT", "70000", "out of range (1..65535)"),
    ("REDIS_PORT", "-1", "out of range"),
    ("REDIS_TIMEOUT_MS", "99999999999999999999999", "not an integer"),
    ("REDIS_DB", "0x1", "not an integer"),
    ("APP_MAX_REQUESTS", "1e3", "not an integer"),
    ("APP_DRAIN_TIMEOUT_MS", "60000", "out of range"),
    ("SESSION_MAX_AGE_S", "0", "out of range"),
    ("SESSION_COOKIE_SECURE", "maybe", "not a boolean"),
    ("APP_DEV", "yes please", "not a boolean"),
    ("LOG_LEVEL", "loud", "not one of"),
    ("SESSION_COOKIE_NAME", "a b", "not a cookie name"),
    ("REDIS_HOST", "a\tb", "control bytes"),
]


@t.case
def bad_values_stop_startup_naming_the_setting():
    for name, value, why in BAD:
        p = run_app({name: value})
        assert p.returncode == 2, (name, value, p.returncode, p.stderr)
        want = f'fcgi-app: config: {name}'
        assert p.stderr.startswith(want), (name, value, p.stderr)
        assert why in p.stderr, (name, value, p.stderr)


@t.case
def missing_secret_refused_unless_app_dev(env):
    p = run_app({"SESSION_SECRET": None})
    assert p.returncode == 2, p
    assert "SESSION_SECRET" in p.stderr and "APP_DEV" in p.stderr, p.stderr
    a = env.app("127.0.0.1:23021", REDIS_PORT,
                {"SESSION_SECRET": None, "APP_DEV": "1",
                 "APP_WORKERS": "1"}, name="dev")
    r = a.get("/")
    assert r.status == 200 and P.cookie_of(r), r
    assert "RANDOM per-boot secret" in a.output(), a.output()[-800:]
    assert "SESSION_SECRET=(random per boot)" in a.output()


# 32 bytes, the shortest secret accepted, and one byte less.
SECRET_32 = "pool-secret-0123456789abcdef-012"
SECRET_31 = SECRET_32[:-1]


@t.case
def short_secrets_stop_startup_naming_the_setting(env):
    assert len(SECRET_32) == 32
    for name in ("SESSION_SECRET", "SESSION_SECRET_PREVIOUS"):
        for value in (SECRET_31, "x"):
            p = run_app({name: value})
            assert p.returncode == 2, (name, value, p.returncode, p.stderr)
            want = (f"fcgi-app: config: {name}: too short "
                    f"({len(value)} bytes, at least 32 required")
            assert p.stderr.startswith(want), (name, p.stderr)
        assert SECRET_31 not in p.stderr, "secret shown"
    # from a file: the trailing newline does not count
    f = os.path.join(env.tmp, "short-secret")
    with open(f, "w") as fh:
        fh.write(SECRET_31 + "\n")
    p = run_app({"SESSION_SECRET": None, "SESSION_SECRET_FILE": f})
    assert p.returncode == 2, p
    assert p.stderr.startswith(
        "fcgi-app: config: SESSION_SECRET: too short (31 bytes"), p.stderr
    p = run_app({"SESSION_SECRET_PREVIOUS_FILE": f})
    assert p.returncode == 2, p
    assert p.stderr.startswith(
        "fcgi-app: config: SESSION_SECRET_PREVIOUS: too short"), p.stderr
    # APP_DEV=1 does not excuse a short secret (it only fills a missing one)
    p = run_app({"SESSION_SECRET": SECRET_31, "APP_DEV": "1"})
    assert p.returncode == 2 and "too short" in p.stderr, p.stderr
    # exactly 32 bytes, current and previous: serves and signs with it
    a = env.app("127.0.0.1:23025", REDIS_PORT,
                {"SESSION_SECRET": SECRET_32,
                 "SESSION_SECRET_PREVIOUS": SECRET_32[::-1],
                 "APP_WORKERS": "1"}, name="secret32")
    c = P.cookie_of(a.get("/"))
    assert c == P.sign_cookie(P.sid_of(c), secret=SECRET_32), c


@t.case
def secret_files_work_and_conflicts_are_errors(env):
    f = os.path.join(env.tmp, "secret")
    with open(f, "w") as fh:
        fh.write("file-secret-0123456789abcdef-0123\n")
    a = env.app("127.0.0.1:23022", REDIS_PORT,
                {"SESSION_SECRET": None, "SESSION_SECRET_FILE": f,
                 "APP_WORKERS": "1"}, name="filesecret")
    c = P.cookie_of(a.get("/"))
    assert c == P.sign_cookie(P.sid_of(c),
                              secret="file-secret-0123456789abcdef-0123"), \
        "cookie not signed with the file's secret (newline stripped)"
    assert "file-secret-0123456789abcdef" not in a.output(), "secret logged"
    p = run_app({"SESSION_SECRET_FILE": f})
    assert p.returncode == 2 and "both set" in p.stderr, p.stderr
    p = run_app({"SESSION_SECRET": None,
                 "SESSION_SECRET_FILE": f + ".missing"})
    assert p.returncode == 2, p
    assert "SESSION_SECRET_FILE" in p.stderr, p.stderr


@t.case
def effective_config_logged_once_with_secrets_redacted(env):
    a = env.app("127.0.0.1:23023", REDIS_PORT,
                {"SESSION_SECRET": "sekrit-value-1-0123456789abcdef-01",
                 "REDIS_PASSWORD": P.REDIS_PASSWORD, "APP_WORKERS": "1"},
                name="redact")
    a.get("/")
    out = a.output()
    lines = [ln for ln in out.splitlines() if "starting:" in ln]
    assert len(lines) == 1, lines
    assert "REDIS_PORT=23020" in lines[0] and "APP_WORKERS=1" in lines[0]
    assert "SESSION_SECRET=(set)" in lines[0], lines[0]
    assert "REDIS_PASSWORD=(set)" in lines[0], lines[0]
    assert "sekrit-value-1" not in out and P.REDIS_PASSWORD not in out


@t.case
def listen_errors_name_the_setting(env):
    for spec in ["nonsense", "127.0.0.1:", "127.0.0.1:99999", "::1:9000",
                 "127.0.0.1:80x", "unix:relative.sock", ":9000"]:
        p = run_app({"APP_LISTEN": spec})
        assert p.returncode == 2, (spec, p)
        want = f'fcgi-app: config: APP_LISTEN="{spec}": '
        assert any(ln.startswith(want) for ln in p.stderr.splitlines()), \
            (spec, p.stderr)
    # port in use: a clear error, not a hang or a crash
    busy = env.app("127.0.0.1:23024", REDIS_PORT, {"APP_WORKERS": "1"},
                   name="busy")
    t0 = time.monotonic()
    p = run_app({"APP_LISTEN": "127.0.0.1:23024"})
    assert p.returncode == 1, p
    assert 'APP_LISTEN="127.0.0.1:23024": bind() failed: Address already ' \
           'in use' in p.stderr, p.stderr
    assert time.monotonic() - t0 < 2
    assert busy.healthy()


@t.case
def config_table_and_version():
    p = run_app({}, ["--config-table"])
    assert p.returncode == 0, p
    rows = [ln for ln in p.stdout.splitlines() if ln.startswith("| `")]
    names = {r.split("`")[1] for r in rows}
    for want in ["REDIS_HOST", "REDIS_PORT", "REDIS_DB", "REDIS_PASSWORD",
                 "REDIS_USERNAME", "SESSION_SECRET",
                 "SESSION_SECRET_PREVIOUS", "APP_DEV", "APP_LISTEN",
                 "APP_WORKERS", "APP_THREADS", "APP_MAX_REQUESTS",
                 "APP_DRAIN_TIMEOUT_MS", "APP_BODY_LIMIT",
                 "REDIS_CONNECT_TIMEOUT_MS", "REDIS_TIMEOUT_MS",
                 "SESSION_COOKIE_NAME", "SESSION_PREFIX",
                 "SESSION_MAX_AGE_S", "SESSION_FRESH_TTL_S",
                 "SESSION_COOKIE_SECURE", "LOG_DIR", "LOG_LEVEL",
                 "APP_HOSTNAME"]:
        assert want in names, f"{want} missing from --config-table"
    for r in rows:
        assert r.count("|") == 6, f"malformed row: {r}"
    p = run_app({}, ["--version"])
    assert p.returncode == 0 and p.stdout.startswith("fcgi-app "), p
    p = run_app({}, ["--bogus"])
    assert p.returncode == 2 and "usage" in p.stderr, p


t.run(setup, lambda env: env and env.close())
