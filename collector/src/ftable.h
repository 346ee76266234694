/* ftable.h -- the loop's table of tailed files
 *
 * Owns the entries of the files being tailed, in the order they were
 * found (so after a rotation the old file is read before the new one in
 * each turn), their (dev, inode) index, and the fields the loop keeps per
 * file: the inotify watch, the dirty/seen/gone flags, the times that
 * decide when a file is let go or put to sleep, and the count of its
 * events still queued.  The file itself (descriptor, offsets, partial
 * line) is a struct tfile the entry owns.  It decides nothing and never
 * logs: the loop's files do.
 */
#ifndef FTABLE_H
#define FTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "tfile.h"

struct ftable_entry {
    struct tfile        *f;         /* owned */
    int                  wd;        /* inotify watch, -1 = polled */
    int                  dirty;     /* may have bytes to read */
    int                  seen;      /* met by the current rescan */
    int                  gone;      /* no input name reaches it */
    long long            gone_ms;   /* when it was found gone */
    long long            growth_ms; /* when it last grew (or was woken) */
    size_t               marks;     /* its commit marks in the queue */
    struct ftable_entry *next;      /* table order */
    struct ftable_entry *hnext;     /* (dev, ino) index chain */
};

struct ftable {
    struct ftable_entry  *head;     /* in the order found */
    struct ftable_entry **end;      /* &next of the last entry */
    size_t                n;
    struct ftable_entry **index;    /* by (dev, ino): chains by hnext */
    size_t                index_cap;    /* a power of 2, or 0 */
};

void ftable_init(struct ftable *t);
void ftable_destroy(struct ftable *t);
struct ftable_entry *ftable_add(struct ftable *t, struct tfile *f);
struct tfile *ftable_remove(struct ftable *t, struct ftable_entry **pp);
struct ftable_entry *ftable_find(const struct ftable *t, uint64_t dev,
    uint64_t ino);

#endif
