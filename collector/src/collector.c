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
 *
 * Hostile or odd directory entries: only regular files are tailed.  A
 * name is lstat()ed and opened with O_NOFOLLOW|O_NONBLOCK (tfile.c), so a
 * symlink is never followed and a FIFO or device never blocks the loop;
 * each such name is logged once (a note per path, dropped when the name
 * goes away or is opened).  A file read to its end that has not grown for
 * idle-close-s is suspended: descriptor and watch released, identity and
 * offset kept (and saved); the reconcile pass lstat()s its name anyway,
 * and reopens it at its offset when size or mtime moved.  The unfinished
 * lines of all files share one memory budget (partial-budget); above it
 * the longest is emitted early as a "truncated" event whose rest follows.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <poll.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collector_int.h"
#include "event.h"
#include "ftable.h"
#include "health.h"
#include "log.h"
#include "outq.h"
#include "state.h"
#include "tcpout.h"
#include "tfile.h"
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

/* tsearch(3) order of notes: by path. */
static int
collector_note_cmp(const void *a, const void *b)
{
    const struct collector_note *x = a, *y = b;

    return strcmp(x->path, y->path);
}

/*
 * Remember that this rescan met path with problem why.  Returns 1 when
 * it is news (not noted before, or noted for something else) and should
 * be logged, 0 when it was logged already.
 */
static int
collector_note(struct collector *c, const char *path, int why)
{
    struct collector_note key, *n, **found;

    key.path = (char *) (uintptr_t) path;
    found = tfind(&key, &c->note_tree, collector_note_cmp);
    if (found != NULL) {
        n = *found;
        n->scan = c->scan;
        if (n->why == why) {
            return 0;
        }
        n->why = why;
        return 1;
    }
    n = calloc(1, sizeof(*n));
    if (n == NULL) {
        return 1;
    }
    n->path = strdup(path);
    if (n->path == NULL
        || tsearch(n, &c->note_tree, collector_note_cmp) == NULL)
    {
        free(n->path);
        free(n);
        return 1;
    }
    n->why = why;
    n->scan = c->scan;
    n->next = c->notes;
    if (c->notes != NULL) {
        c->notes->prev = n;
    }
    c->notes = n;
    return 1;
}

/* Forget note n.  This function can't fail. */
static void
collector_note_drop(struct collector *c, struct collector_note *n)
{
    tdelete(n, &c->note_tree, collector_note_cmp);
    if (n->prev != NULL) {
        n->prev->next = n->next;
    } else {
        c->notes = n->next;
    }
    if (n->next != NULL) {
        n->next->prev = n->prev;
    }
    free(n->path);
    free(n);
}

/* Forget the note on path, if any: it opened fine. */
static void
collector_unnote(struct collector *c, const char *path)
{
    struct collector_note key, **found;

    if (c->notes == NULL) {
        return;
    }
    key.path = (char *) (uintptr_t) path;
    found = tfind(&key, &c->note_tree, collector_note_cmp);
    if (found != NULL) {
        collector_note_drop(c, *found);
    }
}

/* After a rescan: forget names it did not meet (gone, renamed), so the
 * notes never outgrow what the directories hold. */
static void
collector_prune_notes(struct collector *c)
{
    struct collector_note *n = c->notes, *next;

    for (; n != NULL; n = next) {
        next = n->next;
        if (n->scan != c->scan) {
            collector_note_drop(c, n);
        }
    }
}

/* A directory entry that is not a regular file: skip it, say so once. */
static void
collector_skip(struct collector *c, const char *path, mode_t mode)
{
    if (collector_note(c, path, (int) (mode & S_IFMT))) {
        log_at(LOG_LEVEL_WARN, "skipping path=%s: %s, not a regular file",
            path, tfile_kind(mode));
    }
}

/*
 * tfile_open() or tfile_resume() of path failed with errno (c->err says
 * how): log it once per path and cause, or once for the whole process
 * while descriptors run out.  Everything is retried at the next rescan.
 */
static void
collector_open_failed(struct collector *c, const char *path, int err)
{
    struct stat st;

    if (err == ENOENT || err == ESTALE) {
        return;                         /* renamed meanwhile: next rescan */
    }
    if (err == ELOOP || err == EINVAL) {
        /* replaced by something else since lstat(): name what it is */
        if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
            collector_skip(c, path, st.st_mode);
        }
        return;
    }
    if (err == EMFILE || err == ENFILE) {
        if (!c->emfile_logged) {
            log_at(LOG_LEVEL_ERROR, "%s; files wait for a descriptor and are "
                "retried at each reconcile", c->err);
            c->emfile_logged = 1;
        }
        return;
    }
    if (collector_note(c, path, -err)) {
        if (err == EACCES || err == EPERM) {
            log_at(LOG_LEVEL_WARN, "%s; will retry when its attributes change",
                c->err);
        } else {
            log_at(LOG_LEVEL_WARN, "%s; will retry at each reconcile", c->err);
        }
    }
}

/* An open succeeded: clear what collector_open_failed() remembered. */
static void
collector_open_ok(struct collector *c, const char *path)
{
    collector_unnote(c, path);
    if (c->emfile_logged) {
        log_at(LOG_LEVEL_INFO, "descriptors available again");
        c->emfile_logged = 0;
    }
}

/* Give open file e an inotify watch, or poll it if none is left. */
static void
collector_watch_file(struct collector *c, struct ftable_entry *e)
{
    e->wd = watch_add_file(c->watch, e->f->path, c->err, sizeof(c->err));
    if (e->wd < 0) {
        log_at(LOG_LEVEL_WARN, "%s; polling path=%s every %lld ms", c->err,
            e->f->path, c->cfg->poll_ms);
        c->polled = 1;
    }
}

/*
 * Suspend e, idle for idle-close-s and read to its end with nothing
 * queued: release its descriptor and watch, keep its entry and offset.
 */
static void
collector_sleep(struct collector *c, struct ftable_entry *e)
{
    struct tfile *f = e->f;

    log_at(LOG_LEVEL_INFO, "idle, closing path=%s inode=%llu offset=%llu; "
        "reopened when it grows", f->path, (unsigned long long) f->ino,
        (unsigned long long) f->commit_off);
    watch_remove(c->watch, e->wd);
    e->wd = -1;
    e->dirty = 0;
    tfile_suspend(f);
}

/*
 * Reopen suspended e (its name's size or mtime moved) at its offset, or
 * at 0 if its content was replaced meanwhile.  Returns 0, or -1 if it
 * stays suspended (logged as an open failure, retried next rescan).
 */
static int
collector_wake(struct collector *c, struct ftable_entry *e)
{
    struct tfile *f = e->f;
    int truncated;

    if (tfile_resume(f, &truncated, c->err, sizeof(c->err)) != 0) {
        collector_open_failed(c, f->path, errno);
        return -1;
    }
    collector_open_ok(c, f->path);
    if (truncated) {
        log_at(LOG_LEVEL_WARN, "truncated while closed path=%s inode=%llu "
            "size=%llu; reading from 0", f->path,
            (unsigned long long) f->ino, (unsigned long long) f->size);
        c->state_dirty = 1;
    } else {
        log_at(LOG_LEVEL_INFO,
            "reopen path=%s inode=%llu size=%llu offset=%llu", f->path,
            (unsigned long long) f->ino, (unsigned long long) f->size,
            (unsigned long long) f->read_off);
    }
    collector_watch_file(c, e);
    e->dirty = 1;
    e->growth_ms = c->now;
    return 0;
}

/*
 * Add f at the end of the table and give it an inotify watch.  Returns
 * its entry, or NULL out of memory: f is closed then (found again next
 * rescan).
 */
static struct ftable_entry *
collector_adopt(struct collector *c, struct tfile *f)
{
    struct ftable_entry *e = ftable_add(&c->files, f);

    if (e == NULL) {
        log_at(LOG_LEVEL_ERROR, "out of memory; path=%s not tailed yet",
            f->path);
        tfile_close(f);
        return NULL;
    }
    f->held_total = &c->partial_held;
    collector_watch_file(c, e);
    e->dirty = 1;
    e->seen = 1;
    e->growth_ms = c->now;
    c->state_dirty = 1;
    return e;
}

/*
 * Look at one directory entry of input idx: skip what is not a regular
 * file, follow renames of known files, wake suspended ones that changed,
 * open new ones.
 */
static void
collector_consider(struct collector *c, size_t idx, const char *path)
{
    struct stat st;
    struct ftable_entry *e;
    struct tfile *f;

    if (lstat(path, &st) != 0) {
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        collector_skip(c, path, st.st_mode);
        return;
    }
    e = ftable_find(&c->files, (uint64_t) st.st_dev, (uint64_t) st.st_ino);
    if (e != NULL) {
        f = e->f;
        if (e->seen) {
            return;                     /* matched by an earlier input */
        }
        e->seen = 1;
        if (e->gone) {
            e->gone = 0;
            log_at(LOG_LEVEL_INFO, "back path=%s inode=%llu", path,
                (unsigned long long) f->ino);
        }
        if (strcmp(f->path, path) != 0) {
            char *np = strdup(path);

            if (np != NULL) {
                log_at(LOG_LEVEL_INFO, "renamed path=%s new=%s inode=%llu",
                    f->path, np, (unsigned long long) f->ino);
                free(f->path);
                f->path = np;
                c->state_dirty = 1;
            }
        }
        if (f->fd < 0 && tfile_changed(f, &st)) {
            collector_wake(c, e);
        }
        return;
    }
    f = tfile_open(path, c->cfg->inputs[idx].type, c->err, sizeof(c->err));
    if (f == NULL) {
        collector_open_failed(c, path, errno);
        return;
    }
    collector_open_ok(c, path);
    offsets_place(c, f);
    (void) collector_adopt(c, f);
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
            log_at(LOG_LEVEL_INFO, "directory appeared dir=%s", dir);
        }
        d->missing = 0;
        return;
    }
    if (errno == ENOENT || errno == ENOTDIR) {
        if (!d->missing) {
            log_at(LOG_LEVEL_INFO, "directory missing dir=%s; checking every "
                "%lld ms", dir, c->cfg->poll_ms);
        }
        d->missing = 1;
    } else if (!d->polled_logged) {
        log_at(LOG_LEVEL_WARN, "%s; polling dir=%s every %lld ms", c->err, dir,
            c->cfg->poll_ms);
        d->polled_logged = 1;
    }
    c->polled = 1;
}

/* Remove *pp from the table and close its file. */
static void
collector_unlink(struct collector *c, struct ftable_entry **pp)
{
    struct ftable_entry *e = *pp;

    watch_remove(c->watch, e->wd);
    outq_forget(c->q, e);
    tfile_close(ftable_remove(&c->files, pp));
    c->state_dirty = 1;
}

/* qsort(3)/bsearch(3) order of entry pointers: by inode. */
static int
collector_ino_cmp(const void *a, const void *b)
{
    const struct ftable_entry *x = *(const struct ftable_entry *const *) a;
    const struct ftable_entry *y = *(const struct ftable_entry *const *) b;

    return x->f->ino < y->f->ino ? -1 : x->f->ino > y->f->ino;
}

/* Find suspended files in lost[0..n) (sorted by inode) among all names
 * in the inputs' directories; a file found gets that name and seen = 1. */
static void
collector_locate(struct collector *c, struct ftable_entry **lost, size_t n)
{
    size_t k;

    for (k = 0; k < c->cfg->ninputs; k++) {
        const char *dir = c->cfg->inputs[k].dir;
        DIR *d = opendir(dir);
        struct dirent *de;

        if (d == NULL) {
            continue;
        }
        while ((de = readdir(d)) != NULL) {
            struct tfile kf, *f;
            struct ftable_entry key, *kp = &key, **hit;
            char path[4096], *np;
            struct stat st;
            int len;

            kf.ino = (uint64_t) de->d_ino;
            key.f = &kf;
            hit = bsearch(&kp, lost, n, sizeof(struct ftable_entry *),
                collector_ino_cmp);
            if (hit == NULL || (*hit)->seen) {
                continue;
            }
            f = (*hit)->f;
            len = snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
            if (len < 0 || (size_t) len >= sizeof(path)
                || lstat(path, &st) != 0 || !S_ISREG(st.st_mode)
                || (uint64_t) st.st_dev != f->dev
                || (uint64_t) st.st_ino != f->ino)
            {
                continue;
            }
            np = strdup(path);
            if (np == NULL) {
                continue;
            }
            log_at(LOG_LEVEL_INFO, "renamed path=%s new=%s inode=%llu", f->path,
                np, (unsigned long long) f->ino);
            free(f->path);
            f->path = np;
            (*hit)->seen = 1;
        }
        closedir(d);
    }
}

/*
 * Suspended files no input name reaches any more were rotated or deleted
 * while closed.  Those still in an input directory under another name
 * (access.log.1) are reopened, so the rescan marks them gone and they are
 * drained like any rotated file (a writer may still append before it
 * reopens its log); the others are let go.
 */
static void
collector_lost(struct collector *c)
{
    struct ftable_entry **lost, **pp, *e;
    size_t n = 0;

    for (e = c->files.head; e != NULL; e = e->next) {
        if (e->f->fd < 0 && !e->seen) {
            e->gone = 1;                /* marks "lost" until decided */
            n++;
        }
    }
    if (n == 0) {
        return;
    }
    lost = malloc(n * sizeof(struct ftable_entry *));
    if (lost != NULL) {
        n = 0;
        for (e = c->files.head; e != NULL; e = e->next) {
            if (e->f->fd < 0 && e->gone) {
                lost[n++] = e;
            }
        }
        qsort(lost, n, sizeof(struct ftable_entry *), collector_ino_cmp);
        collector_locate(c, lost, n);
        free(lost);
    }
    pp = &c->files.head;
    while (*pp != NULL) {
        e = *pp;
        if (e->f->fd >= 0 || !e->gone) {
            pp = &e->next;
            continue;
        }
        if (e->seen && collector_wake(c, e) == 0) {
            e->seen = 0;                /* the rescan marks it gone */
            e->gone = 0;
            pp = &e->next;
            continue;
        }
        log_at(LOG_LEVEL_INFO, "closed path=%s inode=%llu offset=%llu (rotated "
            "or deleted while idle)", e->f->path,
            (unsigned long long) e->f->ino,
            (unsigned long long) e->f->commit_off);
        collector_unlink(c, pp);
    }
}

/*
 * Rescan every input's directory: adopt new files, follow renames, and
 * mark files that no input name reaches any more as gone.
 */
static void
collector_rescan(struct collector *c)
{
    struct ftable_entry *e;
    size_t i;

    c->rescan = 0;
    c->polled = 0;
    c->scan++;
    for (e = c->files.head; e != NULL; e = e->next) {
        e->seen = 0;
        if (e->wd < 0 && e->f->fd >= 0) {
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
    collector_lost(c);
    collector_prune_notes(c);
    for (e = c->files.head; e != NULL; e = e->next) {
        if (!e->seen && !e->gone) {
            e->gone = 1;
            e->gone_ms = c->now;
            e->dirty = 1;
            log_at(LOG_LEVEL_INFO, "rotated or deleted path=%s inode=%llu "
                "offset=%llu; draining", e->f->path,
                (unsigned long long) e->f->ino,
                (unsigned long long) e->f->read_off);
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
                struct ftable_entry *oe;
                struct tfile *f;
                int n;

                if ((uint64_t) de->d_ino != e->ino) {
                    continue;
                }
                n = snprintf(path, sizeof(path), "%s/%s",
                    c->cfg->inputs[k].dir, de->d_name);
                if (n < 0 || (size_t) n >= sizeof(path)
                    || lstat(path, &st) != 0 || !S_ISREG(st.st_mode)
                    || (uint64_t) st.st_dev != e->dev
                    || (uint64_t) st.st_ino != e->ino
                    || ftable_find(&c->files, e->dev, e->ino) != NULL)
                {
                    continue;
                }
                f = tfile_open(path, c->cfg->inputs[k].type, c->err,
                    sizeof(c->err));
                if (f == NULL) {
                    log_at(LOG_LEVEL_WARN, "%s", c->err);
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
                log_at(LOG_LEVEL_INFO, "rotated while stopped path=%s was=%s "
                    "inode=%llu offset=%llu size=%llu; draining", path,
                    e->path, (unsigned long long) e->ino,
                    (unsigned long long) e->offset,
                    (unsigned long long) f->size);
                oe = collector_adopt(c, f);
                if (oe != NULL) {
                    oe->gone = 1;
                    oe->gone_ms = c->now;
                }
            }
            closedir(d);
        }
        if (!found) {
            log_at(LOG_LEVEL_WARN, "saved file not found path=%s inode=%llu "
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
        collector_unlink(c, pp);
    }
}

/*
 * Periodic stat() reconcile: catch what inotify missed, wake suspended
 * files that grew (in the rescan) and suspend the ones idle for
 * idle-close-s.
 */
static void
collector_reconcile(struct collector *c)
{
    long long idle_ms = c->cfg->idle_close_s * 1000;
    struct ftable_entry *e;

    collector_rescan(c);
    for (e = c->files.head; e != NULL; e = e->next) {
        struct tfile *f = e->f;
        struct stat st;

        if (f->fd < 0) {
            continue;
        }
        if (fstat(f->fd, &st) == 0 && (uint64_t) st.st_size != f->read_off) {
            f->size = (uint64_t) st.st_size;
            e->dirty = 1;
        }
        if (idle_ms > 0 && !e->gone && !e->dirty && e->marks == 0
            && f->read_off >= f->size && c->now - e->growth_ms >= idle_ms)
        {
            collector_sleep(c, e);
        }
    }
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
    collector_rescan(c);
    if (c->have_state) {
        collector_orphans(c);
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
    while (c->notes != NULL) {
        collector_note_drop(c, c->notes);
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
            log_at(LOG_LEVEL_ERROR, "stdout closed by its reader; stopping");
            offsets_save(c);
            return 1;
        }
        c->now = wsclock_mono_ms();
        if (watch_read(c->watch, collector_event, c, c->err,
                sizeof(c->err)) < 0)
        {
            log_at(LOG_LEVEL_ERROR, "%s", c->err);
            return 1;
        }
        if (outq_flush(c->q, STDOUT_FILENO, collector_commit, c, c->err,
                sizeof(c->err)) < 0)
        {
            log_at(LOG_LEVEL_ERROR, "%s; stopping", c->err);
            offsets_save(c);
            return 1;
        }
        if (c->now >= c->next_reconcile) {
            collector_reconcile(c);
            health_touch(&c->health);
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
            log_at(LOG_LEVEL_ERROR, "%s; stopping", c->err);
            offsets_save(c);
            return 1;
        }
        if (outq_pending(c->q) >= (size_t) c->cfg->out_buffer) {
            busy = 0;                   /* wait for stdout, not spin */
        }
        collector_tcp(c);
        if (c->state_dirty
            && c->now - c->last_save >= c->cfg->checkpoint_ms)
        {
            offsets_save(c);
        }
    }
    log_at(LOG_LEVEL_INFO, "stop requested: draining stdout");
    return collector_drain(c);
}
