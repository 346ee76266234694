/* collector.c -- the tailing loop
 *
 * One thread, one ppoll(2) over the inotify descriptor, stdout and the
 * optional TCP socket.  Per turn: read inotify events (they only set
 * "dirty" and "rescan" flags), write queued output, rescan the inputs'
 * directories when something came or went, read dirty files while the
 * output queue is below its high-water mark, let go of drained files,
 * and save the state file when due.
 *
 * Ordering guarantee: a line becomes an event appended to the output
 * queue together with a mark (file, generation, resume offset).  The mark
 * commits that offset only after write(2) has accepted every byte up to
 * the end of the event (outq.c), and only committed offsets are saved.
 * So a crash can repeat events written since the last checkpoint, never
 * lose one; a clean stop (SIGTERM) drains the queue, saves, and repeats
 * nothing.
 *
 * The file table (ftable.c) is a list in the order files were found, so
 * after a rotation the old file is read before the new one in each turn,
 * and is identified by (dev, inode) plus the fingerprint kept in struct
 * tfile.  A file that no longer appears under any input name is "gone"
 * (scan.c says so): it is still read (writers keep writing to a renamed
 * log for a while) and is let go here only when it is at its end,
 * nothing of it is queued, and it has not grown for close-quiet-ms.  Its
 * final partial line is emitted then.  The unfinished lines of all files
 * share one memory budget (partial-budget); above it the longest is
 * emitted early as a "truncated" event whose rest follows.
 *
 * The rest of the loop lives next to this file and shares struct
 * collector (collector_int.h): scan.c rescans and reconciles the inputs'
 * directories (hostile entries, renames, idle files put to sleep and
 * woken), orphan.c finds files again by inode, offsets.c loads and saves
 * the state, health.c touches the health file after each reconcile.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector_int.h"
#include "event.h"
#include "log.h"
#include "outq.h"
#include "tcpout.h"
#include "watch.h"
#include "wsclock.h"

#define COLLECTOR_CHUNKS 16      /* read-buffer loads per file per turn */
#define COLLECTOR_BUDGET_LOGS 10 /* budget flushes logged per reconcile */

/* What the line callback needs: the loop and the entry being read. */
struct collector_reading {
    struct collector    *c;
    struct ftable_entry *e;
};

/* Line callback from tfile_read(): encode, queue, mark. */
static int
collector_line(void *ctx, struct tfile *f, const char *line, size_t len,
    unsigned flags, uint64_t resume_off, int resume_skip)
{
    struct collector_reading *r = ctx;
    struct collector *c = r->c;

    if (!(flags & TFILE_LINE_NONE)) {
        struct event_line ev;
        const char *out;
        size_t outlen;

        ev.msg = line;
        ev.len = len;
        ev.path = f->path;
        ev.type = f->type;
        ev.truncated = (flags & (TFILE_LINE_TRUNCATED | TFILE_LINE_SPLIT))
            != 0;
        ev.ts_ms = (long long) wsclock_wall_ms();     /* "@timestamp" */
        if (event_encode(c->enc, &ev, &out, &outlen, c->err,
                sizeof(c->err)) != 0
            || outq_append(c->q, out, outlen) != 0)
        {
            return -1;
        }
        if (c->tcp != NULL) {
            tcpout_append(c->tcp, out, outlen);
        }
        if (flags & TFILE_LINE_TRUNCATED) {
            log_at(LOG_LEVEL_WARN, "line cut at %lld bytes path=%s inode=%llu "
                "offset=%llu", c->cfg->line_max, f->path,
                (unsigned long long) f->ino,
                (unsigned long long) resume_off);
        }
    }
    if (outq_mark(c->q, r->e, f->gen, resume_off, resume_skip) != 0) {
        return -1;
    }
    r->e->marks++;
    return 0;
}

/* Hand e's unfinished line to collector_line() now (tfile_flush_partial).
 * Returns 0, or -1 out of memory. */
static int
collector_flush_partial(struct collector *c, struct ftable_entry *e,
    unsigned flags)
{
    struct collector_reading r;

    r.c = c;
    r.e = e;
    return tfile_flush_partial(e->f, flags, collector_line, &r);
}

/* Commit callback from outq_flush(): the mark's bytes are all written. */
static void
collector_commit(void *ctx, const struct outq_mark *m)
{
    struct collector *c = ctx;
    struct ftable_entry *e = m->owner;

    e->marks--;
    if (m->gen == e->f->gen) {
        e->f->commit_off = m->offset;
        e->f->commit_skip = m->skip;
        c->state_dirty = 1;
    }
}

/* inotify callback: translate events into flags on files and dirs. */
static void
collector_event(void *ctx, int wd, unsigned flags, const char *name)
{
    struct collector *c = ctx;
    struct ftable_entry *e;
    size_t i;

    log_at(LOG_LEVEL_DEBUG, "event wd=%d %s name=%s", wd,
        watch_mask_name(flags), name);
    if (flags & WATCH_OVERFLOW) {
        log_at(LOG_LEVEL_WARN, "inotify queue overflow: full rescan");
        c->rescan = 1;
        for (e = c->files.head; e != NULL; e = e->next) {
            e->dirty = e->f->fd >= 0;
        }
        return;
    }
    for (e = c->files.head; e != NULL; e = e->next) {
        if (e->wd == wd) {
            e->dirty = 1;
            if (flags & (WATCH_GONE | WATCH_IGNORED | WATCH_ATTRIB)) {
                c->rescan = 1;
            }
            if (flags & WATCH_IGNORED) {
                e->wd = -1;
                c->polled = 1;
            }
            return;
        }
    }
    for (i = 0; i < c->cfg->ninputs; i++) {
        if (c->dirs[i].wd == wd) {
            c->rescan = 1;
            if (flags & (WATCH_GONE | WATCH_IGNORED)) {
                c->dirs[i].wd = -1;     /* the directory itself went away */
            }
        }
    }
}

/*
 * The unfinished lines of all files hold more than partial-budget bytes:
 * emit the longest ones now as events marked truncated (their rest
 * follows as the next event of that file) until they fit again.
 */
static void
collector_budget(struct collector *c)
{
    while (c->partial_held > (size_t) c->cfg->partial_budget) {
        struct ftable_entry *e, *longest = NULL;

        for (e = c->files.head; e != NULL; e = e->next) {
            if (e->f->plen > 0
                && (longest == NULL || e->f->plen > longest->f->plen))
            {
                longest = e;
            }
        }
        if (longest == NULL) {
            break;
        }
        if (c->budget_logged < COLLECTOR_BUDGET_LOGS) {
            log_at(LOG_LEVEL_WARN, "partial-line budget exceeded held=%zu "
                "budget=%lld: emitting unfinished line early path=%s "
                "inode=%llu bytes=%zu; its rest follows", c->partial_held,
                c->cfg->partial_budget, longest->f->path,
                (unsigned long long) longest->f->ino, longest->f->plen);
            c->budget_logged++;
        } else {
            c->budget_flushes++;
        }
        if (collector_flush_partial(c, longest, TFILE_LINE_SPLIT) != 0) {
            log_at(LOG_LEVEL_ERROR, "out of memory");
            break;
        }
    }
}

/* Read one dirty file as far as the budget and the output queue allow. */
static void
collector_read_file(struct collector *c, struct ftable_entry *e)
{
    struct tfile *f = e->f;
    struct collector_reading r;
    uint64_t before = f->read_off;
    int truncated, rc;

    if (f->fd < 0) {
        e->dirty = 0;                   /* suspended */
        return;
    }
    if (tfile_check(f, &truncated, c->err, sizeof(c->err)) != 0) {
        log_at(LOG_LEVEL_WARN, "%s", c->err);
        e->dirty = 0;
        return;
    }
    if (truncated) {
        log_at(LOG_LEVEL_WARN, "truncated path=%s inode=%llu old_offset=%llu "
            "size=%llu; reading from 0", f->path,
            (unsigned long long) f->ino, (unsigned long long) before,
            (unsigned long long) f->size);
        c->state_dirty = 1;
        before = 0;
    }
    r.c = c;
    r.e = e;
    rc = tfile_read(f, c->rbuf, (size_t) c->cfg->read_buffer,
        (size_t) c->cfg->read_buffer, (size_t) c->cfg->line_max,
        collector_line, &r, c->err, sizeof(c->err));
    if (c->partial_held > (size_t) c->cfg->partial_budget) {
        collector_budget(c);
    }
    if (rc < 0) {
        log_at(LOG_LEVEL_ERROR, "%s path=%s inode=%llu", c->err, f->path,
            (unsigned long long) f->ino);
        e->dirty = 0;
        return;
    }
    if (f->read_off != before) {
        e->growth_ms = c->now;
    }
    log_at(LOG_LEVEL_DEBUG, "read path=%s inode=%llu from=%llu to=%llu "
        "size=%llu rc=%d", f->path, (unsigned long long) f->ino,
        (unsigned long long) before, (unsigned long long) f->read_off,
        (unsigned long long) f->size, rc);
    if (rc == TFILE_EOF) {
        e->dirty = 0;
    }
}

/*
 * Read dirty files in table order while the output queue has room: one
 * read buffer at a time, so the queue overshoots its high-water mark by
 * at most one buffer's worth of events, and at most COLLECTOR_CHUNKS
 * buffers per file per turn, so one busy file does not starve the rest.
 */
static int
collector_read_all(struct collector *c)
{
    struct ftable_entry *e;
    int more = 0, k;

    for (e = c->files.head; e != NULL; e = e->next) {
        for (k = 0; e->dirty && k < COLLECTOR_CHUNKS; k++) {
            if (outq_pending(c->q) >= (size_t) c->cfg->out_buffer) {
                return 1;
            }
            collector_read_file(c, e);
        }
        more |= e->dirty;
    }
    return more;
}

/* Let go of gone files that are drained and quiet. */
static void
collector_release(struct collector *c)
{
    struct ftable_entry **pp = &c->files.head;

    while (*pp != NULL) {
        struct ftable_entry *e = *pp;
        struct tfile *f = e->f;

        if (!e->gone || e->dirty || f->read_off < f->size
            || c->now - e->growth_ms < c->cfg->close_quiet_ms)
        {
            pp = &e->next;
            continue;
        }
        if (f->plen > 0) {
            log_at(LOG_LEVEL_INFO, "flushing final partial line path=%s "
                "inode=%llu bytes=%zu", f->path, (unsigned long long) f->ino,
                f->plen);
            if (collector_flush_partial(c, e, 0) != 0) {
                log_at(LOG_LEVEL_ERROR, "out of memory");
            }
        }
        if (e->marks > 0) {
            pp = &e->next;
            continue;
        }
        log_at(LOG_LEVEL_INFO, "closed path=%s inode=%llu offset=%llu",
            f->path, (unsigned long long) f->ino,
            (unsigned long long) f->read_off);
        scan_let_go(c, pp);
    }
}

/*
 * Periodic reconcile (scan_reconcile()), then the partial-line budget's
 * summary for the period.
 */
static void
collector_reconcile(struct collector *c)
{
    scan_reconcile(c);
    if (c->budget_flushes > 0) {
        log_at(LOG_LEVEL_WARN, "partial-line budget: %lu more unfinished lines "
            "emitted early (not logged one by one)", c->budget_flushes);
        c->budget_flushes = 0;
    }
    c->budget_logged = 0;
}

/*
 * Build the collector: load the saved state, watch the inputs, open the
 * files found.  Returns NULL with err filled on failure.
 */
struct collector *
collector_create(const struct config *cfg, char *err, size_t errlen)
{
    struct collector *c = calloc(1, sizeof(*c));
    size_t i;

    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->cfg = cfg;
    c->health.path = cfg->health_file;
    ftable_init(&c->files);
    c->now = wsclock_mono_ms();
    c->dirs = calloc(cfg->ninputs ? cfg->ninputs : 1, sizeof(*c->dirs));
    c->rbuf = malloc((size_t) cfg->read_buffer);
    if (c->dirs == NULL || c->rbuf == NULL) {
        snprintf(err, errlen, "out of memory");
        goto error;
    }
    for (i = 0; i < cfg->ninputs; i++) {
        c->dirs[i].wd = -1;
    }
    if (offsets_load(c, err, errlen) != 0) {
        goto error;
    }
    c->watch = watch_create(err, errlen);
    if (c->watch == NULL) {
        goto error;
    }
    c->q = outq_create(err, errlen);
    if (c->q == NULL) {
        goto error;
    }
    c->enc = event_encoder_create(cfg->host, (int) cfg->parse,
        (size_t) cfg->line_max, err, errlen);
    if (c->enc == NULL) {
        goto error;
    }
    if (cfg->tcp[0] != '\0') {
        c->tcp = tcpout_create(cfg->tcp, (size_t) cfg->tcp_buffer, err,
            errlen);
        if (c->tcp == NULL) {
            goto error;
        }
    }
    c->starting = 1;
    scan_rescan(c);
    if (c->have_state) {
        orphan_recover(c);
    }
    c->starting = 0;
    offsets_started(c);
    offsets_save(c);
    health_touch(&c->health);
    c->next_reconcile = c->now + cfg->reconcile_ms;
    return c;

error:
    collector_destroy(c);
    return NULL;
}

/* Close everything.  Accepts NULL and half-built collectors. */
void
collector_destroy(struct collector *c)
{
    if (c == NULL) {
        return;
    }
    ftable_destroy(&c->files);
    note_clear(&c->notes);
    tcpout_destroy(c->tcp);
    event_encoder_destroy(c->enc);
    outq_destroy(c->q);
    watch_destroy(c->watch);
    state_clear(&c->saved);
    free(c->saved_used);
    free(c->rbuf);
    free(c->dirs);
    free(c);
}

/* Service the TCP output and log its state changes. */
static void
collector_tcp(struct collector *c)
{
    static uint64_t reported;
    int rc;

    if (c->tcp == NULL) {
        return;
    }
    rc = tcpout_service(c->tcp, c->now, c->err, sizeof(c->err));
    if (rc == TCPOUT_CONNECTED) {
        log_at(LOG_LEVEL_INFO, "tcp: connected to %s", c->cfg->tcp);
    } else if (rc == TCPOUT_LOST) {
        log_at(LOG_LEVEL_WARN, "%s; retrying", c->err);
    }
    if (tcpout_dropped(c->tcp) != reported) {
        reported = tcpout_dropped(c->tcp);
        log_at(LOG_LEVEL_WARN, "tcp: queue full, events dropped=%llu",
            (unsigned long long) reported);
    }
}

/* Milliseconds poll may sleep, given pending work. */
static int
collector_timeout(struct collector *c, int busy)
{
    long long until = c->next_reconcile, t;

    if (busy) {
        return 0;
    }
    if (c->state_dirty && c->last_save + c->cfg->checkpoint_ms < until) {
        until = c->last_save + c->cfg->checkpoint_ms;
    }
    if (c->tcp != NULL && tcpout_next_ms(c->tcp) >= 0
        && tcpout_next_ms(c->tcp) < until)
    {
        until = tcpout_next_ms(c->tcp);
    }
    t = until - c->now;
    return t < 0 ? 0 : t > 60000 ? 60000 : (int) t;
}

/* On stop: write what is queued (bounded by drain-ms), then save. */
static int
collector_drain(struct collector *c)
{
    long long deadline = wsclock_mono_ms() + c->cfg->drain_ms;
    int rc;

    for (;;) {
        struct pollfd pfd = { STDOUT_FILENO, POLLOUT, 0 };

        rc = outq_flush(c->q, STDOUT_FILENO, collector_commit, c, c->err,
            sizeof(c->err));
        if (rc != 0) {
            break;
        }
        c->now = wsclock_mono_ms();
        if (c->now >= deadline) {
            log_at(LOG_LEVEL_WARN, "stop: stdout still blocked after %lld ms, "
                "%zu bytes not written (they will be read again)",
                c->cfg->drain_ms, outq_pending(c->q));
            break;
        }
        poll(&pfd, 1, (int) (deadline - c->now));
    }
    if (rc < 0) {
        log_at(LOG_LEVEL_ERROR, "%s", c->err);
    }
    c->now = wsclock_mono_ms();
    offsets_save(c);
    log_at(LOG_LEVEL_INFO, "stopped files=%zu", c->files.n);
    return rc < 0 ? 1 : 0;
}

/* stdout non-blocking, and a larger pipe when it is one. */
static void
collector_stdout_setup(void)
{
    int flags = fcntl(STDOUT_FILENO, F_GETFL);
    struct stat st;

    if (flags >= 0) {
        fcntl(STDOUT_FILENO, F_SETFL, flags | O_NONBLOCK);
    }
    if (fstat(STDOUT_FILENO, &st) == 0 && S_ISFIFO(st.st_mode)) {
        /* stdout is a pipe under Docker: a larger one means fewer
         * wake-ups per megabyte.  The kernel caps the size at
         * fs.pipe-max-size (1 MiB by default); failure is harmless. */
        (void) fcntl(STDOUT_FILENO, F_SETPIPE_SZ, 1 << 20);
    }
}

/*
 * Wait in ppoll(2) for inotify, stdout (when output is queued) and the
 * TCP output, at most as long as collector_timeout() allows.  Returns 0
 * with stdout's revents in *out_revents, or -1 (logged) if ppoll failed.
 */
static int
collector_wait(struct collector *c, int busy, const sigset_t *waitmask,
    short *out_revents)
{
    struct pollfd pfd[3];
    struct timespec ts;
    int timeout, nfd = 2, rc;

    c->now = wsclock_mono_ms();
    timeout = collector_timeout(c, busy);
    pfd[0].fd = watch_fd(c->watch);
    pfd[0].events = POLLIN;
    pfd[1].fd = STDOUT_FILENO;
    pfd[1].events = outq_pending(c->q) > 0 ? POLLOUT : 0;
    if (c->tcp != NULL) {
        pfd[2].fd = tcpout_poll_fd(c->tcp, &pfd[2].events);
        nfd = 3;
    }
    ts.tv_sec = timeout / 1000;
    ts.tv_nsec = (long) (timeout % 1000) * 1000000L;
    rc = ppoll(pfd, (nfds_t) nfd, &ts, waitmask);
    if (rc < 0 && errno != EINTR) {
        log_at(LOG_LEVEL_ERROR, "ppoll(): %s", strerror(errno));
        return -1;
    }
    if (rc > 0) {
        /* ppoll(2) delivers a pending stop signal only when it
         * sleeps; with a descriptor ready it returns first.  Open the
         * mask for a moment so a stop is never postponed by a busy
         * loop. */
        sigset_t old;

        sigprocmask(SIG_SETMASK, waitmask, &old);
        sigprocmask(SIG_SETMASK, &old, NULL);
    }
    *out_revents = pfd[1].revents;
    return 0;
}

/* Write what stdout accepts and commit its marks.  Returns 0, or -1 when
 * stdout failed (logged, offsets saved): the loop stops. */
static int
collector_flush(struct collector *c)
{
    if (outq_flush(c->q, STDOUT_FILENO, collector_commit, c, c->err,
            sizeof(c->err)) < 0)
    {
        log_at(LOG_LEVEL_ERROR, "%s; stopping", c->err);
        offsets_save(c);
        return -1;
    }
    return 0;
}

/*
 * One turn after a wait: take inotify's news, write, rescan or reconcile
 * when due, read dirty files, let go of drained ones, write again,
 * service TCP, save when due.  *busy says whether work is left that
 * should not wait.  Returns 0, or -1 (logged) to stop with exit code 1.
 */
static int
collector_turn(struct collector *c, int *busy)
{
    c->now = wsclock_mono_ms();
    if (watch_read(c->watch, collector_event, c, c->err,
            sizeof(c->err)) < 0)
    {
        log_at(LOG_LEVEL_ERROR, "%s", c->err);
        return -1;
    }
    if (collector_flush(c) != 0) {
        return -1;
    }
    if (c->now >= c->next_reconcile) {
        collector_reconcile(c);
        health_touch(&c->health);
        c->next_reconcile = c->now
            + (c->polled ? c->cfg->poll_ms : c->cfg->reconcile_ms);
    } else if (c->rescan) {
        scan_rescan(c);
        if (c->polled && c->next_reconcile > c->now + c->cfg->poll_ms) {
            c->next_reconcile = c->now + c->cfg->poll_ms;
        }
    }
    *busy = collector_read_all(c);
    collector_release(c);
    if (collector_flush(c) != 0) {
        return -1;
    }
    if (outq_pending(c->q) >= (size_t) c->cfg->out_buffer) {
        *busy = 0;                      /* wait for stdout, not spin */
    }
    collector_tcp(c);
    if (c->state_dirty && c->now - c->last_save >= c->cfg->checkpoint_ms) {
        offsets_save(c);
    }
    return 0;
}

/*
 * Run until *stop is set (then drain, save, return 0) or stdout fails
 * (return 1).  waitmask is the signal mask used while waiting, so a stop
 * signal interrupts the wait.
 */
int
collector_run(struct collector *c, volatile sig_atomic_t *stop,
    const sigset_t *waitmask)
{
    int busy = 1;
    short out_revents;

    collector_stdout_setup();
    while (!*stop) {
        if (collector_wait(c, busy, waitmask, &out_revents) != 0) {
            return 1;
        }
        if (*stop) {
            break;
        }
        if (out_revents & (POLLERR | POLLHUP)) {
            /* the reader of stdout went away: nothing can be written,
             * and polling on would spin */
            log_at(LOG_LEVEL_ERROR, "stdout closed by its reader; stopping");
            offsets_save(c);
            return 1;
        }
        if (collector_turn(c, &busy) != 0) {
            return 1;
        }
    }
    log_at(LOG_LEVEL_INFO, "stop requested: draining stdout");
    return collector_drain(c);
}
