/* orphan.c -- files found again by inode after losing their name
 *
 * Two cases of a file that no input name reaches any more, both looked
 * for by inode among every name in the inputs' directories:
 * - rotated or deleted while suspended (idle-close-s): one still in an
 *   input directory under another name (access.log.1) is woken, so the
 *   rescan marks it gone and it is drained like any rotated file (a
 *   writer may still append before it reopens its log); the others are
 *   let go;
 * - rotated while the collector was stopped: at start, a saved file that
 *   no input name matched is reopened under its new name if its first
 *   bytes still match, and drained from its saved offset.
 * Which names match an input and when files are let go is scan.c's.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "collector_int.h"
#include "log.h"

/* qsort(3)/bsearch(3) order of entry pointers: by inode. */
static int
orphan_ino_cmp(const void *a, const void *b)
{
    const struct ftable_entry *x = *(const struct ftable_entry *const *) a;
    const struct ftable_entry *y = *(const struct ftable_entry *const *) b;

    return x->f->ino < y->f->ino ? -1 : x->f->ino > y->f->ino;
}

/* Find suspended files in lost[0..n) (sorted by inode) among all names
 * in the inputs' directories; a file found gets that name and seen = 1. */
static void
orphan_locate(struct collector *c, struct ftable_entry **lost, size_t n)
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
                orphan_ino_cmp);
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
void
orphan_lost(struct collector *c)
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
        qsort(lost, n, sizeof(struct ftable_entry *), orphan_ino_cmp);
        orphan_locate(c, lost, n);
        free(lost);
    }
    pp = &c->files.head;
    while (*pp != NULL) {
        e = *pp;
        if (e->f->fd >= 0 || !e->gone) {
            pp = &e->next;
            continue;
        }
        if (e->seen && scan_wake(c, e) == 0) {
            e->seen = 0;                /* the rescan marks it gone */
            e->gone = 0;
            pp = &e->next;
            continue;
        }
        log_at(LOG_LEVEL_INFO, "closed path=%s inode=%llu offset=%llu (rotated "
            "or deleted while idle)", e->f->path,
            (unsigned long long) e->f->ino,
            (unsigned long long) e->f->commit_off);
        scan_let_go(c, pp);
    }
}

/*
 * Saved entry e named a file that no input name matched: if dir/name is
 * that file (same dev and inode, a regular file, not in the table yet)
 * and its first bytes still match, open it at e's offset.  Returns the
 * open file, or NULL (not it, or not openable: logged).
 */
static struct tfile *
orphan_open(struct collector *c, const struct state_entry *e,
    const struct config_input *in, const char *name)
{
    char path[4096];
    struct stat st;
    struct tfile *f;
    int n;

    n = snprintf(path, sizeof(path), "%s/%s", in->dir, name);
    if (n < 0 || (size_t) n >= sizeof(path)
        || lstat(path, &st) != 0 || !S_ISREG(st.st_mode)
        || (uint64_t) st.st_dev != e->dev
        || (uint64_t) st.st_ino != e->ino
        || ftable_find(&c->files, e->dev, e->ino) != NULL)
    {
        return NULL;
    }
    f = tfile_open(path, in->type, c->err, sizeof(c->err));
    if (f == NULL) {
        log_at(LOG_LEVEL_WARN, "%s", c->err);
        return NULL;
    }
    if (!tfile_prefix_matches(f, e->fp_len, e->fp) || f->size < e->offset) {
        tfile_close(f);
        return NULL;
    }
    tfile_seek(f, e->offset, e->skip);
    return f;
}

/*
 * Look for saved entry e's file by inode in input in's directory and, if
 * found, adopt it as gone so it is drained from e's offset.  Returns 1
 * when found, 0 when not.
 */
static int
orphan_find(struct collector *c, const struct state_entry *e,
    const struct config_input *in)
{
    DIR *d = opendir(in->dir);
    struct dirent *de;
    struct ftable_entry *oe;
    struct tfile *f = NULL;
    int found;

    if (d == NULL) {
        return 0;
    }
    while (f == NULL && (de = readdir(d)) != NULL) {
        if ((uint64_t) de->d_ino == e->ino) {
            f = orphan_open(c, e, in, de->d_name);
        }
    }
    found = f != NULL;
    if (found) {
        log_at(LOG_LEVEL_INFO, "rotated while stopped path=%s was=%s "
            "inode=%llu offset=%llu size=%llu; draining", f->path, e->path,
            (unsigned long long) e->ino, (unsigned long long) e->offset,
            (unsigned long long) f->size);
        oe = scan_adopt(c, f);
        if (oe != NULL) {
            oe->gone = 1;
            oe->gone_ms = c->now;
        }
    }
    closedir(d);
    return found;            /* f itself may be closed by now */
}

/*
 * At start, find saved files no input name matched (rotated while the
 * collector was down) by inode in the inputs' directories, and drain them
 * from their saved offsets.
 */
void
orphan_recover(struct collector *c)
{
    size_t i, k;

    for (i = 0; i < c->saved.n; i++) {
        const struct state_entry *e = &c->saved.e[i];
        int found = 0;

        if (c->saved_used[i]) {
            continue;
        }
        for (k = 0; k < c->cfg->ninputs && !found; k++) {
            found = orphan_find(c, e, &c->cfg->inputs[k]);
        }
        if (found) {
            c->saved_used[i] = 1;
        } else {
            log_at(LOG_LEVEL_WARN, "saved file not found path=%s inode=%llu "
                "offset=%llu (deleted while stopped?)", e->path,
                (unsigned long long) e->ino, (unsigned long long) e->offset);
        }
    }
}
