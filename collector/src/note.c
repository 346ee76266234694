/* note.c -- the names already reported as skipped or unopenable
 *
 * A note is a path, why it was reported (S_IFMT bits of what is there,
 * or -errno of a failed open) and the number of the last rescan that met
 * it.  Notes are found by path through a tsearch(3) tree, and also kept
 * on a doubly linked list so a rescan can drop the ones it did not meet
 * without walking the tree.  A struct note_set starts zeroed.
 */
#include <search.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "note.h"

struct note {
    char          *path;
    int            why;         /* S_IFMT bits, or -errno of open() */
    unsigned long  scan;        /* last rescan that met the name */
    struct note   *prev;
    struct note   *next;
};

/* tsearch(3) order of notes: by path. */
static int
note_cmp(const void *a, const void *b)
{
    const struct note *x = a, *y = b;

    return strcmp(x->path, y->path);
}

/*
 * Remember that rescan number scan met path with problem why.  Returns 1
 * when it is news (not noted before, or noted for something else) and
 * should be logged, 0 when it was logged already.  Out of memory, it
 * returns 1 and remembers nothing: a repeated log line, not a lost one.
 */
int
note_add(struct note_set *s, const char *path, int why, unsigned long scan)
{
    struct note key, *n, **found;

    key.path = (char *) (uintptr_t) path;
    found = tfind(&key, &s->tree, note_cmp);
    if (found != NULL) {
        n = *found;
        n->scan = scan;
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
    if (n->path == NULL || tsearch(n, &s->tree, note_cmp) == NULL) {
        free(n->path);
        free(n);
        return 1;
    }
    n->why = why;
    n->scan = scan;
    n->next = s->list;
    if (s->list != NULL) {
        s->list->prev = n;
    }
    s->list = n;
    return 1;
}

/* Forget note n.  This function can't fail. */
static void
note_drop(struct note_set *s, struct note *n)
{
    tdelete(n, &s->tree, note_cmp);
    if (n->prev != NULL) {
        n->prev->next = n->next;
    } else {
        s->list = n->next;
    }
    if (n->next != NULL) {
        n->next->prev = n->prev;
    }
    free(n->path);
    free(n);
}

/* Forget the note on path, if any (it opened fine). */
void
note_forget(struct note_set *s, const char *path)
{
    struct note key, **found;

    if (s->list == NULL) {
        return;
    }
    key.path = (char *) (uintptr_t) path;
    found = tfind(&key, &s->tree, note_cmp);
    if (found != NULL) {
        note_drop(s, *found);
    }
}

/* Forget the names rescan number scan did not meet (gone, renamed). */
void
note_prune(struct note_set *s, unsigned long scan)
{
    struct note *n = s->list, *next;

    for (; n != NULL; n = next) {
        next = n->next;
        if (n->scan != scan) {
            note_drop(s, n);
        }
    }
}

/* Forget every note; s is empty and usable again. */
void
note_clear(struct note_set *s)
{
    while (s->list != NULL) {
        note_drop(s, s->list);
    }
}
