/* utf8.c -- strict UTF-8 validation
 *
 * Owns the RFC 3629 well-formedness check (Unicode Table 3-7: no overlong
 * forms, no surrogates, nothing above U+10FFFF), which is also exactly
 * what JavaScript's decodeURIComponent and jansson accept.
 */
#include <stddef.h>

#include "utf8.h"

/* 1 if p[0..len) is well-formed UTF-8, else 0.  Can't fail. */
int
utf8_valid(const char *p, size_t len)
{
    const unsigned char *s = (const unsigned char *) p;
    size_t  i, n, k;
    unsigned char lo, hi;

    i = 0;
    while (i < len) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        /* Second-byte range per lead byte (Table 3-7). */
        lo = 0x80;
        hi = 0xbf;
        if (s[i] >= 0xc2 && s[i] <= 0xdf) {
            n = 1;
        } else if (s[i] == 0xe0) {
            n = 2; lo = 0xa0;
        } else if (s[i] == 0xed) {
            n = 2; hi = 0x9f;            /* no surrogates */
        } else if (s[i] >= 0xe1 && s[i] <= 0xef) {
            n = 2;                       /* E1..EC, EE..EF */
        } else if (s[i] == 0xf0) {
            n = 3; lo = 0x90;
        } else if (s[i] >= 0xf1 && s[i] <= 0xf3) {
            n = 3;
        } else if (s[i] == 0xf4) {
            n = 3; hi = 0x8f;            /* <= U+10FFFF */
        } else {
            return 0;                    /* 80..C1, F5..FF */
        }
        if (len - i - 1 < n)
            return 0;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (k = 2; k <= n; k++) {
            if (s[i + k] < 0x80 || s[i + k] > 0xbf)
                return 0;
        }
        i += n + 1;
    }
    return 1;
}
