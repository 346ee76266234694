/* buf.h -- growable byte buffer (NUL-terminated for convenience)
 *
 * Owns: a heap byte buffer that grows by doubling and keeps a NUL after
 * the last byte so data can be used as a C string.  The oom flag is
 * sticky: after the first allocation failure every append is a no-op that
 * returns -1, so a caller can build a whole response and check once.
 * Does not own: any knowledge of what the bytes mean.
 */
#ifndef BUF_H
#define BUF_H

#include <stddef.h>

struct buf {
    char   *data;   /* NULL until the first append; else NUL-terminated */
    size_t  len;    /* bytes used, not counting the NUL */
    size_t  cap;    /* bytes allocated */
    int     oom;    /* sticky: once set, appends are no-ops returning -1 */
};

/* Make b empty with no memory.  Can't fail. */
void buf_init(struct buf *b);

/* Release b's memory and make it empty again (oom cleared).  Accepts a
 * buffer that was only buf_init()ed. */
void buf_free(struct buf *b);

/* len = 0 and data[0] = '\0' when allocated; memory and oom are kept. */
void buf_reset(struct buf *b);

/* Append p[0..len).  Returns 0, or -1 on OOM (and sets oom) or when oom
 * was already set. */
int buf_append(struct buf *b, const char *p, size_t len);

/* Append the C string s.  Same returns as buf_append(). */
int buf_appends(struct buf *b, const char *s);

/* Append v in decimal (as printf's %lld).  Same returns as buf_append().
 * For hot paths: no format string parsing. */
int buf_append_ll(struct buf *b, long long v);

/* Append printf-formatted text.  Returns 0, or -1 on OOM / format error
 * (the buffer is left as it was before the call unless oom is set). */
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
