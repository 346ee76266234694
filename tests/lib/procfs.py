"""procfs.py -- processes read from /proc, for tests and benchmarks.

    stats()            # (pid, fields) of every process; fields: its
                       # /proc/<pid>/stat after "(comm) ", split, bytes
    children(pid)      # [pid, ...]: pid's live children, sorted
    cpu_ticks(pids)    # utime + stime of pids, in clock ticks

Field numbers in fields are proc(5)'s minus 3: state 0, ppid 1, pgrp 2,
utime 11, stime 12.

Standard library only.
"""
import os


def stats():
    """Yield (pid, fields) for every process readable now (one that exits
    meanwhile is left out)."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # comm may contain spaces and parens: fields follow the last ')'.
        yield int(d), stat[stat.rfind(b")") + 2:].split()


def children(pid):
    """Pids whose parent is pid and that have not exited (zombies, not yet
    reaped, are left out), sorted."""
    return sorted(p for p, fields in stats()
                  if len(fields) > 1 and int(fields[1]) == pid
                  and fields[0] != b"Z")


def cpu_ticks(pids):
    """utime + stime summed over pids, in clock ticks (os.sysconf
    "SC_CLK_TCK" per second); a pid that is gone counts 0."""
    want = set(pids)
    return sum(int(fields[11]) + int(fields[12]) for p, fields in stats()
               if p in want and len(fields) > 12)
