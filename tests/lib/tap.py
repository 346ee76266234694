"""tap.py -- the test protocol shared by every Python test in tests/.

A test program prints one line per case:
    ok - <name>
    not ok - <name>: <reason>
    skip - <name>: <reason>
and exits 0 when every case passed (skips allowed), 77 when the whole program
was skipped, 1 otherwise.  tests/run counts these lines.

Usage:
    from tap import Suite
    t = Suite()
    @t.case
    def root_is_ok(): assert ...
    t.run()            # runs every case, prints, exits
"""
import os
import signal
import sys
import threading
import time
import traceback


def teardown_guard(teardown, margin_s):
    """Make sure teardown runs however a long suite ends: SIGTERM becomes
    an exception (so Suite.run's finally tears down), and margin_s before
    tests/run's SIGKILL deadline (TEST_TIMEOUT, 900 s) a watchdog tears
    down itself and exits 1.  For suites holding outside state (containers,
    networks, volumes)."""
    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_term)
    budget = int(os.environ.get("TEST_TIMEOUT", "900")) - margin_s

    def watchdog():
        time.sleep(budget)
        print(f"not ok - deadline: still running after {budget}s; "
              f"tearing down", flush=True)
        try:
            teardown(None)
        finally:
            os._exit(1)
    threading.Thread(target=watchdog, daemon=True).start()


class Skip(Exception):
    """Raise inside a case to report it as skipped."""


class Suite:
    def __init__(self):
        self.cases = []
        self.failed = 0
        self.passed = 0
        self.skipped = 0

    def case(self, fn):
        self.cases.append(fn)
        return fn

    def each(self, *variants):
        """Decorator: one case per (name, keyword arguments) variant of the
        same function, called with those arguments (after the setup's
        context when it takes one more positional parameter), in place of
        copies of a case that differ only in their values."""
        def deco(fn):
            code = fn.__code__
            for name, kw in variants:
                takes_ctx = code.co_argcount > len(kw)

                def case(ctx=None, _kw=kw, _ctx=takes_ctx):
                    return fn(ctx, **_kw) if _ctx else fn(**_kw)
                case.__name__ = name
                case.__doc__ = fn.__doc__
                self.cases.append(case)
            return fn
        return deco

    def report(self, name, ok, reason=""):
        if ok:
            self.passed += 1
            print(f"ok - {name}", flush=True)
        else:
            self.failed += 1
            print(f"not ok - {name}: {reason}", flush=True)

    def skip(self, name, reason):
        self.skipped += 1
        print(f"skip - {name}: {reason}", flush=True)

    def run(self, setup=None, teardown=None):
        only = os.environ.get("TEST_ONLY")
        ctx = None
        try:
            if setup is not None:
                ctx = setup()
        except Skip as e:
            for fn in self.cases:
                self.skip(fn.__name__, str(e))
            sys.exit(77)
        except Exception:
            traceback.print_exc()
            for fn in self.cases:
                self.report(fn.__name__, False, "setup failed")
            if teardown is not None:
                try:
                    teardown(ctx)
                except Exception:
                    traceback.print_exc()
            sys.exit(1)
        try:
            for fn in self.cases:
                if only and only not in fn.__name__:
                    continue
                t0 = time.monotonic()
                try:
                    fn(ctx) if fn.__code__.co_argcount else fn()
                except Skip as e:
                    self.skip(fn.__name__, str(e))
                    continue
                except AssertionError as e:
                    traceback.print_exc(file=sys.stderr)
                    self.report(fn.__name__, False, str(e) or "assertion failed")
                    continue
                except Exception as e:
                    traceback.print_exc(file=sys.stderr)
                    self.report(fn.__name__, False, f"{type(e).__name__}: {e}")
                    continue
                dt = time.monotonic() - t0
                self.report(fn.__name__ + (f" ({dt:.1f}s)" if dt >= 1 else ""), True)
        finally:
            if teardown is not None:
                try:
                    teardown(ctx)
                except Exception:
                    traceback.print_exc()
        if self.failed:
            sys.exit(1)
        if self.passed == 0 and self.skipped:
            sys.exit(77)
        sys.exit(0)
