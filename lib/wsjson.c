/* wsjson.c -- JSON string escaping, with the policies both programs use
 *
 * The hot path is a run of bytes that need nothing (0x20..0x7e or
 * 0x20..0x7f, minus '"' and '\\'), copied with one memcpy; everything
 * else is one byte or one UTF-8 sequence at a time.  The collector
 * encodes every log line through here, so keep that loop tight.
 */
#include <stddef.h>
#include <string.h>

#include "wsjson.h"
#include "wsutf8.h"

/* Escape the ASCII byte c (a control, '"', '\\' or DEL) at out.
 * Returns the bytes written. */
static size_t
wsjson_ascii(unsigned char c, char *out, unsigned flags)
{
    const char *hex = (flags & WSJSON_HEX_UPPER) ? "0123456789ABCDEF"
                                                 : "0123456789abcdef";
    char        e;

    switch (c) {
    case '"':  e = '"';  break;
    case '\\': e = '\\'; break;
    case '\b': e = 'b';  break;
    case '\f': e = 'f';  break;
    case '\n': e = 'n';  break;
    case '\r': e = 'r';  break;
    case '\t': e = 't';  break;
    default:
        out[0] = '\\';
        out[1] = 'u';
        out[2] = '0';
        out[3] = '0';
        out[4] = hex[c >> 4];
        out[5] = hex[c & 0x0f];
        return 6;
    }
    out[0] = '\\';
    out[1] = e;
    return 2;
}

/* Write the sequence starting at s (a byte >= 0x80, or NUL under
 * WSJSON_REPLACE_BAD) at out; *used is set to the input bytes taken.
 * Returns the bytes written. */
static size_t
wsjson_seq(const unsigned char *s, size_t len, char *out, unsigned flags,
           size_t *used)
{
    size_t n = s[0] == 0 ? 0 : wsutf8_seq((const char *) s, len);

    if (n == 0 && (flags & WSJSON_REPLACE_BAD)) {
        out[0] = (char) 0xef;                       /* U+FFFD */
        out[1] = (char) 0xbf;
        out[2] = (char) 0xbd;
        *used = 1;
        return 3;
    }
    if (n == 0) {
        n = 1;                                      /* copied as is */
    }
    *used = n;
    if (n == 3 && (flags & WSJSON_ESCAPE_LS_PS) && s[0] == 0xe2
        && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9))
    {
        out[0] = '\\';
        out[1] = 'u';
        out[2] = '2';
        out[3] = '0';
        out[4] = '2';
        out[5] = s[2] == 0xa8 ? '8' : '9';
        return 6;
    }
    memcpy(out, s, n);
    return n;
}

size_t
wsjson_escape(const char *in, size_t len, char *out, unsigned flags)
{
    const unsigned char *s = (const unsigned char *) in;
    unsigned             plain = (flags & WSJSON_ESCAPE_DEL) ? 0x5f : 0x60;
    size_t               i = 0, o = 0, run, used;
    unsigned char        c;

    while (i < len) {
        run = i;
        while (run < len && (unsigned) (s[run] - 0x20) < plain
               && s[run] != '"' && s[run] != '\\')
        {
            run++;
        }
        memcpy(out + o, s + i, run - i);
        o += run - i;
        i = run;
        if (i == len) {
            break;
        }
        c = s[i];
        if (c >= 0x80 || (c == 0 && (flags & WSJSON_REPLACE_BAD))) {
            o += wsjson_seq(s + i, len - i, out + o, flags, &used);
            i += used;
            continue;
        }
        o += wsjson_ascii(c, out + o, flags);
        i++;
    }
    return o;
}
