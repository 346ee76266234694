/* pct.h -- percent-decoding/encoding (RFC 3986)
 *
 * Owns: turning %XX escapes into bytes (strictly: every '%' must be
 * followed by two hex digits) and the reverse, matching JavaScript's
 * encodeURIComponent so Set-Cookie values are byte-identical to Express.
 * Does not own: UTF-8 validation (see utf8.h) or any '+'-as-space rule.
 */
#ifndef PCT_H
#define PCT_H

#include <stddef.h>

#include "buf.h"

/* Decode src[0..len) into dst (dstlen >= len+1 is always enough); dst is
 * NUL-terminated.  Returns 0 and sets *outlen, or -1 on a malformed escape
 * ("%", "%4", "%zz"), a decoded NUL byte, or dst too small.  '+' is NOT a
 * space. */
int pct_decode(const char *src, size_t len, char *dst, size_t dstlen,
               size_t *outlen);

/* Encode like JavaScript's encodeURIComponent (unreserved: A-Z a-z 0-9
 * - _ . ! ~ * ' ( )); every other byte becomes %XX with upper-case hex.
 * Bytes are encoded as given (the caller validates UTF-8 if it needs
 * encodeURIComponent's URIError behaviour).  Returns 0, or -1 on OOM. */
int pct_encode_component(struct buf *out, const char *src, size_t len);

#endif
