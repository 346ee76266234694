/* jsonw.c -- tiny JSON writer for responses
 *
 * Owns JSON string escaping for hand-built response bodies.  Besides what
 * RFC 8259 requires ('"', '\\', U+0000..U+001F) it escapes DEL and
 * U+2028/U+2029 so the output is also safe inside JavaScript source.
 */
#include <stddef.h>

#include "buf.h"
#include "jsonw.h"
#include "utf8.h"

/* Append p[0..len) as a JSON string literal.  See jsonw.h. */
int
jsonw_string(struct buf *out, const char *p, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *) p;
    char        esc[7];
    const char *rep;
    size_t      i, run, skip;

    if (!utf8_valid(p, len))
        return -1;
    if (buf_append(out, "\"", 1) != 0)
        return -1;
    run = 0;
    for (i = 0; i < len; i += skip) {
        rep = NULL;
        skip = 1;
        switch (s[i]) {
        case '"':  rep = "\\\""; break;
        case '\\': rep = "\\\\"; break;
        case '\b': rep = "\\b"; break;
        case '\f': rep = "\\f"; break;
        case '\n': rep = "\\n"; break;
        case '\r': rep = "\\r"; break;
        case '\t': rep = "\\t"; break;
        default:
            if (s[i] < 0x20 || s[i] == 0x7f) {
                esc[0] = '\\'; esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
                esc[4] = hex[s[i] >> 4];
                esc[5] = hex[s[i] & 0x0f];
                esc[6] = '\0';
                rep = esc;
            } else if (s[i] == 0xe2 && len - i >= 3 && s[i + 1] == 0x80
                       && (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
                rep = s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029";
                skip = 3;
            }
        }
        if (rep == NULL) {
            run++;
            continue;
        }
        if (run > 0 && buf_append(out, p + i - run, run) != 0)
            return -1;
        run = 0;
        if (buf_appends(out, rep) != 0)
            return -1;
    }
    if (run > 0 && buf_append(out, p + len - run, run) != 0)
        return -1;
    return buf_append(out, "\"", 1);
}
