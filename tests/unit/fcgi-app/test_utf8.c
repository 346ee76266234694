/* test_utf8.c -- unit tests for utf8.c
 *
 * Named edge cases (overlongs, surrogates, > U+10FFFF, truncation), then
 * every 1-, 2- and 3-byte sequence checked against an independent oracle:
 * a sequence is valid iff a permissive decoder's code point, re-encoded
 * canonically, gives back the same bytes and is not a surrogate.
 */
#include <stdint.h>
#include <string.h>

#include "unit.h"
#include "utf8.h"

#define V(s) utf8_valid(s, sizeof(s) - 1)

static void
test_ascii_and_empty(void)
{
    UNIT_CHECK(utf8_valid("", 0) == 1);
    UNIT_CHECK(V("hello, world") == 1);
    UNIT_CHECK(V("\x7f") == 1);
    UNIT_CHECK(utf8_valid("a\0b", 3) == 1);   /* NUL is valid UTF-8 */
}

static void
test_boundaries_valid(void)
{
    UNIT_CHECK(V("\xc2\x80") == 1);            /* U+0080 */
    UNIT_CHECK(V("\xdf\xbf") == 1);            /* U+07FF */
    UNIT_CHECK(V("\xe0\xa0\x80") == 1);        /* U+0800 */
    UNIT_CHECK(V("\xed\x9f\xbf") == 1);        /* U+D7FF */
    UNIT_CHECK(V("\xee\x80\x80") == 1);        /* U+E000 */
    UNIT_CHECK(V("\xef\xbf\xbf") == 1);        /* U+FFFF */
    UNIT_CHECK(V("\xf0\x90\x80\x80") == 1);    /* U+10000 */
    UNIT_CHECK(V("\xf4\x8f\xbf\xbf") == 1);    /* U+10FFFF */
    UNIT_CHECK(V("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") == 1);
}

static void
test_overlongs(void)
{
    UNIT_CHECK(V("\xc0\x80") == 0);            /* overlong NUL */
    UNIT_CHECK(V("\xc0\xaf") == 0);            /* overlong '/' */
    UNIT_CHECK(V("\xc1\xbf") == 0);
    UNIT_CHECK(V("\xe0\x80\x80") == 0);
    UNIT_CHECK(V("\xe0\x9f\xbf") == 0);
    UNIT_CHECK(V("\xe0\x80\xaf") == 0);        /* 3-byte overlong '/' */
    UNIT_CHECK(V("\xf0\x80\x80\x80") == 0);
    UNIT_CHECK(V("\xf0\x8f\xbf\xbf") == 0);
    UNIT_CHECK(V("\xf0\x80\x80\xaf") == 0);
}

static void
test_surrogates(void)
{
    UNIT_CHECK(V("\xed\xa0\x80") == 0);        /* U+D800 */
    UNIT_CHECK(V("\xed\xaf\xbf") == 0);        /* U+DBFF */
    UNIT_CHECK(V("\xed\xb0\x80") == 0);        /* U+DC00 */
    UNIT_CHECK(V("\xed\xbf\xbf") == 0);        /* U+DFFF */
    UNIT_CHECK(V("\xed\xa0\xbd\xed\xb8\x80") == 0);  /* CESU-8 pair */
}

static void
test_out_of_range_and_bad_leads(void)
{
    UNIT_CHECK(V("\xf4\x90\x80\x80") == 0);    /* U+110000 */
    UNIT_CHECK(V("\xf5\x80\x80\x80") == 0);
    UNIT_CHECK(V("\xf7\xbf\xbf\xbf") == 0);
    UNIT_CHECK(V("\xf8\x88\x80\x80\x80") == 0);
    UNIT_CHECK(V("\xfc\x84\x80\x80\x80\x80") == 0);
    UNIT_CHECK(V("\xfe") == 0);
    UNIT_CHECK(V("\xff") == 0);
    UNIT_CHECK(V("\x80") == 0);                /* lone continuation */
    UNIT_CHECK(V("a\xbf") == 0);
}

static void
test_truncated(void)
{
    UNIT_CHECK(V("\xc3") == 0);
    UNIT_CHECK(V("\xe2\x82") == 0);
    UNIT_CHECK(V("\xf0\x9f\x98") == 0);
    UNIT_CHECK(V("\xe2\x82" "A") == 0);
    UNIT_CHECK(V("\xf0\x9f\x98" "A") == 0);
    UNIT_CHECK(V("\xc3" "\xc3\xa9") == 0);
    /* The length is respected: a valid char cut by len. */
    UNIT_CHECK(utf8_valid("\xc3\xa9", 1) == 0);
    UNIT_CHECK(utf8_valid("\xf0\x9f\x98\x80", 3) == 0);
}

/* Oracle: permissive decode of s[0..n) as ONE sequence, then canonical
 * re-encoding; 1 iff identical and not a surrogate and <= U+10FFFF. */
static int
oracle(const unsigned char *s, size_t n)
{
    uint32_t cp;
    size_t   need, i;
    unsigned char enc[4];

    if (s[0] < 0x80) {
        cp = s[0]; need = 1;
    } else if ((s[0] & 0xe0) == 0xc0) {
        cp = s[0] & 0x1f; need = 2;
    } else if ((s[0] & 0xf0) == 0xe0) {
        cp = s[0] & 0x0f; need = 3;
    } else if ((s[0] & 0xf8) == 0xf0) {
        cp = s[0] & 0x07; need = 4;
    } else {
        return 0;
    }
    if (need != n)
        return 0;
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    if (cp < 0x80) {
        enc[0] = (unsigned char) cp; need = 1;
    } else if (cp < 0x800) {
        enc[0] = (unsigned char) (0xc0 | cp >> 6);
        enc[1] = (unsigned char) (0x80 | (cp & 0x3f)); need = 2;
    } else if (cp < 0x10000) {
        enc[0] = (unsigned char) (0xe0 | cp >> 12);
        enc[1] = (unsigned char) (0x80 | (cp >> 6 & 0x3f));
        enc[2] = (unsigned char) (0x80 | (cp & 0x3f)); need = 3;
    } else {
        enc[0] = (unsigned char) (0xf0 | cp >> 18);
        enc[1] = (unsigned char) (0x80 | (cp >> 12 & 0x3f));
        enc[2] = (unsigned char) (0x80 | (cp >> 6 & 0x3f));
        enc[3] = (unsigned char) (0x80 | (cp & 0x3f)); need = 4;
    }
    return need == n && memcmp(enc, s, n) == 0;
}

static void
test_exhaustive_short_sequences(void)
{
    unsigned char s[3];
    unsigned long mismatches = 0;
    unsigned a, b, c;

    for (a = 0; a < 256; a++) {
        s[0] = (unsigned char) a;
        mismatches += utf8_valid((char *) s, 1) != oracle(s, 1);
        for (b = 0; b < 256; b++) {
            s[1] = (unsigned char) b;
            mismatches += utf8_valid((char *) s, 2)
                          != (oracle(s, 2) || (oracle(s, 1)
                                               && oracle(s + 1, 1)));
            if (a < 0xe0 || a > 0xef)
                continue;       /* only 3-byte leads make 3-byte chars */
            for (c = 0; c < 256; c++) {
                s[2] = (unsigned char) c;
                mismatches += utf8_valid((char *) s, 3) != oracle(s, 3);
            }
        }
    }
    UNIT_CHECK(mismatches == 0);
}

static void
test_every_code_point(void)
{
    unsigned char s[4];
    unsigned long bad = 0;
    uint32_t cp;
    size_t   n;

    for (cp = 0x80; cp <= 0x10ffff; cp++) {
        if (cp < 0x800) {
            s[0] = (unsigned char) (0xc0 | cp >> 6);
            s[1] = (unsigned char) (0x80 | (cp & 0x3f)); n = 2;
        } else if (cp < 0x10000) {
            s[0] = (unsigned char) (0xe0 | cp >> 12);
            s[1] = (unsigned char) (0x80 | (cp >> 6 & 0x3f));
            s[2] = (unsigned char) (0x80 | (cp & 0x3f)); n = 3;
        } else {
            s[0] = (unsigned char) (0xf0 | cp >> 18);
            s[1] = (unsigned char) (0x80 | (cp >> 12 & 0x3f));
            s[2] = (unsigned char) (0x80 | (cp >> 6 & 0x3f));
            s[3] = (unsigned char) (0x80 | (cp & 0x3f)); n = 4;
        }
        bad += utf8_valid((char *) s, n)
               != !(cp >= 0xd800 && cp <= 0xdfff);
    }
    UNIT_CHECK(bad == 0);
}

int
main(void)
{
    UNIT_RUN(test_ascii_and_empty);
    UNIT_RUN(test_boundaries_valid);
    UNIT_RUN(test_overlongs);
    UNIT_RUN(test_surrogates);
    UNIT_RUN(test_out_of_range_and_bad_leads);
    UNIT_RUN(test_truncated);
    UNIT_RUN(test_exhaustive_short_sequences);
    UNIT_RUN(test_every_code_point);
    return unit_done();
}
