/* ftable.c -- the loop's table of tailed files
 *
 * A singly linked list in the order files were found, plus a hash index
 * by (dev, inode) with chains through hnext.  A rescan looks up every
 * directory entry, so with thousands of files a list walk per entry would
 * cost the idle loop real CPU; the index keeps that O(1).  The index
 * grows (doubling, rehashing every chain) to keep about one entry per
 * bucket.  Entries are calloc()ed here and freed by ftable_remove() and
 * ftable_destroy(); the struct tfile in each is the entry's to close.
 */
#include <stdlib.h>

#include "ftable.h"

/* Bucket of (dev, ino) in an index of cap (a power of 2) buckets. */
static size_t
ftable_bucket(uint64_t dev, uint64_t ino, size_t cap)
{
    uint64_t h = (ino ^ (dev << 32) ^ (dev >> 32)) * 0x9E3779B97F4A7C15ULL;

    return (size_t) (h >> 32) & (cap - 1);
}

/* An empty table.  This function can't fail. */
void
ftable_init(struct ftable *t)
{
    t->head = NULL;
    t->end = &t->head;
    t->n = 0;
    t->index = NULL;
    t->index_cap = 0;
}

/* Close every file and free every entry; t is empty and usable again. */
void
ftable_destroy(struct ftable *t)
{
    while (t->head != NULL) {
        struct ftable_entry *e = t->head;

        t->head = e->next;
        tfile_close(e->f);
        free(e);
    }
    free(t->index);
    ftable_init(t);
}

/* Double the index (or make its first 64 buckets).  0, or -1 no memory. */
static int
ftable_grow(struct ftable *t)
{
    size_t cap = t->index_cap ? t->index_cap * 2 : 64, i, b;
    struct ftable_entry **idx;

    idx = calloc(cap, sizeof(struct ftable_entry *));

    if (idx == NULL) {
        return -1;
    }
    for (i = 0; i < t->index_cap; i++) {
        while (t->index[i] != NULL) {
            struct ftable_entry *g = t->index[i];

            t->index[i] = g->hnext;
            b = ftable_bucket(g->f->dev, g->f->ino, cap);
            g->hnext = idx[b];
            idx[b] = g;
        }
    }
    free(t->index);
    t->index = idx;
    t->index_cap = cap;
    return 0;
}

/*
 * Append an entry for open file f at the end of the table and index it
 * by f's (dev, ino).  The entry owns f from then on; its loop fields are
 * zero and wd is -1.  Returns the entry, or NULL out of memory (f is not
 * taken then: the caller still owns it).
 */
struct ftable_entry *
ftable_add(struct ftable *t, struct tfile *f)
{
    struct ftable_entry *e;
    size_t b;

    if (t->n + 1 > t->index_cap && ftable_grow(t) != 0) {
        return NULL;
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL) {
        return NULL;
    }
    e->f = f;
    e->wd = -1;
    b = ftable_bucket(f->dev, f->ino, t->index_cap);
    e->hnext = t->index[b];
    t->index[b] = e;
    *t->end = e;
    t->end = &e->next;
    t->n++;
    return e;
}

/* Take e out of the index, if it is there. */
static void
ftable_unindex(struct ftable *t, const struct ftable_entry *e)
{
    struct ftable_entry **pp;

    if (t->index_cap == 0) {
        return;
    }
    pp = &t->index[ftable_bucket(e->f->dev, e->f->ino, t->index_cap)];
    for (; *pp != NULL; pp = &(*pp)->hnext) {
        if (*pp == e) {
            *pp = e->hnext;
            return;
        }
    }
}

/*
 * Remove the entry *pp (pp is &head or &next of the entry before it) from
 * the table and the index, and free it.  Returns its file, which the
 * caller now owns.  This function can't fail.
 */
struct tfile *
ftable_remove(struct ftable *t, struct ftable_entry **pp)
{
    struct ftable_entry *e = *pp;
    struct tfile *f = e->f;

    ftable_unindex(t, e);
    *pp = e->next;
    if (t->end == &e->next) {
        t->end = pp;
    }
    t->n--;
    free(e);
    return f;
}

/* The entry of the file with this identity, or NULL. */
struct ftable_entry *
ftable_find(const struct ftable *t, uint64_t dev, uint64_t ino)
{
    struct ftable_entry *e;

    if (t->index_cap == 0) {
        return NULL;
    }
    e = t->index[ftable_bucket(dev, ino, t->index_cap)];
    for (; e != NULL; e = e->hnext) {
        if (e->f->dev == dev && e->f->ino == ino) {
            return e;
        }
    }
    return NULL;
}
