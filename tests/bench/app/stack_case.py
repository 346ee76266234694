"""stack_case.py -- the whole stack as `make run` deploys it, as one peer
of tests/bench/app/run.

Owns starting and stopping lib/tools/stack.py's Stack (Redis primary with
AOF and two replicas, the pool, nginx logging every request, the collector
tailing every log) on the bench's own ports, and telling run which process
group is which: each component is its own process group there too, so the
same /proc CPU meter applies.  It does not own Stack's settings (redis/,
nginx/app/, the pool's defaults): those are the deployed ones, on purpose.
"""
import os
import secrets
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
import stack as stacklib  # lib/tools/stack.py (run puts it on the path)

import procfs   # noqa: E402  (tests/lib/procfs.py)
import resp     # noqa: E402

StackError = stacklib.StackError

# Stack's port layout for base B: nginx B, internal B+1, pool B+2, Redis
# B+10..B+12.
BASE_PORT = 22100

# Stack's component names -> process group names in the report.  Both
# replicas are one group.
GROUPS = {"primary": "stack:redis", "replica1": "stack:replicas",
          "replica2": "stack:replicas", "fcgi-app": "stack:fcgi-app",
          "nginx": "stack:nginx", "collector": "stack:collector"}


def ports():
    return sorted(stacklib.ports_for(BASE_PORT).values())


def unusable(collector_bin, sanitized):
    """Why the deployed stack cannot be measured here, or None.  (The app
    binary is run's BENCH_APP_BIN, checked there.)"""
    if not os.access(collector_bin, os.X_OK):
        return (f"{collector_bin} not built (make -C collector): the "
                "deployed stack includes it")
    if sanitized(collector_bin):
        return (f"{collector_bin} is a sanitizer build; rebuild without "
                "SANITIZER to measure it")
    return None


class NativeStack:
    """One Stack for one round of the stack case: start(), then groups(),
    redis(), worker_pids(); close() stops everything and removes its run
    dir."""

    def __init__(self, run_dir, app_bin, collector_bin, app_workers,
                 nginx_workers, keep=False):
        # Stack runs (a copy of) stacklib.APP_BIN and stacklib.COLLECTOR_BIN,
        # the tree's builds; point them at the binaries this run measures
        # (the C cases' app, BENCH_COLLECTOR_BIN).
        stacklib.APP_BIN = app_bin
        stacklib.COLLECTOR_BIN = collector_bin
        self.stack = stacklib.Stack(
            run_dir=run_dir, base_port=BASE_PORT, collector=True,
            replicas=2, app_workers=app_workers,
            nginx_workers=nginx_workers,
            session_secret=secrets.token_hex(32), pool_socket="unix",
            redis_password=secrets.token_hex(16))
        self.run_dir = run_dir
        self.keep = keep
        self.port = self.stack.ports["http"]
        self._redis = None

    def start(self):
        """Start and wait for every component; StackError on failure."""
        self.stack.start()
        self._redis = resp.Redis("127.0.0.1", self.stack.ports["primary"],
                                 self.stack.redis_password)

    def groups(self):
        """{pgid: report name} of the running components."""
        return {p.popen.pid: GROUPS.get(name, "stack:" + name)
                for name, p in self.stack.procs.items() if p.alive()}

    def redis(self):
        return self._redis

    def worker_pids(self):
        kids = procfs.children(self.stack.pid("fcgi-app"))
        return kids or [self.stack.pid("fcgi-app")]

    def close(self):
        if self._redis is not None:
            try:
                self._redis.close()
            except OSError:
                pass
            self._redis = None
        # Stack removes only a run dir it created itself.  This one holds
        # the access log and the collector's output of every request.
        self.stack.close()
        if not self.keep:
            shutil.rmtree(self.run_dir, ignore_errors=True)
