/* outq.h -- the stdout queue that knows which input bytes are safe
 *
 * Owns the bytes waiting for a non-blocking stdout and, for each event,
 * a mark saying "once the stream is written up to here, this file may
 * resume at that offset".  Marks are released strictly in stream order,
 * so an offset is committed only after every byte of its event, and of
 * every event before it, was accepted by write(2).  It does not know what
 * a file is: a mark carries an opaque owner pointer and a generation.
 */
#ifndef OUTQ_H
#define OUTQ_H

#include <stddef.h>
#include <stdint.h>

struct outq_mark {
    uint64_t  end;              /* stream position after the event */
    void     *owner;            /* opaque, e.g. a struct tfile */
    uint64_t  gen;              /* owner's generation when queued */
    uint64_t  offset;           /* resume offset to commit */
    int       skip;             /* resume in "skip to newline" mode */
};

/* Called for each mark whose bytes are all written, in order. */
typedef void outq_commit_fn(void *ctx, const struct outq_mark *m);

struct outq;

struct outq *outq_create(char *err, size_t errlen);
void outq_destroy(struct outq *q);
int outq_append(struct outq *q, const char *buf, size_t len);
int outq_mark(struct outq *q, void *owner, uint64_t gen, uint64_t offset,
    int skip);
size_t outq_pending(const struct outq *q);
int outq_flush(struct outq *q, int fd, outq_commit_fn *fn, void *ctx,
    char *err, size_t errlen);
void outq_forget(struct outq *q, const void *owner);

#endif
