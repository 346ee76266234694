/* jsonmem.c -- jansson's memory in a worker: small blocks reused
 *
 * Each block carries a header (one max_align_t) holding its size class
 * while in use and the next free block while on a list.  Size classes
 * are 16 bytes apart: class k holds blocks of (k + 1) * 16 bytes, so a
 * request for n bytes is served from class (n - 1) / 16.  See jsonmem.h.
 */
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "jsonmem.h"

#define JSONMEM_STEP    16
#define JSONMEM_CLASSES (JSONMEM_SMALL / JSONMEM_STEP)
#define JSONMEM_LARGE   JSONMEM_CLASSES     /* class of a malloc()ed block */

#if defined(__SANITIZE_ADDRESS__)
#define JSONMEM_REUSE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define JSONMEM_REUSE 0
#endif
#endif
#ifndef JSONMEM_REUSE
#define JSONMEM_REUSE 1
#endif

union jsonmem_head {
    size_t               cls;       /* in use: its class */
    union jsonmem_head  *next;      /* free: the next free block */
    max_align_t          align;
};

static union jsonmem_head *jsonmem_lists[JSONMEM_CLASSES];
static size_t              jsonmem_nfree[JSONMEM_CLASSES];

void *
jsonmem_alloc(size_t n)
{
    union jsonmem_head *h;
    size_t              cls, size;

    cls = n == 0 ? 0 : (n - 1) / JSONMEM_STEP;
    if (cls < JSONMEM_CLASSES && jsonmem_lists[cls] != NULL) {
        h = jsonmem_lists[cls];
        jsonmem_lists[cls] = h->next;
        jsonmem_nfree[cls]--;
        h->cls = cls;
        return h + 1;
    }
    if (cls < JSONMEM_CLASSES) {
        size = (cls + 1) * JSONMEM_STEP;
    } else {
        if (n > SIZE_MAX - sizeof(*h)) {
            return NULL;
        }
        size = n;
        cls = JSONMEM_LARGE;
    }
    h = malloc(sizeof(*h) + size);
    if (h == NULL) {
        return NULL;
    }
    h->cls = cls;
    return h + 1;
}

void
jsonmem_free(void *p)
{
    union jsonmem_head *h;
    size_t              cls;

    if (p == NULL) {
        return;
    }
    h = (union jsonmem_head *) p - 1;
    cls = h->cls;
    if (JSONMEM_REUSE && cls < JSONMEM_CLASSES
        && jsonmem_nfree[cls] < JSONMEM_KEEP)
    {
        h->next = jsonmem_lists[cls];
        jsonmem_lists[cls] = h;
        jsonmem_nfree[cls]++;
        return;
    }
    free(h);
}

size_t
jsonmem_kept(void)
{
    size_t k, n = 0;

    for (k = 0; k < JSONMEM_CLASSES; k++) {
        n += jsonmem_nfree[k];
    }
    return n;
}

void
jsonmem_install(void)
{
    json_set_alloc_funcs(jsonmem_alloc, jsonmem_free);
}
