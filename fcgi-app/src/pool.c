/* pool.c -- the master process: listening socket and worker processes
 *
 * The master gets the socket from listen.c (bound before any fork), forks
 * the workers and then only supervises: it never accepts.  Its loop is ppoll() on the workers'
 * message pipe with SIGCHLD/SIGTERM/SIGINT/SIGHUP/SIGUSR1 unblocked only
 * inside ppoll(), so a signal (whose handler sets a flag) always wakes it.
 *
 * Children live in a table; each has a slot (0..APP_WORKERS-1) and a
 * state: ACTIVE (the slot's serving worker), PENDING (a replacement
 * started by SIGHUP or a recycle request, not yet ready) or RETIRING (told
 * to drain).  Rules:
 * - an ACTIVE or PENDING child that dies is a crash: its slot is refilled
 *   at once the first time, then after 100 ms doubling up to 5 s while the
 *   slot keeps crashing within 10 s of starting (crash loop), reset after
 *   a worker stays up 10 s;
 * - recycle ('R' from a worker) and reload (SIGHUP, one slot at a time):
 *   start the replacement, and only when it says READY ('U') tell the old
 *   one to drain, so capacity never drops and the socket never closes;
 * - SIGTERM/SIGINT: forward SIGTERM, wait for every child (SIGKILL after
 *   APP_DRAIN_TIMEOUT_MS + 1 s), exit 0;
 * - SIGUSR1: reopen the master's log and forward to every child.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "pool.h"
#include "worker.h"
#include "wssig.h"

#define POOL_MAX_CHILDREN   (256 * 3)
#define POOL_STABLE_MS      10000   /* up this long: not a crash loop */
#define POOL_BACKOFF_MIN_MS 100
#define POOL_BACKOFF_MAX_MS 5000
#define POOL_READY_WAIT_MS  5000    /* replacement must be READY by then */

enum child_state { CHILD_FREE, CHILD_ACTIVE, CHILD_PENDING, CHILD_RETIRING };

struct pool_child {
    pid_t    pid;
    int      state;
    int      slot;
    int      row;            /* metrics per-process row */
    int      reason;         /* for PENDING: enum metrics_restart */
    int64_t  started_ms;
};

struct pool_slot {
    int      fails;          /* consecutive quick crashes */
    int64_t  next_spawn_ms;  /* no spawn for this slot before */
    int      want;           /* replacement wanted: a metrics_restart
                              * reason, or -1 */
};

struct pool {
    const struct config *cfg;
    int                  listen_fd;
    int                  msg[2];
    struct pool_child    kids[POOL_MAX_CHILDREN];
    struct pool_slot    *slots;
    int                  nslots;
    int                  reload_next;  /* next slot to reload, -1: none */
    int                  stopping;
    int64_t              kill_at_ms;
};

static volatile sig_atomic_t pool_chld_flag;
static volatile sig_atomic_t pool_term_flag;
static volatile sig_atomic_t pool_hup_flag;
static volatile sig_atomic_t pool_usr1_flag;

/* Signal handlers: set a flag, nothing else. */
static void pool_on_chld(int signo) { (void) signo; pool_chld_flag = 1; }
static void pool_on_term(int signo) { (void) signo; pool_term_flag = 1; }
static void pool_on_hup(int signo)  { (void) signo; pool_hup_flag = 1; }
static void pool_on_usr1(int signo) { (void) signo; pool_usr1_flag = 1; }

/* Count living children (all states) and publish it. */
static void
pool_publish_alive(struct pool *p)
{
    long n = 0;
    int  i;

    for (i = 0; i < POOL_MAX_CHILDREN; i++) {
        if (p->kids[i].state != CHILD_FREE) {
            n++;
        }
    }
    metrics_workers_alive_set(n);
}

/* Fork a worker for slot in state.  Returns the child index or -1. */
static int
pool_spawn(struct pool *p, int slot, int state, int reason)
{
    struct pool_child *k = NULL;
    pid_t              pid, master;
    int                i, row;

    for (i = 0; i < POOL_MAX_CHILDREN; i++) {
        if (p->kids[i].state == CHILD_FREE) {
            k = &p->kids[i];
            break;
        }
    }
    if (k == NULL) {
        LOG_ERROR("pool: child table full");
        return -1;
    }
    row = metrics_proc_claim();
    master = getpid();
    pid = fork();
    if (pid == -1) {
        LOG_ERROR("pool: fork() failed: %s", strerror(errno));
        metrics_proc_release(row);
        p->slots[slot].next_spawn_ms = loop_clock_ms() + POOL_BACKOFF_MIN_MS;
        return -1;
    }
    if (pid == 0) {
        close(p->msg[0]);
        metrics_proc_use(row);
        _exit(worker_run(p->cfg, p->listen_fd, p->msg[1], master));
    }
    k->pid = pid;
    k->state = state;
    k->slot = slot;
    k->row = row;
    k->reason = reason;
    k->started_ms = loop_clock_ms();
    p->slots[slot].next_spawn_ms = 0;
    LOG_INFO("pool: started worker pid=%ld slot=%d", (long) pid, slot);
    pool_publish_alive(p);
    return (int) (k - p->kids);
}

/* The living child with pid, or NULL. */
static struct pool_child *
pool_find(struct pool *p, pid_t pid)
{
    int i;

    for (i = 0; i < POOL_MAX_CHILDREN; i++) {
        if (p->kids[i].state != CHILD_FREE && p->kids[i].pid == pid) {
            return &p->kids[i];
        }
    }
    return NULL;
}

/* The slot's child in state, or NULL. */
static struct pool_child *
pool_slot_child(struct pool *p, int slot, int state)
{
    int i;

    for (i = 0; i < POOL_MAX_CHILDREN; i++) {
        if (p->kids[i].state == state && p->kids[i].slot == slot) {
            return &p->kids[i];
        }
    }
    return NULL;
}

/* A child died: free its entry; schedule a respawn if it was serving. */
static void
pool_reap_one(struct pool *p, pid_t pid, int status)
{
    struct pool_child *k = pool_find(p, pid);
    struct pool_slot  *s;
    int64_t            now = loop_clock_ms(), delay;
    int                was;

    if (k == NULL) {
        return;
    }
    was = k->state;
    metrics_proc_release(k->row);
    k->state = CHILD_FREE;
    if (WIFSIGNALED(status)) {
        LOG(p->stopping || was == CHILD_RETIRING ? LOG_LEVEL_INFO
                                                 : LOG_LEVEL_ERROR,
            "pool: worker pid=%ld slot=%d killed by signal %d",
            (long) pid, k->slot, WTERMSIG(status));
    } else {
        LOG_INFO("pool: worker pid=%ld slot=%d exited with %d", (long) pid,
                 k->slot, WEXITSTATUS(status));
    }
    pool_publish_alive(p);
    if (p->stopping || was == CHILD_RETIRING) {
        return;
    }
    /* an ACTIVE worker died, or a replacement before READY (the old one
     * still serves; the replacement is retried after the same backoff) */
    s = &p->slots[k->slot];
    if (now - k->started_ms >= POOL_STABLE_MS) {
        s->fails = 0;
    }
    delay = 0;
    if (s->fails > 0) {
        delay = (int64_t) POOL_BACKOFF_MIN_MS << (s->fails - 1);
        if (delay > POOL_BACKOFF_MAX_MS) {
            delay = POOL_BACKOFF_MAX_MS;
        }
    }
    if (s->fails < 16) {
        s->fails++;
    }
    s->next_spawn_ms = now + delay;
    metrics_worker_restart(METRICS_RESTART_CRASH);
    if (delay > 0) {
        LOG_WARN("pool: slot %d crash-looping, respawn in %lld ms",
                 k->slot, (long long) delay);
    }
}

/* Reap every exited child (SIGCHLD may stand for several). */
static void
pool_reap(struct pool *p)
{
    pid_t pid;
    int   status;

    for (;;) {
        pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) {
            break;
        }
        pool_reap_one(p, pid, status);
    }
}

/* Ask for the ACTIVE worker of slot to be replaced; pool_schedule()
 * starts the PENDING replacement (one at a time, after any backoff). */
static void
pool_replace(struct pool *p, int slot, int reason)
{
    if (p->slots[slot].want < 0) {
        p->slots[slot].want = reason;
    }
}

/* A PENDING child is READY: promote it, retire the old ACTIVE one. */
static void
pool_promote(struct pool *p, struct pool_child *k)
{
    struct pool_child *old = pool_slot_child(p, k->slot, CHILD_ACTIVE);

    if (old != NULL) {
        old->state = CHILD_RETIRING;
        kill(old->pid, SIGTERM);
        LOG_INFO("pool: slot %d: pid=%ld replaces pid=%ld (%s)", k->slot,
                 (long) k->pid, (long) old->pid,
                 k->reason == METRICS_RESTART_RECYCLE ? "recycle" : "reload");
    }
    k->state = CHILD_ACTIVE;
    p->slots[k->slot].want = -1;
    metrics_worker_restart((enum metrics_restart) k->reason);
    if (k->reason == METRICS_RESTART_RELOAD && p->reload_next == k->slot) {
        p->reload_next++;
        if (p->reload_next >= p->nslots) {
            p->reload_next = -1;
            LOG_INFO("pool: rolling restart done");
        }
    }
}

/* Read worker messages. */
static void
pool_messages(struct pool *p)
{
    struct worker_msg  m;
    struct pool_child *k;

    while (read(p->msg[0], &m, sizeof(m)) == (ssize_t) sizeof(m)) {
        k = pool_find(p, (pid_t) m.pid);
        if (k == NULL || p->stopping) {
            continue;
        }
        if (m.type == WORKER_MSG_READY && k->state == CHILD_PENDING) {
            pool_promote(p, k);
        } else if (m.type == WORKER_MSG_RECYCLE && k->state == CHILD_ACTIVE) {
            pool_replace(p, k->slot, METRICS_RESTART_RECYCLE);
        }
    }
}

/* Promote PENDING children that never said READY in time. */
static void
pool_pending_timeouts(struct pool *p, int64_t now)
{
    int i;

    for (i = 0; i < POOL_MAX_CHILDREN; i++) {
        if (p->kids[i].state == CHILD_PENDING
            && now - p->kids[i].started_ms >= POOL_READY_WAIT_MS)
        {
            LOG_WARN("pool: pid=%ld not ready after %d ms, promoting",
                     (long) p->kids[i].pid, POOL_READY_WAIT_MS);
            pool_promote(p, &p->kids[i]);
        }
    }
}

/* Tell every child sig. */
static void
pool_kill_all(struct pool *p, int sig)
{
    int i;

    for (i = 0; i < POOL_MAX_CHILDREN; i++) {
        if (p->kids[i].state != CHILD_FREE) {
            kill(p->kids[i].pid, sig);
        }
    }
}

/* 1 if any child is still alive. */
static int
pool_any_child(struct pool *p)
{
    int i;

    for (i = 0; i < POOL_MAX_CHILDREN; i++) {
        if (p->kids[i].state != CHILD_FREE) {
            return 1;
        }
    }
    return 0;
}

/* Handle the flags set by the signal handlers. */
static void
pool_signals(struct pool *p)
{
    char err[256];

    if (pool_usr1_flag) {
        pool_usr1_flag = 0;
        if (log_reopen(err, sizeof(err)) != 0) {
            LOG_ERROR("pool: log reopen: %s", err);
        }
        pool_kill_all(p, SIGUSR1);
        LOG_INFO("pool: logs reopened");
    }
    if (pool_term_flag && !p->stopping) {
        p->stopping = 1;
        p->kill_at_ms = loop_clock_ms() + p->cfg->app_drain_timeout_ms + 1000;
        LOG_INFO("pool: stopping, draining workers");
        pool_kill_all(p, SIGTERM);
        /* Refuse new connections now (workers close their copies as they
         * start draining), so the web server fails over at once instead
         * of queueing on a socket nobody will accept from. */
        close(p->listen_fd);
        p->listen_fd = -1;
    }
    if (pool_hup_flag) {
        pool_hup_flag = 0;
        if (!p->stopping && p->reload_next < 0) {
            LOG_INFO("pool: SIGHUP, rolling restart of %d workers",
                     p->nslots);
            p->reload_next = 0;
        }
    }
}

/* Start what is due: empty slots and the next reload step.  Returns ms
 * until the next scheduled spawn (capped at 1000). */
static int
pool_schedule(struct pool *p, int64_t now)
{
    int64_t next = 1000;
    int     i, active;

    /* the rolling restart asks for one slot's replacement at a time */
    if (p->reload_next >= 0 && p->reload_next < p->nslots
        && pool_slot_child(p, p->reload_next, CHILD_PENDING) == NULL
        && p->slots[p->reload_next].want < 0)
    {
        if (pool_slot_child(p, p->reload_next, CHILD_ACTIVE) != NULL) {
            pool_replace(p, p->reload_next, METRICS_RESTART_RELOAD);
        } else {
            p->reload_next++;   /* empty slot: refilled fresh anyway */
            if (p->reload_next >= p->nslots) {
                p->reload_next = -1;
            }
        }
    }
    for (i = 0; i < p->nslots; i++) {
        active = pool_slot_child(p, i, CHILD_ACTIVE) != NULL;
        if (pool_slot_child(p, i, CHILD_PENDING) != NULL
            || (active && p->slots[i].want < 0))
        {
            continue;
        }
        if (p->slots[i].next_spawn_ms > now) {
            if (p->slots[i].next_spawn_ms - now < next) {
                next = p->slots[i].next_spawn_ms - now;
            }
            continue;
        }
        if (active) {
            pool_spawn(p, i, CHILD_PENDING, p->slots[i].want);
        } else {
            /* an empty slot is refilled directly; it replaces nothing */
            p->slots[i].want = -1;
            pool_spawn(p, i, CHILD_ACTIVE, METRICS_RESTART_CRASH);
        }
    }
    return (int) next;
}

/* Install the flag-setting handlers, block those signals outside
 * ppoll(), and fill waitmask with the mask ppoll() waits under. */
static void
pool_install_signals(sigset_t *waitmask)
{
    static const int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1 };

    wssig_handle(SIGCHLD, pool_on_chld);
    wssig_handle(SIGTERM, pool_on_term);
    wssig_handle(SIGINT, pool_on_term);
    wssig_handle(SIGHUP, pool_on_hup);
    wssig_handle(SIGUSR1, pool_on_usr1);
    wssig_block(sigs, sizeof(sigs) / sizeof(sigs[0]), waitmask);
}

int
pool_run(const struct config *cfg, int listen_fd)
{
    struct pool      p;
    struct pollfd    pfd;
    struct timespec  ts;
    sigset_t         waitmask;
    int64_t          now;
    int              timeout, i;

    memset(&p, 0, sizeof(p));
    p.cfg = cfg;
    p.listen_fd = listen_fd;
    p.nslots = (int) cfg->app_workers;
    p.reload_next = -1;
    p.slots = calloc((size_t) p.nslots, sizeof(*p.slots));
    if (p.slots == NULL) {
        LOG_ERROR("pool: out of memory");
        return 1;
    }
    for (i = 0; i < p.nslots; i++) {
        p.slots[i].want = -1;
    }
    if (pipe2(p.msg, O_NONBLOCK | O_CLOEXEC) != 0) {
        LOG_ERROR("pool: pipe2() failed: %s", strerror(errno));
        free(p.slots);
        return 1;
    }
    pool_install_signals(&waitmask);
    for (i = 0; i < p.nslots; i++) {
        pool_spawn(&p, i, CHILD_ACTIVE, METRICS_RESTART_CRASH);
    }
    for (;;) {
        if (pool_chld_flag) {
            pool_chld_flag = 0;
            pool_reap(&p);
        }
        pool_signals(&p);
        pool_messages(&p);
        now = loop_clock_ms();
        if (p.stopping) {
            if (!pool_any_child(&p)) {
                break;
            }
            if (now >= p.kill_at_ms) {
                LOG_WARN("pool: workers still running, SIGKILL");
                pool_kill_all(&p, SIGKILL);
                p.kill_at_ms = now + 1000;
            }
            timeout = 100;
        } else {
            pool_pending_timeouts(&p, now);
            timeout = pool_schedule(&p, now);
        }
        pfd.fd = p.msg[0];
        pfd.events = POLLIN;
        ts.tv_sec = timeout / 1000;
        ts.tv_nsec = (long) (timeout % 1000) * 1000000L;
        ppoll(&pfd, 1, &ts, &waitmask);
    }
    LOG_INFO("pool: all workers exited, bye");
    if (p.listen_fd >= 0) {
        close(p.listen_fd);
    }
    close(p.msg[0]);
    close(p.msg[1]);
    free(p.slots);
    return 0;
}
