"""harness.py -- drive the real collector against real files, check output.

Used by the collector scenario tests.  Pieces:
  Collector  runs collector/collector with stdout on a pipe read by a
             thread (which a test can pause to block stdout) and stderr
             in a file; start/term/kill/stop/cont; always reaped.
  Writer     appends numbered lines "<tag> <seq> <write time>" to a log
             with one write(2) each, and remembers which physical file
             (generation) every number went to.
  check()    every output line must parse as a JSON object with the
             Logstash keys; every number appears exactly once (or within
             the bounds a scenario allows), in order within each physical
             file.
Only the standard library; loopback only; everything under one temp dir.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from poll import until

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("COLLECTOR_BIN",
                        os.path.join(ROOT, "collector", "collector"))
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
KEYS = ["@timestamp", "@version", "message", "host", "path", "type"]


def built_with_asan():
    """True if the binary carries AddressSanitizer (RSS bounds differ)."""
    try:
        with open(BINARY, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


class Collector:
    """One collector process at a time, restartable; output accumulates."""

    def __init__(self, tmp, args, env=None, prefix=()):
        self.tmp = tmp
        self.args = list(args)
        self.prefix = list(prefix)
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.proc = None
        self.lines = []          # (monotonic receive time, bytes)
        self.lock = threading.Lock()
        self.paused = threading.Event()
        self.reader = None
        self.starts = 0
        self.stderr_path = os.path.join(tmp, "collector.stderr")

    def start(self):
        assert self.proc is None or self.proc.poll() is not None
        err = open(self.stderr_path, "ab")
        try:
            self.proc = subprocess.Popen(self.prefix + [BINARY] + self.args,
                                         stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE,
                                         stderr=err, env=self.env)
        finally:
            err.close()
        self.starts += 1
        self.reader = threading.Thread(target=self._read,
                                       args=(self.proc.stdout,), daemon=True)
        self.reader.start()
        return self

    def _read(self, pipe):
        buf = b""
        fd = pipe.fileno()
        while True:
            while self.paused.is_set():
                time.sleep(0.01)
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            *done, buf = buf.split(b"\n")
            now = time.monotonic()
            with self.lock:
                self.lines.extend((now, d) for d in done)
        if buf:
            with self.lock:
                self.lines.append((time.monotonic(), buf + b"<no newline>"))
        pipe.close()

    def output(self):
        with self.lock:
            return [d for _, d in self.lines]

    def timed_output(self):
        with self.lock:
            return list(self.lines)

    def wait_exit(self, timeout=10):
        rc = self.proc.wait(timeout=timeout)
        self.reader.join(timeout=timeout)
        return rc

    def term(self, timeout=10):
        """SIGTERM and wait; a clean stop must exit 0."""
        self.proc.send_signal(signal.SIGTERM)
        rc = self.wait_exit(timeout)
        assert rc == 0, f"collector exited {rc} after SIGTERM"

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.wait_exit()

    def stop(self):
        self.proc.send_signal(signal.SIGSTOP)

    def cont(self):
        self.proc.send_signal(signal.SIGCONT)

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _status_kb(self, key):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return 0

    def rss_kb(self):
        return self._status_kb("VmRSS")

    def peak_rss_kb(self):
        """Peak RSS of this process so far (VmHWM)."""
        return self._status_kb("VmHWM")

    def fds(self):
        """Targets of the process's open descriptors."""
        out = []
        fd_dir = f"/proc/{self.proc.pid}/fd"
        for fd in os.listdir(fd_dir):
            try:
                out.append(os.readlink(os.path.join(fd_dir, fd)))
            except OSError:
                pass
        return out

    def inotify_watches(self):
        """Number of inotify watches the process holds (all instances)."""
        n = 0
        fd_dir = f"/proc/{self.proc.pid}/fd"
        for fd in os.listdir(fd_dir):
            try:
                if os.readlink(os.path.join(fd_dir, fd)) != \
                        "anon_inode:inotify":
                    continue
                with open(f"/proc/{self.proc.pid}/fdinfo/{fd}") as f:
                    n += sum(1 for line in f
                             if line.startswith("inotify wd:"))
            except OSError:
                pass
        return n

    def stderr(self):
        try:
            with open(self.stderr_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()
        self.paused.clear()
        if self.reader is not None:
            self.reader.join(timeout=5)


class Writer:
    """Appends numbered lines to path; tracks the physical file of each."""

    def __init__(self, path, tag):
        self.path = path
        self.tag = tag
        self.seq = 0
        self.gen = 0
        self.gen_of = {}
        self.f = open(path, "ab", buffering=0)

    def line(self, seq):
        return f"{self.tag} {seq} {time.time():.6f}\n".encode()

    def write(self, n=1):
        for _ in range(n):
            self.seq += 1
            self.f.write(self.line(self.seq))
            self.gen_of[self.seq] = self.gen

    def reopen(self):
        """Switch to whatever is at path now (after a rotation)."""
        self.f.close()
        self.f = open(self.path, "ab", buffering=0)
        self.gen += 1

    def new_generation(self):
        """Same descriptor, new content (after a truncation)."""
        self.gen += 1

    def close(self):
        self.f.close()

    def expected(self):
        return set(range(1, self.seq + 1))


def paced(total, rate, step):
    """Yield after every `step` lines so that `total` take total/rate s."""
    t0 = time.monotonic()
    done = 0
    while done < total:
        n = min(step, total - done)
        done += n
        yield n
        delay = t0 + done / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def parse_events(raw_lines):
    """Parse every output line strictly; return the list of events."""
    events = []
    for i, raw in enumerate(raw_lines):
        try:
            ev = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise AssertionError(f"output line {i} is not JSON ({e}): "
                                 f"{raw[:120]!r}")
        assert isinstance(ev, dict), f"output line {i} is not an object"
        assert list(ev)[:6] == KEYS, f"line {i} keys {list(ev)}"
        assert TS_RE.match(ev["@timestamp"]), ev["@timestamp"]
        assert ev["@version"] == "1"
        events.append(ev)
    return events


def seqs_by_tag(events):
    """{tag: [(seq, event), ...]} in output order, for harness lines."""
    out = {}
    for ev in events:
        parts = ev["message"].split(" ")
        if len(parts) != 3 or not parts[1].isdigit():
            continue
        out.setdefault(parts[0], []).append((int(parts[1]), ev))
    return out


def check(raw_lines, writers, allow_missing=None, max_dups=0):
    """Assert the output carries every writer's numbers as promised.

    allow_missing: {tag: set of seqs that may be absent} (documented loss
    windows).  max_dups: total repeated events allowed (SIGKILL bound);
    repeats must be exact copies of the message, path and type.
    Returns (missing count, duplicate count).
    """
    events = parse_events(raw_lines)
    by_tag = seqs_by_tag(events)
    total_missing = total_dups = 0
    for w in writers:
        got = by_tag.get(w.tag, [])
        first = {}
        dups = 0
        for seq, ev in got:
            assert seq in w.gen_of, f"{w.tag}: unknown seq {seq}"
            if seq in first:
                dups += 1
                a, b = first[seq], ev
                assert (a["message"], a["path"], a["type"]) == \
                    (b["message"], b["path"], b["type"]), \
                    f"{w.tag} {seq}: repeat is not an exact copy"
            else:
                first[seq] = ev
        missing = w.expected() - set(first)
        allowed = (allow_missing or {}).get(w.tag, set())
        bad = sorted(missing - allowed)
        assert not bad, (f"{w.tag}: {len(bad)} lines lost, e.g. {bad[:10]} "
                         f"(got {len(first)} of {w.seq})")
        # in order within each physical file (generation); a repeat
        # after a SIGKILL restart is skipped, new numbers must go up
        seen, last = set(), {}
        for seq, _ in got:
            if seq in seen:
                continue
            seen.add(seq)
            g = w.gen_of[seq]
            assert seq > last.get(g, 0), \
                f"{w.tag}: {seq} after {last.get(g)} in file generation {g}"
            last[g] = seq
        total_missing += len(missing)
        total_dups += dups
    assert total_dups <= max_dups, \
        f"{total_dups} repeated lines (allowed {max_dups})"
    return total_missing, total_dups



MSG_RE = re.compile(rb'"message":"(\S+) (\d+) ')


def all_seen(col, writers):
    """Predicate: every writer's last number is in the output.  Scans only
    the lines that arrived since the previous call."""
    seen = set()
    done = [0]

    def pred():
        lines = col.output()
        for raw in lines[done[0]:]:
            m = MSG_RE.search(raw)
            if m:
                seen.add((m.group(1).decode(errors="replace"),
                          int(m.group(2))))
        done[0] = len(lines)
        return all((w.tag, w.seq) in seen for w in writers)
    return pred


class Sandbox:
    """A temp dir plus the processes started in it, cleaned up always."""

    def __init__(self, name):
        self.dir = tempfile.mkdtemp(prefix=f"collector-{name}-")
        self.collectors = []
        self.writers = []

    def collector(self, args, env=None, prefix=()):
        c = Collector(self.dir, args, env, prefix)
        self.collectors.append(c)
        return c

    def writer(self, path, tag):
        w = Writer(path, tag)
        self.writers.append(w)
        return w

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for c in self.collectors:
            c.cleanup()
        for w in self.writers:
            try:
                w.close()
            except OSError:
                pass
        if exc[0] is not None and os.environ.get("COLLECTOR_TEST_KEEP"):
            print(f"# kept {self.dir}", file=sys.stderr)
            for i, c in enumerate(self.collectors):
                with open(os.path.join(self.dir, f"out.{i}"), "wb") as f:
                    f.write(b"\n".join(c.output()) + b"\n")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        return False


# The collector options both scenario suites start it with (fast
# checkpoints and reconciles, so a test runs in seconds), a logs dir in
# the sandbox, and "everything arrived, then SIGTERM".
def base_args(sb, *inputs, extra=()):
    return ["--state", sb.path("state"), "--from-beginning",
            "--checkpoint-ms", "200", "--close-quiet-ms", "300",
            "--reconcile-ms", "500", "--drain-ms", "3000", *extra, *inputs]


def logs(sb):
    d = sb.path("logs")
    os.makedirs(d, exist_ok=True)
    return d


def finish(col, writers, timeout=10):
    assert until(all_seen(col, writers), timeout), \
        "not every line arrived in time"
    time.sleep(0.2)
    col.term()


def need_binary():
    """A suite's setup: skip (77) when the collector is not built."""
    from tap import Skip
    if not os.access(BINARY, os.X_OK):
        raise Skip(f"{BINARY} not built (make -C collector)")
