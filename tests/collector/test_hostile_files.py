#!/usr/bin/env python3
"""test_hostile_files.py -- the collector against files meant to fool it.

One case per threat of the hardening issue "A collector that hostile files
cannot fool or stall": a symlink to a secret planted in a log directory
(and a log replaced by one), FIFOs named like logs (one swapped in for a
live log, one name flipping between a fresh file and a FIFO thousands of
times a second), a corrupt or empty state file, 5,000 dead log files
(descriptors and inotify watches must be given back, and come back when a
file grows), and many files each holding a long unfinished line (memory
stays within the partial-line budget, every byte still arrives once).

Every case runs the real binary on real files in a temp dir, with the
numbered-line writer and exactly-once check of harness.py, and is bounded
in time (about 60 s for the whole file).  COLLECTOR_BIN selects another
binary, e.g. the unchanged one, to see each case fail there.
"""
import glob
import os
import sys
import threading
import time


from poll import until
from tap import Suite
import harness
from harness import (Sandbox, all_seen, base_args, check, finish,
                     logs)

t = Suite()
ASAN = harness.built_with_asan()




def churn(d, n, pause):
    """Make the directory report n changes (each one causes a rescan)."""
    junk = os.path.join(d, "churn.tmp")
    for _ in range(n):
        open(junk, "wb").close()
        os.unlink(junk)
        time.sleep(pause)


def messages(col):
    return [e["message"] for e in harness.parse_events(col.output())]


@t.case
def symlink_to_secret_is_not_followed():
    """x.log -> a secret outside the log directory is never read, nor is
    a dangling link; a live log replaced by such a link (rename over) is
    drained to its end under its old inode.  Each link is logged once,
    however many rescans meet it."""
    with Sandbox("symlink") as sb:
        d = logs(sb)
        secret = sb.path("secret.txt")
        with open(secret, "wb") as f:
            f.write(b"TOPSECRET line 1\nTOPSECRET line 2\n")
        link = os.path.join(d, "x.log")
        dangling = os.path.join(d, "dangling.log")
        os.symlink(secret, link)
        os.symlink(sb.path("nowhere"), dangling)
        w = sb.writer(os.path.join(d, "app.log"), "sym")
        swap = os.path.join(d, "swap.log")
        ws = sb.writer(swap, "swp")
        col = sb.collector(base_args(sb, f"app={d}/*.log")).start()
        w.write(50)
        ws.write(50)
        assert until(all_seen(col, [w, ws]), 5)
        tmp = os.path.join(d, "swap.tmp")
        os.symlink(secret, tmp)
        os.rename(tmp, swap)                    # swap.log is now a link
        ws.write(20)                            # the writer's fd: old inode
        churn(d, 6, 0.2)                        # rescans, and 2+ reconciles
        w.write(50)
        assert until(all_seen(col, [w, ws]), 5)
        assert until(lambda: f"closed path={swap}" in col.stderr(), 3), \
            "the replaced log was not drained and closed"
        col.term()
        check(col.output(), [w, ws])
        leaked = [r for r in col.output() if b"TOPSECRET" in r]
        assert not leaked, f"secret emitted: {leaked[0][:200]!r}"
        err = col.stderr()
        for p in (link, dangling, swap):
            n = err.count(f"skipping path={p}: symbolic link")
            assert n == 1, f"{p}: logged {n} times, want once"


@t.case
def fifo_swapped_in_never_stalls():
    """A FIFO named like a log never blocks the loop: not one present at
    start, not one renamed over a live log (whose old inode is drained),
    not a name flipping between fresh regular files and FIFOs as fast as
    Python can rename (a stat-then-open collector opens a FIFO sooner or
    later and waits for a writer forever).  Other files keep flowing, and
    SIGTERM is answered."""
    with Sandbox("fifo") as sb:
        d = logs(sb)
        static = os.path.join(d, "static.log")
        os.mkfifo(static)
        live = sb.writer(os.path.join(d, "live.log"), "live")
        app_path = os.path.join(d, "app.log")
        app = sb.writer(app_path, "fapp")
        col = sb.collector(base_args(sb, f"app={d}/*.log",
                                     extra=("--reconcile-ms", "200"))).start()
        app.write(50)
        live.write(10)
        assert until(all_seen(col, [app, live]), 5)
        tmp = os.path.join(d, "fifo.tmp")
        os.mkfifo(tmp)
        os.rename(tmp, app_path)                # app.log is now a FIFO
        app.write(20)                           # still to the old inode
        race = os.path.join(d, "race.log")
        worst = 0.0
        end = time.monotonic() + 3
        i = 0
        while time.monotonic() < end:
            for _ in range(100):
                i += 1
                tmp = os.path.join(d, f"r{i}.tmp")
                open(tmp, "wb").close()
                os.rename(tmp, race)            # a fresh regular file
                os.mkfifo(tmp)
                os.rename(tmp, race)            # then a FIFO
            t0 = time.monotonic()
            live.write(1)
            ok = until(all_seen(col, [live]), 2, interval=0.01)
            worst = max(worst, time.monotonic() - t0)
            assert ok, f"live.log stalled during the FIFO race ({i} swaps)"
        t0 = time.monotonic()
        live.write(100)
        assert until(all_seen(col, [live, app]), 3), \
            "live.log stalled after the FIFO race"
        assert col.proc.poll() is None, "collector exited"
        col.term(timeout=5)
        check(col.output(), [live, app])
        err = col.stderr()
        for p in (static, app_path):
            n = err.count(f"skipping path={p}: FIFO")
            assert n == 1, f"{p}: logged {n} times, want once"
        assert f"closed path={app_path}" in err, "old app.log not finished"
        print(f"# fifo race: {i} swaps, worst live latency {worst:.3f}s",
              file=sys.stderr)


@t.case
def corrupt_state_file_moved_aside():
    """A state file with a malformed record, and later an empty one (what
    a crash can leave): each is renamed to <state>.corrupt-<time>, logged,
    and the collector starts as on a first start instead of exiting (which
    under a restart policy is a restart loop).  The state it writes then
    is good: a SIGTERM restart repeats nothing."""
    with Sandbox("corrupt") as sb:
        d = logs(sb)
        state = sb.path("state")
        bad = b"collector-state 1\n12 34 not-a-record\n"
        with open(state, "wb") as f:
            f.write(bad)
        w = sb.writer(os.path.join(d, "app.log"), "cor")
        w.write(100)
        col = sb.collector(base_args(sb, f"app={d}/*.log")).start()
        ok = until(all_seen(col, [w]), 5)
        assert col.proc.poll() is None, \
            f"collector exited {col.proc.returncode} on a corrupt state file"
        assert ok, "no output after a corrupt state file"
        aside = glob.glob(state + ".corrupt-*")
        assert len(aside) == 1, aside
        with open(aside[0], "rb") as f:
            assert f.read() == bad, "moved-aside file differs"
        err = col.stderr()
        assert "state file unusable" in err and aside[0] in err, err[-2000:]
        assert "line 2: malformed record" in err
        w.write(50)
        finish(col, [w])
        col.start()                             # the new state is good
        w.write(50)
        finish(col, [w])
        check(col.output(), [w], max_dups=0)
        # an empty state file; without --from-beginning the fresh start
        # begins at the files' ends (nothing was written meanwhile)
        open(state, "wb").close()
        args = [a for a in col.args if a != "--from-beginning"]
        col.args = args
        col.start()
        assert until(lambda: len(glob.glob(state + ".corrupt-*")) == 2,
                        5), "empty state file not moved aside"
        assert col.proc.poll() is None
        time.sleep(0.3)
        w.write(50)
        finish(col, [w])
        check(col.output(), [w], max_dups=0)
        assert "empty file" in col.stderr()


@t.case
def five_thousand_dead_files_release_descriptors():
    """5,000 app logs written once and never again, plus one live log:
    after idle-close-s (1 s here) the dead files' descriptors and inotify
    watches are released; a dead file that grows is reopened at its offset
    within a reconcile; a restart repeats nothing; idle CPU stays low."""
    n_dead = 5000
    with Sandbox("dead") as sb:
        d = logs(sb)
        for i in range(n_dead):
            with open(os.path.join(d, f"dead{i}.log"), "wb") as f:
                f.write(f"dead{i} 1 x\n".encode())
        live = sb.writer(os.path.join(d, "live.log"), "dlive")
        stop = threading.Event()
        quiet = threading.Event()

        def keep_writing():
            while not stop.wait(0.1):
                if not quiet.is_set():
                    live.write(1)
        col = sb.collector(base_args(sb, f"app={d}/*.log"),
                           env={"COLLECTOR_IDLE_CLOSE_S": "1"}).start()
        feeder = threading.Thread(target=keep_writing, daemon=True)
        feeder.start()
        want = {f"dead{i} 1 x" for i in range(n_dead)}

        def dead_seen():
            got = {m for m in messages(col) if m.startswith("dead")}
            return want <= got
        try:
            assert until(dead_seen, 60, interval=0.5), "dead files not read"
            peak_fds = len(col.fds())
            assert peak_fds > n_dead or os.environ.get("COLLECTOR_BIN"), \
                f"only {peak_fds} fds: the files were never open at once"

            def released():
                return len(col.fds()) <= 10 and col.inotify_watches() <= 3
            assert until(released, 10), \
                (f"{len(col.fds())} fds and {col.inotify_watches()} "
                 f"watches 10 s after the dead files went idle")
            quiet.set()                         # idle: nothing written
            time.sleep(0.5)
            cpu0 = col.cpu_seconds()
            time.sleep(3)
            idle_cpu = (col.cpu_seconds() - cpu0) / 3
            quiet.clear()
            assert idle_cpu < (0.25 if ASAN else 0.1), \
                f"{idle_cpu:.3f} s CPU per s with 5,000 idle files"
            # dead files that grow are reopened at their offset
            grown = range(0, n_dead, 250)
            for i in grown:
                with open(os.path.join(d, f"dead{i}.log"), "ab") as f:
                    f.write(f"dead{i} 2 x\n".encode())
            t0 = time.monotonic()
            want |= {f"dead{i} 2 x" for i in grown}
            assert until(dead_seen, 3), "grown files not reopened"
            lat = time.monotonic() - t0
            assert until(released, 5), "reopened files not closed again"
            col.term()
            for i in grown:
                with open(os.path.join(d, f"dead{i}.log"), "ab") as f:
                    f.write(f"dead{i} 3 x\n".encode())
            want |= {f"dead{i} 3 x" for i in grown}
            col.start()
            assert until(dead_seen, 60, interval=0.5), "lines lost on restart"
            time.sleep(0.3)
        finally:
            stop.set()
            feeder.join()
        finish(col, [live], timeout=10)
        got = [m for m in messages(col) if m.startswith("dead")]
        assert len(got) == len(set(got)) == len(want), \
            f"{len(got)} dead-file events, {len(set(got))} distinct, " \
            f"want {len(want)}"
        check(col.output(), [live])
        print(f"# dead files: {peak_fds} fds at start, reopen latency "
              f"{lat:.2f}s, idle CPU {idle_cpu * 100:.1f}%", file=sys.stderr)


@t.case
def partial_line_budget_bounds_memory():
    """32 files each grow one unfinished 2 MiB line (64 MiB held if kept
    whole) under a 4 MiB partial-line budget: peak RSS stays far below,
    the longest lines are emitted early as "truncated" pieces, and across
    a SIGTERM restart every byte arrives exactly once, in order."""
    n_files, rounds, chunk = 32, 8, 256 * 1024
    budget = 4 * 1024 * 1024
    rss_max = 24 * 1024 if not ASAN else 512 * 1024
    with Sandbox("budget") as sb:
        d = logs(sb)
        paths = [os.path.join(d, f"p{i:02d}.log") for i in range(n_files)]
        content = [bytearray() for _ in paths]
        col = sb.collector(
            base_args(sb, f"app={d}/*.log",
                      extra=("--line-max", str(16 * 1024 * 1024))),
            env={"COLLECTOR_PARTIAL_BUDGET": str(budget)}).start()
        peak = 0
        for r in range(rounds):
            for i, p in enumerate(paths):
                base = len(content[i])
                piece = b"".join(b"%02d:%09d;" % (i, base + k)
                                 for k in range(0, chunk, 13))
                content[i] += piece
                with open(p, "ab") as f:
                    f.write(piece)
            time.sleep(0.3)
            if r == rounds // 2:
                time.sleep(1)
                peak = max(peak, col.peak_rss_kb())
                col.term()
                col.start()
        time.sleep(1.5)
        peak = max(peak, col.peak_rss_kb())
        for i, p in enumerate(paths):
            with open(p, "ab") as f:
                f.write(b"\n" + b"p%02d end\n" % i)
        ends = {"p%02d end" % i for i in range(n_files)}
        assert until(lambda: ends <= set(messages(col)), 30), \
            "end lines missing"
        time.sleep(0.3)
        col.term()
        assert peak <= rss_max, \
            f"peak RSS {peak} kB (max {rss_max}) holding 64 MiB unfinished"
        events = harness.parse_events(col.output())
        split = 0
        for i, p in enumerate(paths):
            mine = [e for e in events if e["path"] == p]
            assert mine and mine[-1]["message"] == "p%02d end" % i, \
                f"{p}: last event {mine[-1]['message'][:40] if mine else None}"
            pieces = mine[:-1]
            got = "".join(e["message"] for e in pieces).encode()
            assert got == bytes(content[i]), \
                (f"{p}: {len(got)} bytes emitted, want {len(content[i])} "
                 f"(lost, repeated or reordered)")
            # every piece but the last says the line goes on; the last is
            # marked too when the rest turned out to be only the newline
            assert all(e.get("truncated") is True for e in pieces[:-1]), \
                f"{p}: an early piece is not marked truncated"
            split += len(pieces) > 1
        assert split > 0, "no line was emitted early"
        assert "partial-line budget exceeded" in col.stderr()
        print(f"# partial budget: {split}/{n_files} lines split, peak RSS "
              f"{peak} kB", file=sys.stderr)


def setup():
    harness.need_binary()


if __name__ == "__main__":
    t.run(setup=setup)
