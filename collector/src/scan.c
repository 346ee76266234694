/* scan.c -- scanning the inputs' directories and reconciling the table
 *
 * Owns which files are in the table and whether each is open and
 * watched: a rescan lists every input's directory, lstat()s each name
 * that matches its pattern, skips what is not a regular file (said once
 * per name, note.c), follows renames of known files by (dev, inode),
 * adopts new files (placed by offsets.c) and marks the ones no input name
 * reaches any more as gone, to be drained and let go by the loop.  The
 * periodic reconcile adds an fstat(2) of every open file (what inotify
 * missed) and suspends files idle for idle-close-s; a suspended file
 * whose name's size or mtime moved is woken here.  Files that lost their
 * name while suspended, or while the collector was stopped, are looked
 * for by inode in orphan.c.  The loop (collector.c) decides when to
 * rescan; this file logs what it finds, with path= and inode=.
 */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "collector_int.h"
#include "log.h"
#include "outq.h"
#include "watch.h"

/* A directory entry that is not a regular file: skip it, say so once. */
static void
scan_skip(struct collector *c, const char *path, mode_t mode)
{
    if (note_add(&c->notes, path, (int) (mode & S_IFMT), c->scan)) {
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
scan_open_failed(struct collector *c, const char *path, int err)
{
    struct stat st;

    if (err == ENOENT || err == ESTALE) {
        return;                         /* renamed meanwhile: next rescan */
    }
    if (err == ELOOP || err == EINVAL) {
        /* replaced by something else since lstat(): name what it is */
        if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
            scan_skip(c, path, st.st_mode);
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
    if (note_add(&c->notes, path, -err, c->scan)) {
        if (err == EACCES || err == EPERM) {
            log_at(LOG_LEVEL_WARN, "%s; will retry when its attributes change",
                c->err);
        } else {
            log_at(LOG_LEVEL_WARN, "%s; will retry at each reconcile", c->err);
        }
    }
}

/* An open succeeded: clear what scan_open_failed() remembered. */
static void
scan_open_ok(struct collector *c, const char *path)
{
    note_forget(&c->notes, path);
    if (c->emfile_logged) {
        log_at(LOG_LEVEL_INFO, "descriptors available again");
        c->emfile_logged = 0;
    }
}

/* Give open file e an inotify watch, or poll it if none is left. */
static void
scan_watch_file(struct collector *c, struct ftable_entry *e)
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
scan_sleep(struct collector *c, struct ftable_entry *e)
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
int
scan_wake(struct collector *c, struct ftable_entry *e)
{
    struct tfile *f = e->f;
    int truncated;

    if (tfile_resume(f, &truncated, c->err, sizeof(c->err)) != 0) {
        scan_open_failed(c, f->path, errno);
        return -1;
    }
    scan_open_ok(c, f->path);
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
    scan_watch_file(c, e);
    e->dirty = 1;
    e->growth_ms = c->now;
    return 0;
}

/*
 * Add f at the end of the table and give it an inotify watch.  Returns
 * its entry, or NULL out of memory: f is closed then (found again next
 * rescan).
 */
struct ftable_entry *
scan_adopt(struct collector *c, struct tfile *f)
{
    struct ftable_entry *e = ftable_add(&c->files, f);

    if (e == NULL) {
        log_at(LOG_LEVEL_ERROR, "out of memory; path=%s not tailed yet",
            f->path);
        tfile_close(f);
        return NULL;
    }
    f->held_total = &c->partial_held;
    scan_watch_file(c, e);
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
scan_consider(struct collector *c, size_t idx, const char *path)
{
    struct stat st;
    struct ftable_entry *e;
    struct tfile *f;

    if (lstat(path, &st) != 0) {
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        scan_skip(c, path, st.st_mode);
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
            scan_wake(c, e);
        }
        return;
    }
    f = tfile_open(path, c->cfg->inputs[idx].type, c->err, sizeof(c->err));
    if (f == NULL) {
        scan_open_failed(c, path, errno);
        return;
    }
    scan_open_ok(c, path);
    offsets_place(c, f);
    (void) scan_adopt(c, f);
}

/* Make sure input idx's directory is watched, if it exists. */
static void
scan_watch_dir(struct collector *c, size_t idx)
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
void
scan_let_go(struct collector *c, struct ftable_entry **pp)
{
    struct ftable_entry *e = *pp;

    watch_remove(c->watch, e->wd);
    outq_forget(c->q, e);
    tfile_close(ftable_remove(&c->files, pp));
    c->state_dirty = 1;
}

/*
 * Rescan every input's directory: adopt new files, follow renames, and
 * mark files that no input name reaches any more as gone.
 */
void
scan_rescan(struct collector *c)
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

        scan_watch_dir(c, i);
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
                scan_consider(c, i, path);
            }
        }
        closedir(d);
    }
    orphan_lost(c);
    note_prune(&c->notes, c->scan);
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
 * Periodic stat() reconcile: catch what inotify missed, wake suspended
 * files that grew (in the rescan) and suspend the ones idle for
 * idle-close-s.
 */
void
scan_reconcile(struct collector *c)
{
    long long idle_ms = c->cfg->idle_close_s * 1000;
    struct ftable_entry *e;

    scan_rescan(c);
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
            scan_sleep(c, e);
        }
    }
}
