/* wsutf8.c -- the UTF-8 decoder both programs share
 *
 * One table (Unicode Table 3-7) of the second byte's range per lead
 * byte; every later byte is 80..BF.  This is also exactly what
 * JavaScript's decodeURIComponent and jansson accept.
 */
#include <stddef.h>

#include "wsutf8.h"

size_t
wsutf8_seq(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *) s;
    unsigned char        lo = 0x80, hi = 0xbf, c = u[0];
    size_t               n, k;

    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) {
            lo = 0xa0;                  /* no overlongs */
        } else if (c == 0xed) {
            hi = 0x9f;                  /* no surrogates */
        }
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) {
            lo = 0x90;                  /* no overlongs */
        } else if (c == 0xf4) {
            hi = 0x8f;                  /* nothing above U+10FFFF */
        }
    } else {
        return 0;                       /* 80..C1, F5..FF */
    }
    if (len < n || u[1] < lo || u[1] > hi) {
        return 0;
    }
    for (k = 2; k < n; k++) {
        if ((u[k] & 0xc0) != 0x80) {
            return 0;
        }
    }
    return n;
}

int
wsutf8_valid(const char *p, size_t len)
{
    const unsigned char *s = (const unsigned char *) p;
    size_t               i = 0, n;

    while (i < len) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        n = wsutf8_seq(p + i, len - i);
        if (n == 0) {
            return 0;
        }
        i += n;
    }
    return 1;
}
