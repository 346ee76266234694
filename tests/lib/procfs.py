"""procfs.py -- processes read from /proc, for tests and benchmarks.

    children(pid)   # [pid, ...]: pid's live children, sorted

Standard library only.
"""
import os


def children(pid):
    """Pids whose parent is pid and that have not exited (zombies, not yet
    reaped, are left out), sorted; read from /proc/*/stat."""
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # comm may contain spaces and parens: fields follow the last ')'.
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid and fields[0] != b"Z":
            kids.append(int(d))
    return sorted(kids)
