/* test_ftable.c -- unit tests for ftable.c, the loop's file table
 *
 * Entries keep the order files were added, are found by (dev, inode)
 * through the index also after it grew, and removal from the head, the
 * middle and the tail keeps both the list and the index consistent.
 */
#include <stdlib.h>

#include "ftable.h"
#include "unit.h"

/* A stand-in for an open file: only what ftable.c and tfile_close() use. */
static struct tfile *
fake_file(uint64_t dev, uint64_t ino)
{
    struct tfile *f = calloc(1, sizeof(*f));

    if (f != NULL) {
        f->fd = -1;
        f->dev = dev;
        f->ino = ino;
    }
    return f;
}

static void
test_ftable_order_and_find(void)
{
    struct ftable t;
    struct ftable_entry *e, *a, *b;
    uint64_t want = 1;

    ftable_init(&t);
    UNIT_CHECK(ftable_find(&t, 1, 1) == NULL);
    a = ftable_add(&t, fake_file(1, 1));
    b = ftable_add(&t, fake_file(2, 1));      /* same inode, other dev */
    UNIT_CHECK(a != NULL && b != NULL && a->wd == -1 && !a->dirty);
    UNIT_CHECK(ftable_find(&t, 1, 1) == a);
    UNIT_CHECK(ftable_find(&t, 2, 1) == b);
    UNIT_CHECK(ftable_find(&t, 1, 2) == NULL);
    UNIT_CHECK(t.head == a && a->next == b && b->next == NULL && t.n == 2);
    ftable_destroy(&t);
    UNIT_CHECK(t.head == NULL && t.n == 0);

    /* past the first 64 buckets: the index grows and still finds all */
    for (want = 1; want <= 1000; want++) {
        UNIT_CHECK(ftable_add(&t, fake_file(7, want)) != NULL);
    }
    UNIT_CHECK(t.n == 1000 && t.index_cap >= 1000);
    for (want = 1; want <= 1000; want++) {
        e = ftable_find(&t, 7, want);
        UNIT_CHECK(e != NULL && e->f->ino == want);
    }
    want = 1;
    for (e = t.head; e != NULL; e = e->next) {
        UNIT_CHECK(e->f->ino == want);
        want++;
    }
    ftable_destroy(&t);
}

static void
test_ftable_remove(void)
{
    struct ftable t;
    struct ftable_entry *e;
    struct tfile *f;
    uint64_t i;

    ftable_init(&t);
    for (i = 1; i <= 4; i++) {
        UNIT_CHECK(ftable_add(&t, fake_file(1, i)) != NULL);
    }
    f = ftable_remove(&t, &t.head->next);       /* middle: ino 2 */
    UNIT_CHECK(f != NULL && f->ino == 2);
    tfile_close(f);
    UNIT_CHECK(ftable_find(&t, 1, 2) == NULL && t.n == 3);
    f = ftable_remove(&t, &t.head);             /* head: ino 1 */
    UNIT_CHECK(f != NULL && f->ino == 1);
    tfile_close(f);
    f = ftable_remove(&t, &t.head->next);       /* tail: ino 4 */
    UNIT_CHECK(f != NULL && f->ino == 4);
    tfile_close(f);
    UNIT_CHECK(t.n == 1 && t.head->f->ino == 3 && t.head->next == NULL);
    /* the end pointer moved back: a new entry follows ino 3 */
    e = ftable_add(&t, fake_file(1, 5));
    UNIT_CHECK(e != NULL && t.head->next == e);
    UNIT_CHECK(ftable_find(&t, 1, 3) == t.head && ftable_find(&t, 1, 5) == e);
    ftable_destroy(&t);
}

int
main(void)
{
    UNIT_RUN(test_ftable_order_and_find);
    UNIT_RUN(test_ftable_remove);
    return unit_done();
}
