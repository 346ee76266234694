/* buf.c -- growable byte buffer (NUL-terminated for convenience)
 *
 * Owns the growth policy (doubling from 64 bytes, overflow-checked) and the
 * sticky out-of-memory flag described in buf.h.  Knows nothing about the
 * bytes it holds.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define BUF_MIN_CAP 64

/* Make room for extra more bytes plus the NUL.  0, or -1 (oom set). */
static int
buf_reserve(struct buf *b, size_t extra)
{
    size_t  need, cap;
    char   *p;

    if (b->oom)
        return -1;
    if (extra > SIZE_MAX - b->len - 1) {
        b->oom = 1;
        return -1;
    }
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : BUF_MIN_CAP;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    p = realloc(b->data, cap);
    if (p == NULL) {
        b->oom = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

/* Make b empty with no memory.  Can't fail. */
void
buf_init(struct buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->oom = 0;
}

/* Release memory; b is left as after buf_init(). */
void
buf_free(struct buf *b)
{
    free(b->data);
    buf_init(b);
}

/* Forget the contents, keep the memory and the oom flag. */
void
buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

/* Append p[0..len).  0, or -1 on OOM (sticky). */
int
buf_append(struct buf *b, const char *p, size_t len)
{
    if (buf_reserve(b, len) != 0)
        return -1;
    if (len > 0)
        memcpy(b->data + b->len, p, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

/* Append a C string.  0, or -1 on OOM. */
int
buf_appends(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int
buf_append_ll(struct buf *b, long long v)
{
    char                digits[24];
    char               *p = digits + sizeof(digits);
    unsigned long long  u = v < 0 ? 0ULL - (unsigned long long) v
                                  : (unsigned long long) v;

    do {
        *--p = (char) ('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *--p = '-';
    return buf_append(b, p, (size_t) (digits + sizeof(digits) - p));
}

/* Append formatted text.  0, or -1 on OOM or an encoding error. */
int
buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    char    small[256];
    int     n;

    if (b->oom)
        return -1;
    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t) n < sizeof(small))
        return buf_append(b, small, (size_t) n);

    /* Too long for the stack buffer: format straight into the buffer. */
    if (buf_reserve(b, (size_t) n) != 0)
        return -1;
    va_start(ap, fmt);
    n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->data[b->len] = '\0';
        return -1;
    }
    b->len += (size_t) n;
    return 0;
}
