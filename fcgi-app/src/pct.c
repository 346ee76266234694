/* pct.c -- percent-decoding/encoding (RFC 3986)
 *
 * Owns strict %XX decoding (no '+' rule, no NUL bytes out) and
 * encodeURIComponent-compatible encoding.  The caller decides what a
 * decoded byte string may contain beyond that (router.c checks UTF-8).
 */
#include <stddef.h>

#include "buf.h"
#include "pct.h"

/* Value of hex digit c, or -1. */
static int
pct_hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode src[0..len) into dst.  See pct.h.  On -1 dst holds garbage but
 * is never overrun. */
int
pct_decode(const char *src, size_t len, char *dst, size_t dstlen,
           size_t *outlen)
{
    size_t  i, o;
    int     hi, lo;
    unsigned char c;

    if (dstlen == 0)
        return -1;
    o = 0;
    for (i = 0; i < len; i++) {
        c = (unsigned char) src[i];
        if (c == '%') {
            if (len - i < 3)
                return -1;
            hi = pct_hex((unsigned char) src[i + 1]);
            lo = pct_hex((unsigned char) src[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (unsigned char) (hi << 4 | lo);
            i += 2;
        }
        if (c == '\0' || o + 1 >= dstlen)
            return -1;
        dst[o++] = (char) c;
    }
    dst[o] = '\0';
    *outlen = o;
    return 0;
}

/* 1 if encodeURIComponent leaves c alone (ECMA-262 uriUnreserved). */
static int
pct_unreserved(unsigned char c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
        || (c >= '0' && c <= '9'))
        return 1;
    switch (c) {
    case '-': case '_': case '.': case '!': case '~':
    case '*': case '\'': case '(': case ')':
        return 1;
    default:
        return 0;
    }
}

/* Append src[0..len) encodeURIComponent-style.  0, or -1 on OOM. */
int
pct_encode_component(struct buf *out, const char *src, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    char    esc[3];
    size_t  i, run;
    unsigned char c;

    run = 0;
    for (i = 0; i < len; i++) {
        c = (unsigned char) src[i];
        if (pct_unreserved(c)) {
            run++;
            continue;
        }
        if (run > 0 && buf_append(out, src + i - run, run) != 0)
            return -1;
        run = 0;
        esc[0] = '%';
        esc[1] = hex[c >> 4];
        esc[2] = hex[c & 0x0f];
        if (buf_append(out, esc, 3) != 0)
            return -1;
    }
    if (run > 0 && buf_append(out, src + len - run, run) != 0)
        return -1;
    return out->oom ? -1 : 0;
}
