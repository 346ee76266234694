/* outq.c -- byte queue for stdout plus ordered commit marks
 *
 * Bytes live in one growable buffer; written bytes are dropped by moving
 * the rest to the front when more than half the buffer is dead.  Marks
 * live in a ring.  The caller bounds memory by not appending while
 * outq_pending() is above its high-water mark; a single event may exceed
 * it (one long line), so the buffer grows to the largest event plus the
 * high-water mark and no further.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "outq.h"

#define OUTQ_KEEP ((size_t) 4 * 1024 * 1024)  /* largest buffer kept when idle */

struct outq {
    char              *buf;
    size_t             cap;
    size_t             head;    /* first unwritten byte in buf */
    size_t             tail;    /* end of queued bytes in buf */
    uint64_t           written; /* stream position of buf[head] */
    struct outq_mark  *marks;   /* ring */
    size_t             mcap;
    size_t             mhead;
    size_t             mlen;
};

/* Create an empty queue.  Returns NULL and fills err on failure. */
struct outq *
outq_create(char *err, size_t errlen)
{
    struct outq *q = calloc(1, sizeof(*q));

    if (q == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    return q;
}

/* Free the queue.  Accepts NULL. */
void
outq_destroy(struct outq *q)
{
    if (q == NULL) {
        return;
    }
    free(q->buf);
    free(q->marks);
    free(q);
}

/* Bytes queued and not yet written.  This function can't fail. */
size_t
outq_pending(const struct outq *q)
{
    return q->tail - q->head;
}

/* Queue len bytes.  Returns 0, or -1 if out of memory. */
int
outq_append(struct outq *q, const char *buf, size_t len)
{
    if (q->tail + len > q->cap && q->head > 0) {
        memmove(q->buf, q->buf + q->head, q->tail - q->head);
        q->tail -= q->head;
        q->head = 0;
    }
    if (q->tail + len > q->cap) {
        size_t cap = q->cap ? q->cap : 65536;
        char *nb;

        while (cap < q->tail + len) {
            cap *= 2;
        }
        nb = realloc(q->buf, cap);
        if (nb == NULL) {
            return -1;
        }
        q->buf = nb;
        q->cap = cap;
    }
    memcpy(q->buf + q->tail, buf, len);
    q->tail += len;
    return 0;
}

/*
 * Queue a mark at the current end of the stream: when everything queued
 * so far is written, fn(owner, gen, offset, skip) is called.  Returns 0,
 * or -1 if out of memory.
 */
int
outq_mark(struct outq *q, void *owner, uint64_t gen, uint64_t offset,
    int skip)
{
    struct outq_mark *m;

    if (q->mlen == q->mcap) {
        size_t cap = q->mcap ? q->mcap * 2 : 1024, i;
        struct outq_mark *nm = malloc(cap * sizeof(*nm));

        if (nm == NULL) {
            return -1;
        }
        for (i = 0; i < q->mlen; i++) {
            nm[i] = q->marks[(q->mhead + i) % q->mcap];
        }
        free(q->marks);
        q->marks = nm;
        q->mcap = cap;
        q->mhead = 0;
    }
    m = &q->marks[(q->mhead + q->mlen) % q->mcap];
    m->end = q->written + (q->tail - q->head);
    m->owner = owner;
    m->gen = gen;
    m->offset = offset;
    m->skip = skip;
    q->mlen++;
    return 0;
}

/* Release every mark whose bytes are written. */
static void
outq_release(struct outq *q, outq_commit_fn *fn, void *ctx)
{
    while (q->mlen > 0) {
        struct outq_mark *m = &q->marks[q->mhead];

        if (m->end > q->written) {
            break;
        }
        if (m->owner != NULL) {
            fn(ctx, m);
        }
        q->mhead = (q->mhead + 1) % q->mcap;
        q->mlen--;
    }
}

/*
 * Write as much as fd (non-blocking) accepts and commit the marks that
 * became safe.  Returns 1 if the queue is now empty, 0 if fd would block,
 * or -1 with err filled (e.g. EPIPE: the reader went away).
 */
int
outq_flush(struct outq *q, int fd, outq_commit_fn *fn, void *ctx,
    char *err, size_t errlen)
{
    while (q->tail > q->head) {
        ssize_t n = write(fd, q->buf + q->head, q->tail - q->head);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN) {
                break;
            }
            snprintf(err, errlen, "write(stdout): %s", strerror(errno));
            return -1;
        }
        q->head += (size_t) n;
        q->written += (uint64_t) n;
    }
    if (q->head == q->tail) {
        q->head = 0;
        q->tail = 0;
        if (q->cap > OUTQ_KEEP) {
            /* a long line grew the buffer: give the memory back */
            free(q->buf);
            q->buf = NULL;
            q->cap = 0;
        }
    }
    outq_release(q, fn, ctx);
    return q->head == q->tail ? 1 : 0;
}

/*
 * Drop every pending mark of owner (which is going away): its bytes are
 * still written, but nothing is committed for it.  This can't fail.
 */
void
outq_forget(struct outq *q, const void *owner)
{
    size_t i;

    for (i = 0; i < q->mlen; i++) {
        struct outq_mark *m = &q->marks[(q->mhead + i) % q->mcap];

        if (m->owner == owner) {
            m->owner = NULL;
        }
    }
}
