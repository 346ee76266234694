/* utf8.c -- replace invalid UTF-8 and NUL bytes with U+FFFD
 *
 * The policy, in full (also in docs/COLLECTOR.md):
 * - a well-formed UTF-8 sequence (RFC 3629: no overlongs, no surrogates
 *   U+D800..U+DFFF, nothing above U+10FFFF) is copied unchanged;
 * - every byte that does not start a well-formed sequence, including a
 *   truncated sequence at the end of the line, is replaced by one U+FFFD
 *   (EF BF BD) and decoding resumes at the next byte;
 * - NUL (0x00) is replaced by U+FFFD, because many JSON consumers stop at
 *   "\u0000";
 * - every other byte below 0x80 (tab, other control characters, DEL) is
 *   kept and left to the JSON encoder to escape.
 * The trailing CR of a CRLF line ending is removed by the line reader, not
 * here.  This file knows nothing about files or JSON.  The decoder (where
 * a well-formed sequence ends) is lib/wsutf8.c, shared with the app; the
 * policy is this file's.  lib/wsjson.c applies the same policy inline
 * when the JSON encoder asks for it (WSJSON_REPLACE_BAD, event.c).
 */
#include <string.h>

#include "utf8.h"
#include "wsutf8.h"

/*
 * Copy len bytes from in to out applying the policy above.  out must hold
 * at least len * UTF8_MAX_GROWTH bytes.  Returns the number of bytes
 * written.  This function can't fail.
 */
size_t
utf8_sanitize(const char *in, size_t len, char *out)
{
    const unsigned char *s = (const unsigned char *) in;
    size_t i = 0, o = 0;

    while (i < len) {
        size_t run = i, n;

        /* fast path: a run of printable-or-control ASCII other than NUL */
        while (run < len && s[run] < 0x80 && s[run] != 0) {
            run++;
        }
        if (run > i) {
            memcpy(out + o, s + i, run - i);
            o += run - i;
            i = run;
            continue;
        }
        n = s[i] == 0 ? 0 : wsutf8_seq(in + i, len - i);
        if (n == 0) {
            out[o++] = (char) 0xEF;
            out[o++] = (char) 0xBF;
            out[o++] = (char) 0xBD;
            i++;
            continue;
        }
        memcpy(out + o, s + i, n);
        o += n;
        i += n;
    }
    return o;
}

/*
 * Length of the well-formed sequence at s (len > 0 bytes available): 1
 * for ASCII other than NUL, 2..4 for a multi-byte character, 0 when the
 * byte at s must be replaced.  This function can't fail.
 */
size_t
utf8_sequence(const char *s, size_t len)
{
    return s[0] == 0 ? 0 : wsutf8_seq(s, len);
}

/*
 * Return 1 if s[0..len) is well-formed UTF-8 without NUL bytes, 0 if not.
 */
int
utf8_is_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *) s;
    size_t i = 0;

    while (i < len) {
        size_t n;

        if (u[i] != 0 && u[i] < 0x80) {
            i++;
            continue;
        }
        n = u[i] == 0 ? 0 : wsutf8_seq(s + i, len - i);
        if (n == 0) {
            return 0;
        }
        i += n;
    }
    return 1;
}
