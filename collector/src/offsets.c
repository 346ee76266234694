/* offsets.c -- the collector's state store: where files start, what's saved
 *
 * Owns the loop's use of the offsets file (its format and atomic replace
 * are state.c's): loading it at start, moving an unusable one aside,
 * deciding where each newly found file starts (resume at its saved
 * offset when its first bytes still match, its end on a very first start,
 * else 0), and saving the committed offsets of every file in the table.
 * Only committed offsets are saved (see outq.c), so a crash repeats
 * events, never loses one.  When to save is the loop's decision
 * (checkpoint-ms, state_dirty); finding saved files that were rotated
 * while stopped is orphan.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "collector_int.h"
#include "log.h"
#include "state.h"

/*
 * The state file cannot be used (why says how).  Refusing to start would
 * only restart the same failure forever, so move it aside for a
 * post-mortem and start as on a first start.
 */
static void
offsets_aside(struct collector *c, const char *why)
{
    char dest[4200];

    if (state_move_aside(c->cfg->state, (long long) time(NULL), dest,
            sizeof(dest), c->err, sizeof(c->err)) == 0)
    {
        log_at(LOG_LEVEL_ERROR, "state file unusable (%s): moved aside to %s; "
            "starting fresh as on a first start", why, dest);
    } else {
        log_at(LOG_LEVEL_ERROR, "state file unusable (%s) and not moved aside "
            "(%s); starting fresh as on a first start, it is replaced at "
            "the next save", why, c->err);
    }
}

/*
 * Load the state file, if one is set, for offsets_place() and orphan
 * recovery.  An unusable one is moved aside (logged) and the start is a
 * first start.  Returns 0, or -1 with err filled (out of memory).
 */
int
offsets_load(struct collector *c, char *err, size_t errlen)
{
    const char *path = c->cfg->state;
    int rc;

    if (path[0] != '\0') {
        rc = state_load(&c->saved, path, err, errlen);
        if (rc == STATE_BAD) {
            offsets_aside(c, err);
            rc = STATE_ABSENT;
        } else if (rc < 0) {
            return -1;
        }
        c->have_state = rc == STATE_LOADED;
        log_at(LOG_LEVEL_INFO, "state %s path=%s entries=%zu",
            rc == 0 ? "loaded" : "absent, first start", path, c->saved.n);
    }
    c->saved_used = calloc(c->saved.n + 1, 1);
    if (c->saved_used == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* The first scan is over: the saved entries have served.  This function
 * can't fail. */
void
offsets_started(struct collector *c)
{
    state_clear(&c->saved);
}

/* Index in c->saved of the entry for f, or -1. */
static long
offsets_saved_entry(struct collector *c, const struct tfile *f)
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
void
offsets_place(struct collector *c, struct tfile *f)
{
    long i = c->starting ? offsets_saved_entry(c, f) : -1;
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
    log_at(LOG_LEVEL_INFO, "open path=%s inode=%llu size=%llu offset=%llu (%s)",
        f->path, (unsigned long long) f->ino, (unsigned long long) f->size,
        (unsigned long long) f->read_off, why);
}

/* Save committed offsets of every open file.  Logs on failure. */
void
offsets_save(struct collector *c)
{
    struct state st = { NULL, 0, 0 };
    struct ftable_entry *fe;

    c->last_save = c->now;
    if (c->cfg->state[0] == '\0') {
        c->state_dirty = 0;
        return;
    }
    for (fe = c->files.head; fe != NULL; fe = fe->next) {
        const struct tfile *f = fe->f;
        struct state_entry e;

        e.dev = f->dev;
        e.ino = f->ino;
        e.fp_len = f->fp_len;
        e.fp = f->fp;
        e.offset = f->commit_off;
        e.skip = f->commit_skip;
        e.path = f->path;
        if (state_add(&st, &e) != 0) {
            log_at(LOG_LEVEL_ERROR, "state: out of memory");
            state_clear(&st);
            return;
        }
    }
    if (state_save(&st, c->cfg->state, c->err, sizeof(c->err)) != 0) {
        log_at(LOG_LEVEL_ERROR, "state: %s", c->err);
    } else {
        c->state_dirty = 0;
    }
    state_clear(&st);
}
