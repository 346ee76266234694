#!/usr/bin/env python3
"""test_hardening.py -- the built programs carry build.mk's hardening.

For fcgi-app/fcgi-app and collector/collector (or the ELF files named on
the command line), readelf must show:

  pie       ELF type DYN with DT_FLAGS_1 PIE           (-fPIE -pie)
  bind_now  DT_FLAGS BIND_NOW or DT_FLAGS_1 NOW        (-Wl,-z,now)
  relro     a GNU_RELRO program header                 (-Wl,-z,relro)
  canary    __stack_chk_fail imported                  (-fstack-protector-strong)
  fortify   glibc's __*_chk functions imported         (-D_FORTIFY_SOURCE=2)

Each case line says what was found.  `fortify` is skipped for a binary
built with ASan, MSan, TSan or HWASan (its runtime's __*_init is
imported): build.mk leaves _FORTIFY_SOURCE out there on purpose, and
tests/run accepts that skip under SANITIZER.

The last cases keep the checker honest: a small C program with a stack
buffer, snprintf and memcpy is compiled in a temporary directory twice,
once with build.mk's own flags (every check must pass) and once with
hardening turned off (-no-pie, no canaries, no FORTIFY, no RELRO, lazy
binding: every check must fail).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PROGRAMS = ["fcgi-app/fcgi-app", "collector/collector"]
CHECKS = ["pie", "bind_now", "relro", "canary", "fortify"]
SANITIZER_INITS = ("__asan_init", "__msan_init", "__tsan_init",
                   "__hwasan_init")

SAMPLE = r"""
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    char buf[64];

    /* never run: only compiled, so the copy's length may be anything */
    memcpy(buf, argv[0], strlen(argv[0]));
    snprintf(buf + 8, sizeof(buf) - 8, "%s:%d", argv[0], argc);
    puts(buf);
    return argc > 1;
}
"""
UNHARDENED = ["-O2", "-no-pie", "-fno-PIE", "-fno-stack-protector",
              "-U_FORTIFY_SOURCE", "-Wl,-z,norelro", "-Wl,-z,lazy"]

failed = 0
passed = 0
skipped = 0


def report(kind, what):
    global failed, passed, skipped
    if kind == "ok":
        passed += 1
    elif kind == "skip":
        skipped += 1
    else:
        failed += 1
    print(f"{kind} - {what}", flush=True)


def readelf(path, *opts):
    p = subprocess.run(["readelf", "-W", *opts, path], capture_output=True,
                       text=True)
    if p.returncode != 0:
        raise RuntimeError(f"readelf {' '.join(opts)} {path}: "
                           f"{p.stderr.strip()}")
    return p.stdout


def inspect(path):
    """Return {check: (passed, what was found)} plus the sanitizer seen."""
    header = readelf(path, "-h")
    m = re.search(r"^\s*Type:\s+(\S+)", header, re.M)
    etype = m.group(1) if m else "?"
    dynamic = readelf(path, "-d")
    flags = flags_1 = ""
    for line in dynamic.splitlines():
        m = re.search(r"\((FLAGS|FLAGS_1)\)\s+(?:Flags:)?\s*(.*)$", line)
        if m and m.group(1) == "FLAGS":
            flags = m.group(2).strip()
        elif m:
            flags_1 = m.group(2).strip()
    segments = readelf(path, "-l")
    relro = re.search(r"^\s*GNU_RELRO\s", segments, re.M) is not None
    syms = set()
    for line in readelf(path, "--dyn-syms").splitlines():
        f = line.split()
        if len(f) >= 8 and f[0].rstrip(":").isdigit():
            syms.add(f[7].split("@")[0])
    chk = sorted(s for s in syms
                 if re.fullmatch(r"__\w+_chk", s) and s != "__stack_chk_fail")
    san = next((s for s in SANITIZER_INITS if s in syms), None)

    found = {
        "pie": (etype == "DYN" and "PIE" in flags_1.split(),
                f"ELF type {etype}, FLAGS_1 {flags_1 or '(none)'}"),
        "bind_now": ("BIND_NOW" in flags.split()
                     or "NOW" in flags_1.split(),
                     f"FLAGS {flags or '(none)'}, "
                     f"FLAGS_1 {flags_1 or '(none)'}"),
        "relro": (relro, "GNU_RELRO segment" if relro
                  else "no GNU_RELRO segment"),
        "canary": ("__stack_chk_fail" in syms,
                   "imports __stack_chk_fail" if "__stack_chk_fail" in syms
                   else "no __stack_chk_fail"),
        "fortify": (bool(chk), f"{len(chk)} fortified: {' '.join(chk)}"
                    if chk else "no __*_chk import"),
    }
    return found, san


def check_program(label, path):
    if not os.path.isfile(path):
        report("skip", f"{label}: not built (make)")
        return
    try:
        found, san = inspect(path)
    except RuntimeError as e:
        report("not ok", f"{label}: {e}")
        return
    for name in CHECKS:
        ok, what = found[name]
        if name == "fortify" and san is not None:
            report("skip", f"{label} fortify: _FORTIFY_SOURCE is off under "
                   f"sanitizers ({san} imported; see build.mk); {what}")
        else:
            report("ok" if ok else "not ok", f"{label} {name}: {what}")


def build_mk_cflags():
    """CFLAGS and LDFLAGS build.mk gives an unsanitized build."""
    mk = ("include %s/build.mk\nall:\n\t@echo '$(BUILD_CFLAGS)'\n"
          "\t@echo '$(BUILD_LDFLAGS)'\n" % ROOT)
    p = subprocess.run(["make", "-s", "--no-print-directory", "-f", "-",
                        "SANITIZER=", "CFLAGS=", "CPPFLAGS=", "LDFLAGS="],
                       input=mk, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"make -f build.mk: {p.stderr.strip()}")
    cflags, ldflags = p.stdout.splitlines()[:2]
    return cflags.split(), ldflags.split()


def check_checker():
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        report("not ok", f"checker_control: no compiler {cc}")
        return
    tmp = tempfile.mkdtemp(prefix="test_hardening.")
    try:
        src = os.path.join(tmp, "sample.c")
        with open(src, "w") as f:
            f.write(SAMPLE)
        try:
            cflags, ldflags = build_mk_cflags()
        except RuntimeError as e:
            report("not ok", f"checker_control: {e}")
            return
        for label, flags, want in (
                ("hardened sample (build.mk flags)", cflags + ldflags, True),
                ("unhardened sample (" + " ".join(UNHARDENED) + ")",
                 UNHARDENED, False)):
            out = os.path.join(tmp, "hardened" if want else "unhardened")
            p = subprocess.run([cc, *flags, "-o", out, src],
                               capture_output=True, text=True)
            if p.returncode != 0:
                report("not ok", f"checker_control: {cc} failed: "
                       f"{p.stderr.strip()[:300]}")
                continue
            found, _ = inspect(out)
            wrong = [n for n in CHECKS if found[n][0] != want]
            detail = "; ".join(f"{n}: {found[n][1]}" for n in CHECKS)
            if wrong:
                report("not ok", f"checker_control: {label}: "
                       f"{'failed' if want else 'passed'} "
                       f"{', '.join(wrong)} ({detail})")
            else:
                report("ok", f"checker_control: {label}: every check "
                       f"{'passes' if want else 'fails'} ({detail})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    if shutil.which("readelf") is None:
        report("not ok", "readelf not installed (Debian package binutils)")
        return 1
    targets = sys.argv[1:] or [os.path.join(ROOT, p) for p in PROGRAMS]
    for path in targets:
        label = os.path.relpath(path, ROOT) if not sys.argv[1:] else path
        check_program(label, path)
    if not sys.argv[1:]:
        check_checker()
    if failed:
        return 1
    if passed == 0 and skipped:
        return 77
    return 0


if __name__ == "__main__":
    sys.exit(main())
