/* test_utf8.c -- unit tests for utf8.c, the U+FFFD replacement policy
 *
 * Each case is raw input bytes and the exact expected output, so the
 * policy documented in docs/COLLECTOR.md is pinned byte for byte.
 */
#include <string.h>

#include "unit.h"
#include "utf8.h"

#define FFFD "\xEF\xBF\xBD"

struct utf8_case {
    const char *in;
    size_t      len;
    const char *want;
};

#define C(in, want) { in, sizeof(in) - 1, want }

static const struct utf8_case cases[] = {
    C("plain", "plain"),
    C("", ""),
    C("caf\xC3\xA9", "caf\xC3\xA9"),
    C("\xE2\x82\xAC euro", "\xE2\x82\xAC euro"),
    C("\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80"),
    C("a\xFF" "b", "a" FFFD "b"),
    C("nul\0x", "nul" FFFD "x"),
    C("ctl\x01\x1B\x7F", "ctl\x01\x1B\x7F"),
    C("\xC0\xAF", FFFD FFFD),                   /* overlong */
    C("\xE0\x80\xAF", FFFD FFFD FFFD),          /* overlong */
    C("\xED\xA0\x80", FFFD FFFD FFFD),          /* surrogate */
    C("\xF4\x90\x80\x80", FFFD FFFD FFFD FFFD), /* > U+10FFFF */
    C("\xE2\x82", FFFD FFFD),                   /* cut at end */
    C("\x80\x80", FFFD FFFD),                   /* lone continuation */
    C("\xF5\xBF", FFFD FFFD),
    C("x\xC3", "x" FFFD),
};

static void
test_utf8_table(void)
{
    char out[64];
    size_t i, n;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        n = utf8_sanitize(cases[i].in, cases[i].len, out);
        UNIT_CHECK(n == strlen(cases[i].want));
        UNIT_CHECK(memcmp(out, cases[i].want, n) == 0);
        UNIT_CHECK(utf8_is_valid(out, n));
    }
}

static void
test_utf8_every_byte_growth_bound(void)
{
    char in[256], out[256 * UTF8_MAX_GROWTH];
    size_t i, n;

    for (i = 0; i < 256; i++) {
        in[i] = (char) (255 - i);
    }
    n = utf8_sanitize(in, sizeof(in), out);
    UNIT_CHECK(n <= sizeof(out));
    UNIT_CHECK(utf8_is_valid(out, n));
}

static void
test_utf8_is_valid_rejects(void)
{
    UNIT_CHECK(utf8_is_valid("ok", 2));
    UNIT_CHECK(!utf8_is_valid("a\0b", 3));
    UNIT_CHECK(!utf8_is_valid("\xC3", 1));
    UNIT_CHECK(!utf8_is_valid("\xED\xBF\xBF", 3));
}

int
main(void)
{
    UNIT_RUN(test_utf8_table);
    UNIT_RUN(test_utf8_every_byte_growth_bound);
    UNIT_RUN(test_utf8_is_valid_rejects);
    return unit_done();
}
