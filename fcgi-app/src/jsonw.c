/* jsonw.c -- tiny JSON writer for responses
 *
 * Owns the app's escaping policy for hand-built response bodies.  Besides
 * what RFC 8259 requires ('"', '\\', U+0000..U+001F) it escapes DEL and
 * U+2028/U+2029 so the output is also safe inside JavaScript source.  The
 * escaping is lib/wsjson.c's, fed through a stack buffer so a long string
 * costs no more than its own bytes in the response buffer.
 */
#include <stddef.h>

#include "buf.h"
#include "jsonw.h"
#include "utf8.h"
#include "wsjson.h"

#define JSONW_CHUNK 512     /* input bytes escaped per stack buffer */

/* Append p[0..len) escaped per flags.  See jsonw.h. */
int
jsonw_escaped(struct buf *out, const char *p, size_t len, unsigned flags)
{
    char   tmp[JSONW_CHUNK * WSJSON_MAX_GROWTH];
    size_t take, n;

    while (len > 0) {
        take = len < JSONW_CHUNK ? len : JSONW_CHUNK;
        /* Never split a UTF-8 sequence (U+2028 must be seen whole): end
         * the chunk before the continuation bytes of the next one. */
        while (take < len && take > JSONW_CHUNK - 3
               && ((unsigned char) p[take] & 0xc0) == 0x80)
        {
            take--;
        }
        n = wsjson_escape(p, take, tmp, flags);
        if (buf_append(out, tmp, n) != 0)
            return -1;
        p += take;
        len -= take;
    }
    return 0;
}

/* Append p[0..len) as a JSON string literal.  See jsonw.h. */
int
jsonw_string(struct buf *out, const char *p, size_t len)
{
    if (!utf8_valid(p, len))
        return -1;
    if (buf_append(out, "\"", 1) != 0
        || jsonw_escaped(out, p, len,
                         WSJSON_ESCAPE_DEL | WSJSON_ESCAPE_LS_PS) != 0)
    {
        return -1;
    }
    return buf_append(out, "\"", 1);
}
