/* test_wsutf8.c -- unit tests for lib/wsutf8.c (the shared decoder)
 *
 * Covers: sequence lengths at each edge of Unicode Table 3-7, NUL and
 * ASCII as length 1, cut-short sequences, and wsutf8_valid() against a
 * code-point oracle for every 1-, 2- and 3-byte input.
 */
#include <stddef.h>

#include "unit.h"
#include "wsutf8.h"

#define SEQ(s) wsutf8_seq(s, sizeof(s) - 1)

static void
test_seq_lengths(void)
{
    UNIT_CHECK(wsutf8_seq("", 1) == 1);              /* NUL */
    UNIT_CHECK(SEQ("a") == 1);
    UNIT_CHECK(SEQ("\x7f") == 1);
    UNIT_CHECK(SEQ("\xc2\x80") == 2);
    UNIT_CHECK(SEQ("\xdf\xbf") == 2);
    UNIT_CHECK(SEQ("\xe0\xa0\x80") == 3);
    UNIT_CHECK(SEQ("\xed\x9f\xbf") == 3);            /* U+D7FF */
    UNIT_CHECK(SEQ("\xee\x80\x80") == 3);            /* U+E000 */
    UNIT_CHECK(SEQ("\xef\xbf\xbf") == 3);
    UNIT_CHECK(SEQ("\xf0\x90\x80\x80") == 4);
    UNIT_CHECK(SEQ("\xf4\x8f\xbf\xbf") == 4);        /* U+10FFFF */
}

static void
test_seq_refused(void)
{
    UNIT_CHECK(SEQ("\x80") == 0);                    /* continuation */
    UNIT_CHECK(SEQ("\xc0\x80") == 0);                /* overlong NUL */
    UNIT_CHECK(SEQ("\xc1\xbf") == 0);
    UNIT_CHECK(SEQ("\xe0\x9f\xbf") == 0);            /* overlong */
    UNIT_CHECK(SEQ("\xed\xa0\x80") == 0);            /* surrogate */
    UNIT_CHECK(SEQ("\xf0\x8f\xbf\xbf") == 0);        /* overlong */
    UNIT_CHECK(SEQ("\xf4\x90\x80\x80") == 0);        /* > U+10FFFF */
    UNIT_CHECK(SEQ("\xf5\x80\x80\x80") == 0);
    UNIT_CHECK(SEQ("\xff") == 0);
    UNIT_CHECK(SEQ("\xc3(") == 0);                   /* bad 2nd byte */
    UNIT_CHECK(SEQ("\xe2\x82(") == 0);               /* bad 3rd byte */
    UNIT_CHECK(SEQ("\xf0\x9f\x98(") == 0);           /* bad 4th byte */
    UNIT_CHECK(wsutf8_seq("\xc3\xa9", 1) == 0);      /* cut short */
    UNIT_CHECK(wsutf8_seq("\xf0\x9f\x98\x80", 3) == 0);
}

/* Code-point oracle: decode by the definition, then range-check. */
static int
oracle(const unsigned char *s, size_t n)
{
    size_t       i = 0, k, want;
    unsigned int cp;

    while (i < n) {
        if (s[i] < 0x80) { i++; continue; }
        if (s[i] >= 0xc0 && s[i] < 0xe0) { want = 1; cp = s[i] & 0x1f; }
        else if (s[i] >= 0xe0 && s[i] < 0xf0) { want = 2; cp = s[i] & 0xf; }
        else if (s[i] >= 0xf0 && s[i] < 0xf8) { want = 3; cp = s[i] & 7; }
        else return 0;
        if (n - i - 1 < want) return 0;
        for (k = 1; k <= want; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((want == 1 && cp < 0x80) || (want == 2 && cp < 0x800)
            || (want == 3 && cp < 0x10000) || cp > 0x10ffff
            || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += want + 1;
    }
    return 1;
}

static void
test_valid_matches_oracle(void)
{
    unsigned char s[3];
    unsigned int  a, b, c;
    long          bad = 0;

    for (a = 0; a < 256; a++) {
        s[0] = (unsigned char) a;
        bad += wsutf8_valid((char *) s, 1) != oracle(s, 1);
        for (b = 0; b < 256; b++) {
            s[1] = (unsigned char) b;
            bad += wsutf8_valid((char *) s, 2) != oracle(s, 2);
            if (a < 0xe0 || a > 0xf4)
                continue;
            for (c = 0; c < 256; c++) {
                s[2] = (unsigned char) c;
                bad += wsutf8_valid((char *) s, 3) != oracle(s, 3);
            }
        }
    }
    UNIT_CHECK(bad == 0);
}

static void
test_valid_strings(void)
{
    UNIT_CHECK(wsutf8_valid("", 0) == 1);
    UNIT_CHECK(wsutf8_valid("a\0b", 3) == 1);
    UNIT_CHECK(wsutf8_valid("caf\xc3\xa9 \xf0\x9f\x98\x80", 10) == 1);
    UNIT_CHECK(wsutf8_valid("ok\xe2\x82", 4) == 0);
}

int
main(void)
{
    UNIT_RUN(test_seq_lengths);
    UNIT_RUN(test_seq_refused);
    UNIT_RUN(test_valid_matches_oracle);
    UNIT_RUN(test_valid_strings);
    return unit_done();
}
