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
 * The file table is a list in the order files were found, so after a
 * rotation the old file is read before the new one in each turn, and is
 * identified by (dev, inode) plus the fingerprint kept in struct tfile.
 * A file that no longer appears under any input name is "gone": it is
 * still read (writers keep writing to a renamed log for a while) and is
 * closed only when it is at its end, nothing of it is queued, and it has
 * not grown for close-quiet-ms.  Its final partial line is emitted then.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collector.h"
#include "event.h"
#include "log.h"
#include "outq.h"
#include "state.h"
#include "tcpout.h"
#include "tfile.h"
#include "watch.h"

#define COLLECTOR_CHUNKS 16      /* read-buffer loads per file per turn */
#define COLLECTOR_UNREADABLE_MAX 64

struct collector_dir {
    int wd;                     /* -1: not watched (missing or polled) */
    int missing;
    int polled_logged;          /* "polling dir=" said once */
};

struct collector {
    const struct config   *cfg;
    struct watch          *watch;
    struct outq           *q;
    struct event_encoder  *enc;
    struct tcpout         *tcp;
    struct collector_dir  *dirs;        /* one per input */
    struct tfile          *files;       /* in the order found */
    size_t                 nfiles;
    char                  *rbuf;
    struct state           saved;       /* loaded at start, for resume */
    unsigned char         *saved_used;
    int                    have_state;
    int                    starting;
    int                    rescan;
    int                    state_dirty;
    int                    polled;      /* some file or dir has no watch */
    int                    health_warned; /* health-file failure logged */
    long long              now;
    long long              next_reconcile;
    long long              last_save;
    char                  *unreadable[COLLECTOR_UNREADABLE_MAX];
    size_t                 nunreadable;
    char                   err[1024];
};

/* Monotonic milliseconds, for every interval.  This can't fail. */
static long long
collector_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wall-clock milliseconds since the epoch, for "@timestamp". */
static long long
collector_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Line callback from tfile_read(): encode, queue, mark. */
static int
collector_line(void *ctx, struct tfile *f, const char *line, size_t len,
    unsigned flags, uint64_t resume_off, int resume_skip)
{
    struct collector *c = ctx;

    if (!(flags & TFILE_LINE_NONE)) {
        struct event_line ev;
        const char *out;
        size_t outlen;

        ev.msg = line;
        ev.len = len;
        ev.path = f->path;
        ev.type = f->type;
        ev.truncated = (flags & TFILE_LINE_TRUNCATED) != 0;
        ev.ts_ms = collector_wall_ms();
        if (event_encode(c->enc, &ev, &out, &outlen, c->err,
                sizeof(c->err)) != 0
            || outq_append(c->q, out, outlen) != 0)
        {
            return -1;
        }
        if (c->tcp != NULL) {
            tcpout_append(c->tcp, out, outlen);
        }
        if (ev.truncated) {
            log_at(LOG_WARN, "line cut at %lld bytes path=%s inode=%llu "
                "offset=%llu", c->cfg->line_max, f->path,
                (unsigned long long) f->ino,
                (unsigned long long) resume_off);
        }
    }
    if (outq_mark(c->q, f, f->gen, resume_off, resume_skip) != 0) {
        return -1;
    }
    f->marks++;
    return 0;
}

/* Commit callback from outq_flush(): the mark's bytes are all written. */
static void
collector_commit(void *ctx, const struct outq_mark *m)
{
    struct collector *c = ctx;
    struct tfile *f = m->owner;

    f->marks--;
    if (m->gen == f->gen) {
        f->commit_off = m->offset;
        f->commit_skip = m->skip;
        c->state_dirty = 1;
    }
}

/* The open file with this identity, or NULL. */
static struct tfile *
collector_find(struct collector *c, uint64_t dev, uint64_t ino)
{
    struct tfile *f;

    for (f = c->files; f != NULL; f = f->next) {
        if (f->dev == dev && f->ino == ino) {
            return f;
        }
    }
    return NULL;
}

/* Log "cannot open" once per path until it becomes readable. */
static void
collector_unreadable(struct collector *c, const char *path, int add)
{
    size_t i;

    for (i = 0; i < c->nunreadable; i++) {
        if (strcmp(c->unreadable[i], path) == 0) {
            if (!add) {
                free(c->unreadable[i]);
                c->unreadable[i] = c->unreadable[--c->nunreadable];
            }
            return;
        }
    }
    if (add) {
        log_at(LOG_WARN, "%s; will retry when its attributes change",
            c->err);
        if (c->nunreadable < COLLECTOR_UNREADABLE_MAX) {
            c->unreadable[c->nunreadable] = strdup(path);
            if (c->unreadable[c->nunreadable] != NULL) {
                c->nunreadable++;
            }
        }
    }
}

/* Index in c->saved of the entry for f, or -1. */
static long
collector_saved_entry(struct collector *c, const struct tfile *f)
{
    size_t i;

    for (i = 0; i < c->saved.n; i++) {
        if (c->saved.e[i].dev == f->dev && c->saved.e[i].ino == f->ino
            && !c->saved_used[i])
        {
            return (long) i;
        }
    }
    return -1;
}

/*
 * Decide where a newly found file starts.  Files seen in the saved state
 * resume there if their first bytes still match; files found after the
 * first scan, or found while a state file exists, start at 0; files
 * present at the very first start begin at their end unless
 * from-beginning is set.
 */
static void
collector_place(struct collector *c, struct tfile *f)
{
    long i = c->starting ? collector_saved_entry(c, f) : -1;
    const char *why;

    if (i >= 0) {
        struct state_entry *e = &c->saved.e[i];

        c->saved_used[i] = 1;
        if (tfile_prefix_matches(f, e->fp_len, e->fp) && f->size >= e->offset)
        {
            tfile_seek(f, e->offset, e->skip);
            why = "resume";
        } else {
            tfile_seek(f, 0, 0);
            why = "changed while stopped, from start";
        }
    } else if (c->starting && !c->have_state && !c->cfg->from_beginning) {
        tfile_seek(f, f->size, 0);
        why = "at end";
    } else {
        tfile_seek(f, 0, 0);
        why = "from start";
    }
    log_at(LOG_INFO, "open path=%s inode=%llu size=%llu offset=%llu (%s)",
        f->path, (unsigned long long) f->ino, (unsigned long long) f->size,
        (unsigned long long) f->read_off, why);
}

/* Add f at the end of the table and give it an inotify watch. */
static void
collector_adopt(struct collector *c, struct tfile *f)
{
    struct tfile **pp = &c->files;

    f->wd = watch_add_file(c->watch, f->path, c->err, sizeof(c->err));
    if (f->wd < 0) {
        log_at(LOG_WARN, "%s; polling path=%s every %lld ms", c->err,
            f->path, c->cfg->poll_ms);
        c->polled = 1;
    }
    while (*pp != NULL) {
        pp = &(*pp)->next;
    }
    *pp = f;
    c->nfiles++;
    f->dirty = 1;
    f->seen = 1;
    f->growth_ms = c->now;
    c->state_dirty = 1;
}

/* Look at one directory entry of input idx. */
static void
collector_consider(struct collector *c, size_t idx, const char *path)
{
    struct stat st;
    struct tfile *f;

    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        return;
    }
    f = collector_find(c, (uint64_t) st.st_dev, (uint64_t) st.st_ino);
    if (f != NULL) {
        if (f->seen) {
            return;                     /* matched by an earlier input */
        }
        f->seen = 1;
        if (f->gone) {
            f->gone = 0;
            log_at(LOG_INFO, "back path=%s inode=%llu", path,
                (unsigned long long) f->ino);
        }
        if (strcmp(f->path, path) != 0) {
            char *np = strdup(path);

            if (np != NULL) {
                log_at(LOG_INFO, "renamed path=%s new=%s inode=%llu",
                    f->path, np, (unsigned long long) f->ino);
                free(f->path);
                f->path = np;
                c->state_dirty = 1;
            }
        }
        return;
    }
    f = tfile_open(path, c->cfg->inputs[idx].type, c->err, sizeof(c->err));
    if (f == NULL) {
        if (errno == EACCES || errno == EPERM) {
            collector_unreadable(c, path, 1);
        } else if (errno != ENOENT) {
            log_at(LOG_WARN, "%s", c->err);
        }
        return;
    }
    collector_unreadable(c, path, 0);
    collector_place(c, f);
    collector_adopt(c, f);
}

/* Make sure input idx's directory is watched, if it exists. */
static void
collector_watch_dir(struct collector *c, size_t idx)
{
    struct collector_dir *d = &c->dirs[idx];
    const char *dir = c->cfg->inputs[idx].dir;

    if (d->wd >= 0) {
        return;
    }
    d->wd = watch_add_dir(c->watch, dir, c->err, sizeof(c->err));
    if (d->wd >= 0) {
        if (d->missing) {
            log_at(LOG_INFO, "directory appeared dir=%s", dir);
        }
        d->missing = 0;
        return;
    }
    if (errno == ENOENT || errno == ENOTDIR) {
        if (!d->missing) {
            log_at(LOG_INFO, "directory missing dir=%s; checking every "
                "%lld ms", dir, c->cfg->poll_ms);
        }
        d->missing = 1;
    } else if (!d->polled_logged) {
        log_at(LOG_WARN, "%s; polling dir=%s every %lld ms", c->err, dir,
            c->cfg->poll_ms);
        d->polled_logged = 1;
    }
    c->polled = 1;
}

/*
 * Rescan every input's directory: adopt new files, follow renames, and
 * mark files that no input name reaches any more as gone.
 */
static void
collector_rescan(struct collector *c)
{
    struct tfile *f;
    size_t i;

    c->rescan = 0;
    c->polled = 0;
    for (f = c->files; f != NULL; f = f->next) {
        f->seen = 0;
        if (f->wd < 0) {
            c->polled = 1;
        }
    }
    for (i = 0; i < c->cfg->ninputs; i++) {
        const struct config_input *in = &c->cfg->inputs[i];
        DIR *d;
        struct dirent *de;

        collector_watch_dir(c, i);
        d = opendir(in->dir);
        if (d == NULL) {
            continue;
        }
        while ((de = readdir(d)) != NULL) {
            char path[4096];
            int n;

            if (fnmatch(in->pattern, de->d_name, FNM_PERIOD) != 0) {
                continue;
            }
            n = snprintf(path, sizeof(path), "%s/%s", in->dir, de->d_name);
            if (n > 0 && (size_t) n < sizeof(path)) {
                collector_consider(c, i, path);
            }
        }
        closedir(d);
    }
    for (f = c->files; f != NULL; f = f->next) {
        if (!f->seen && !f->gone) {
            f->gone = 1;
            f->gone_ms = c->now;
            f->dirty = 1;
            log_at(LOG_INFO, "rotated or deleted path=%s inode=%llu "
                "offset=%llu; draining", f->path, (unsigned long long) f->ino,
                (unsigned long long) f->read_off);
        }
    }
}

/*
 * At start, find saved files no input name matched (rotated while the
 * collector was down) by inode in the inputs' directories, and drain them
 * from their saved offsets.
 */
static void
collector_orphans(struct collector *c)
{
    size_t i, k;

    for (i = 0; i < c->saved.n; i++) {
        struct state_entry *e = &c->saved.e[i];
        int found = 0;

        if (c->saved_used[i]) {
            continue;
        }
        for (k = 0; k < c->cfg->ninputs && !found; k++) {
            DIR *d = opendir(c->cfg->inputs[k].dir);
            struct dirent *de;

            if (d == NULL) {
                continue;
            }
            while (!found && (de = readdir(d)) != NULL) {
                char path[4096];
                struct stat st;
                struct tfile *f;
                int n;

                if ((uint64_t) de->d_ino != e->ino) {
                    continue;
                }
                n = snprintf(path, sizeof(path), "%s/%s",
                    c->cfg->inputs[k].dir, de->d_name);
                if (n < 0 || (size_t) n >= sizeof(path)
                    || stat(path, &st) != 0 || !S_ISREG(st.st_mode)
                    || (uint64_t) st.st_dev != e->dev
                    || (uint64_t) st.st_ino != e->ino
                    || collector_find(c, e->dev, e->ino) != NULL)
                {
                    continue;
                }
                f = tfile_open(path, c->cfg->inputs[k].type, c->err,
                    sizeof(c->err));
                if (f == NULL) {
                    log_at(LOG_WARN, "%s", c->err);
                    continue;
                }
                if (!tfile_prefix_matches(f, e->fp_len, e->fp)
                    || f->size < e->offset)
                {
                    tfile_close(f);
                    continue;
                }
                tfile_seek(f, e->offset, e->skip);
                c->saved_used[i] = 1;
                found = 1;
                log_at(LOG_INFO, "rotated while stopped path=%s was=%s "
                    "inode=%llu offset=%llu size=%llu; draining", path,
                    e->path, (unsigned long long) e->ino,
                    (unsigned long long) e->offset,
                    (unsigned long long) f->size);
                collector_adopt(c, f);
                f->gone = 1;
                f->gone_ms = c->now;
            }
            closedir(d);
        }
        if (!found) {
            log_at(LOG_WARN, "saved file not found path=%s inode=%llu "
                "offset=%llu (deleted while stopped?)", e->path,
                (unsigned long long) e->ino, (unsigned long long) e->offset);
        }
    }
}

/* inotify callback: translate events into flags on files and dirs. */
static void
collector_event(void *ctx, int wd, unsigned flags, const char *name)
{
    struct collector *c = ctx;
    struct tfile *f;
    size_t i;

    log_at(LOG_DEBUG, "event wd=%d %s name=%s", wd, watch_mask_name(flags),
        name);
    if (flags & WATCH_OVERFLOW) {
        log_at(LOG_WARN, "inotify queue overflow: full rescan");
        c->rescan = 1;
        for (f = c->files; f != NULL; f = f->next) {
            f->dirty = 1;
        }
        return;
    }
    for (f = c->files; f != NULL; f = f->next) {
        if (f->wd == wd) {
            f->dirty = 1;
            if (flags & (WATCH_GONE | WATCH_IGNORED | WATCH_ATTRIB)) {
                c->rescan = 1;
            }
            if (flags & WATCH_IGNORED) {
                f->wd = -1;
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

/* Read one dirty file as far as the budget and the output queue allow. */
static void
collector_read_file(struct collector *c, struct tfile *f)
{
    uint64_t before = f->read_off;
    int truncated, rc;

    if (tfile_check(f, &truncated, c->err, sizeof(c->err)) != 0) {
        log_at(LOG_WARN, "%s", c->err);
        f->dirty = 0;
        return;
    }
    if (truncated) {
        log_at(LOG_WARN, "truncated path=%s inode=%llu old_offset=%llu "
            "size=%llu; reading from 0", f->path,
            (unsigned long long) f->ino, (unsigned long long) before,
            (unsigned long long) f->size);
        c->state_dirty = 1;
        before = 0;
    }
    rc = tfile_read(f, c->rbuf, (size_t) c->cfg->read_buffer,
        (size_t) c->cfg->read_buffer, (size_t) c->cfg->line_max,
        collector_line, c,
        c->err, sizeof(c->err));
    if (rc < 0) {
        log_at(LOG_ERROR, "%s path=%s inode=%llu", c->err, f->path,
            (unsigned long long) f->ino);
        f->dirty = 0;
        return;
    }
    if (f->read_off != before) {
        f->growth_ms = c->now;
    }
    log_at(LOG_DEBUG, "read path=%s inode=%llu from=%llu to=%llu size=%llu "
        "rc=%d", f->path, (unsigned long long) f->ino,
        (unsigned long long) before, (unsigned long long) f->read_off,
        (unsigned long long) f->size, rc);
    if (rc == TFILE_EOF) {
        f->dirty = 0;
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
    struct tfile *f;
    int more = 0, k;

    for (f = c->files; f != NULL; f = f->next) {
        for (k = 0; f->dirty && k < COLLECTOR_CHUNKS; k++) {
            if (outq_pending(c->q) >= (size_t) c->cfg->out_buffer) {
                return 1;
            }
            collector_read_file(c, f);
        }
        more |= f->dirty;
    }
    return more;
}

/* Let go of gone files that are drained and quiet. */
static void
collector_release(struct collector *c)
{
    struct tfile **pp = &c->files;

    while (*pp != NULL) {
        struct tfile *f = *pp;

        if (!f->gone || f->dirty || f->read_off < f->size
            || c->now - f->growth_ms < c->cfg->close_quiet_ms)
        {
            pp = &f->next;
            continue;
        }
        if (f->plen > 0) {
            log_at(LOG_INFO, "flushing final partial line path=%s "
                "inode=%llu bytes=%zu", f->path, (unsigned long long) f->ino,
                f->plen);
            if (tfile_flush_partial(f, collector_line, c) != 0) {
                log_at(LOG_ERROR, "out of memory");
            }
        }
        if (f->marks > 0) {
            pp = &f->next;
            continue;
        }
        log_at(LOG_INFO, "closed path=%s inode=%llu offset=%llu",
            f->path, (unsigned long long) f->ino,
            (unsigned long long) f->read_off);
        watch_remove(c->watch, f->wd);
        *pp = f->next;
        c->nfiles--;
        outq_forget(c->q, f);
        tfile_close(f);
        c->state_dirty = 1;
    }
}

/* Periodic stat() reconcile: catch what inotify missed. */
static void
collector_reconcile(struct collector *c)
{
    struct tfile *f;

    collector_rescan(c);
    for (f = c->files; f != NULL; f = f->next) {
        struct stat st;

        if (fstat(f->fd, &st) == 0 && (uint64_t) st.st_size != f->read_off) {
            f->size = (uint64_t) st.st_size;
            f->dirty = 1;
        }
    }
}

/* Save committed offsets of every open file.  Logs on failure. */
static void
collector_save(struct collector *c)
{
    struct state st = { NULL, 0, 0 };
    struct tfile *f;

    c->last_save = c->now;
    if (c->cfg->state[0] == '\0') {
        c->state_dirty = 0;
        return;
    }
    for (f = c->files; f != NULL; f = f->next) {
        struct state_entry e;

        e.dev = f->dev;
        e.ino = f->ino;
        e.fp_len = f->fp_len;
        e.fp = f->fp;
        e.offset = f->commit_off;
        e.skip = f->commit_skip;
        e.path = f->path;
        if (state_add(&st, &e) != 0) {
            log_at(LOG_ERROR, "state: out of memory");
            state_clear(&st);
            return;
        }
    }
    if (state_save(&st, c->cfg->state, c->err, sizeof(c->err)) != 0) {
        log_at(LOG_ERROR, "state: %s", c->err);
    } else {
        c->state_dirty = 0;
    }
    state_clear(&st);
}

/* Touch the health file (create it if needed): the loop is alive and has
 * just checked every input.  A failure is logged once per run of failures
 * and is otherwise harmless: only the healthcheck reading it can tell. */
static void
collector_health(struct collector *c)
{
    const char *path = c->cfg->health_file;
    int fd;

    if (path == NULL || *path == '\0') {
        return;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
        0644);
    if (fd < 0 || futimens(fd, NULL) != 0) {
        if (!c->health_warned) {
            log_at(LOG_WARN, "health-file %s: %s", path, strerror(errno));
            c->health_warned = 1;
        }
    } else if (c->health_warned) {
        log_at(LOG_INFO, "health-file %s: writable again", path);
        c->health_warned = 0;
    }
    if (fd >= 0) {
        close(fd);
    }
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
    int rc;

    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->cfg = cfg;
    c->now = collector_now();
    c->dirs = calloc(cfg->ninputs ? cfg->ninputs : 1, sizeof(*c->dirs));
    c->rbuf = malloc((size_t) cfg->read_buffer);
    if (c->dirs == NULL || c->rbuf == NULL) {
        snprintf(err, errlen, "out of memory");
        goto error;
    }
    for (i = 0; i < cfg->ninputs; i++) {
        c->dirs[i].wd = -1;
    }
    if (cfg->state[0] != '\0') {
        rc = state_load(&c->saved, cfg->state, err, errlen);
        if (rc < 0) {
            goto error;
        }
        c->have_state = rc == 0;
        log_at(LOG_INFO, "state %s path=%s entries=%zu",
            rc == 0 ? "loaded" : "absent, first start", cfg->state,
            c->saved.n);
    }
    c->saved_used = calloc(c->saved.n + 1, 1);
    if (c->saved_used == NULL) {
        snprintf(err, errlen, "out of memory");
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
    collector_rescan(c);
    if (c->have_state) {
        collector_orphans(c);
    }
    c->starting = 0;
    state_clear(&c->saved);
    collector_save(c);
    collector_health(c);
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
    size_t i;

    if (c == NULL) {
        return;
    }
    while (c->files != NULL) {
        struct tfile *f = c->files;

        c->files = f->next;
        tfile_close(f);
    }
    for (i = 0; i < c->nunreadable; i++) {
        free(c->unreadable[i]);
    }
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
        log_at(LOG_INFO, "tcp: connected to %s", c->cfg->tcp);
    } else if (rc == TCPOUT_LOST) {
        log_at(LOG_WARN, "%s; retrying", c->err);
    }
    if (tcpout_dropped(c->tcp) != reported) {
        reported = tcpout_dropped(c->tcp);
        log_at(LOG_WARN, "tcp: queue full, events dropped=%llu",
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
    long long deadline = collector_now() + c->cfg->drain_ms;
    int rc;

    for (;;) {
        struct pollfd pfd = { STDOUT_FILENO, POLLOUT, 0 };

        rc = outq_flush(c->q, STDOUT_FILENO, collector_commit, c, c->err,
            sizeof(c->err));
        if (rc != 0) {
            break;
        }
        c->now = collector_now();
        if (c->now >= deadline) {
            log_at(LOG_WARN, "stop: stdout still blocked after %lld ms, "
                "%zu bytes not written (they will be read again)",
                c->cfg->drain_ms, outq_pending(c->q));
            break;
        }
        poll(&pfd, 1, (int) (deadline - c->now));
    }
    if (rc < 0) {
        log_at(LOG_ERROR, "%s", c->err);
    }
    c->now = collector_now();
    collector_save(c);
    log_at(LOG_INFO, "stopped files=%zu", c->nfiles);
    return rc < 0 ? 1 : 0;
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
    while (!*stop) {
        struct pollfd pfd[3];
        struct timespec ts;
        int timeout, nfd = 2, rc;

        c->now = collector_now();
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
            log_at(LOG_ERROR, "ppoll(): %s", strerror(errno));
            return 1;
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
        if (*stop) {
            break;
        }
        if (pfd[1].revents & (POLLERR | POLLHUP)) {
            /* the reader of stdout went away: nothing can be written,
             * and polling on would spin */
            log_at(LOG_ERROR, "stdout closed by its reader; stopping");
            collector_save(c);
            return 1;
        }
        c->now = collector_now();
        if (watch_read(c->watch, collector_event, c, c->err,
                sizeof(c->err)) < 0)
        {
            log_at(LOG_ERROR, "%s", c->err);
            return 1;
        }
        if (outq_flush(c->q, STDOUT_FILENO, collector_commit, c, c->err,
                sizeof(c->err)) < 0)
        {
            log_at(LOG_ERROR, "%s; stopping", c->err);
            collector_save(c);
            return 1;
        }
        if (c->now >= c->next_reconcile) {
            collector_reconcile(c);
            collector_health(c);
            c->next_reconcile = c->now
                + (c->polled ? c->cfg->poll_ms : c->cfg->reconcile_ms);
        } else if (c->rescan) {
            collector_rescan(c);
            if (c->polled && c->next_reconcile > c->now + c->cfg->poll_ms) {
                c->next_reconcile = c->now + c->cfg->poll_ms;
            }
        }
        busy = collector_read_all(c);
        collector_release(c);
        if (outq_flush(c->q, STDOUT_FILENO, collector_commit, c, c->err,
                sizeof(c->err)) < 0)
        {
            log_at(LOG_ERROR, "%s; stopping", c->err);
            collector_save(c);
            return 1;
        }
        if (outq_pending(c->q) >= (size_t) c->cfg->out_buffer) {
            busy = 0;                   /* wait for stdout, not spin */
        }
        collector_tcp(c);
        if (c->state_dirty
            && c->now - c->last_save >= c->cfg->checkpoint_ms)
        {
            collector_save(c);
        }
    }
    log_at(LOG_INFO, "stop requested: draining stdout");
    return collector_drain(c);
}
