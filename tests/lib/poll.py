"""poll.py -- the one polling loop of the tests.

Every tier waits for something that happens in another process: a port
that opens, a line in a log, a replica that catches up, a container that
turns healthy.  One loop does it, with two faces:

  wait_for(what, fn, timeout)  fn()'s first true value; past the timeout,
                               AssertionError naming `what` and fn's last
                               value or exception.
  until(fn, timeout)           fn()'s first true value, or once the time
                               is up its last value (None if that call
                               raised): for `assert until(...), message`.

An exception from fn counts as "not yet" (a connection refused while a
server starts, a file not written yet); the last one is reported.  With
no interval the loop polls quickly at first (20 ms) and backs off by half
each time to at most 0.25 s, so a quick condition is seen at once and a
slow one (a container's health) does not spin a CPU; give interval to
poll at a fixed rate.
"""
import time

FIRST_S = 0.02
MAX_S = 0.25


def _loop(fn, timeout, interval):
    """(value, error): fn()'s first true value and None, or after timeout
    seconds its last value (None if it raised) and last exception."""
    deadline = time.monotonic() + timeout
    pause = interval if interval is not None else FIRST_S
    while True:
        value = err = None
        try:
            value = fn()
        except Exception as e:  # noqa: BLE001 -- "not yet", reported
            err = e
        if value:
            return value, None
        now = time.monotonic()
        if now >= deadline:
            return value, err
        time.sleep(min(pause, deadline - now))
        if interval is None:
            pause = min(pause * 1.5, MAX_S)


def wait_for(what, fn, timeout, interval=None):
    """Call fn() until it returns a true value; return that value.  After
    timeout seconds raise AssertionError naming what was awaited and fn's
    last value or exception."""
    value, err = _loop(fn, timeout, interval)
    if value:
        return value
    last = f"last error: {err!r}" if err is not None else f"last: {value!r}"
    raise AssertionError(f"{what}: not within {timeout}s ({last})")


def until(fn, timeout, interval=None):
    """fn()'s first true value within timeout seconds; else its last value
    (None if that call raised)."""
    return _loop(fn, timeout, interval)[0]
