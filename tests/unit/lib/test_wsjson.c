/* test_wsjson.c -- unit tests for lib/wsjson.c (JSON string escaping)
 *
 * Covers each policy's exact bytes (jansson's, JSON.stringify's, and the
 * JavaScript-safe one), U+FFFD replacement, the growth bound, and that
 * jansson parses every escaped string back to the input: all 256 single
 * bytes and a mixed string under every flag combination.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "unit.h"
#include "wsjson.h"
#include "wsutf8.h"

#define JANSSON_POLICY (WSJSON_HEX_UPPER | WSJSON_REPLACE_BAD)
#define JS_POLICY      (WSJSON_ESCAPE_DEL | WSJSON_ESCAPE_LS_PS)

static char out[4096];

/* UNIT_CHECK_STR would print out[] into a 256-byte reason (and GCC's
 * -Wformat-truncation says so); the escaped bytes are not printable
 * anyway. */
#define EQ(got, want) UNIT_CHECK(strcmp((got), (want)) == 0)

/* Escape (s, len) with flags into out, NUL-terminated. */
static const char *
esc(const char *s, size_t len, unsigned flags)
{
    size_t n = wsjson_escape(s, len, out, flags);

    out[n] = '\0';
    return out;
}

static void
test_always_escaped(void)
{
    unsigned f;

    for (f = 0; f < 16; f++) {
        EQ(esc("a\"b\\c/d", 7, f), "a\\\"b\\\\c/d");
        EQ(esc("\b\f\n\r\t", 5, f), "\\b\\f\\n\\r\\t");
    }
}

static void
test_hex_case(void)
{
    EQ(esc("\x1f\x01", 2, 0), "\\u001f\\u0001");
    EQ(esc("\x1f", 1, WSJSON_HEX_UPPER), "\\u001F");
    EQ(esc("\0", 1, 0), "\\u0000");
}

static void
test_del_and_line_separators(void)
{
    const char *ls = "x\xe2\x80\xa8y\xe2\x80\xa9z";

    EQ(esc("\x7f", 1, 0), "\x7f");
    EQ(esc("\x7f", 1, JANSSON_POLICY), "\x7f");
    EQ(esc("\x7f", 1, JS_POLICY), "\\u007f");
    EQ(esc(ls, strlen(ls), 0), ls);
    EQ(esc(ls, strlen(ls), JS_POLICY), "x\\u2028y\\u2029z");
    EQ(esc("\xe2\x80\xaa", 3, JS_POLICY), "\xe2\x80\xaa");
}

static void
test_replace_bad(void)
{
    EQ(esc("a\xff" "b", 3, JANSSON_POLICY), "a\xef\xbf\xbd" "b");
    EQ(esc("\0", 1, JANSSON_POLICY), "\xef\xbf\xbd");
    EQ(esc("\xc3", 1, JANSSON_POLICY), "\xef\xbf\xbd");
    /* A cut sequence: each byte replaced, decoding resumes after it. */
    EQ(esc("\xe2\x82" "A", 3, JANSSON_POLICY),
                   "\xef\xbf\xbd\xef\xbf\xbd" "A");
    EQ(esc("caf\xc3\xa9", 5, JANSSON_POLICY), "caf\xc3\xa9");
    /* Without the flag bytes are copied as they are. */
    EQ(esc("a\xff" "b", 3, 0), "a\xff" "b");
}

static void
test_growth_bound(void)
{
    char     in[256];
    size_t   i, n;
    unsigned f;

    for (i = 0; i < sizeof(in); i++)
        in[i] = (char) i;
    for (f = 0; f < 16; f++) {
        n = wsjson_escape(in, sizeof(in), out, f);
        UNIT_CHECK(n <= sizeof(in) * WSJSON_MAX_GROWTH);
        UNIT_CHECK(wsjson_escape("\x01", 1, out, f) == WSJSON_MAX_GROWTH);
    }
}

/* 1 if "<escaped s>" parses with jansson to exactly (want, wantlen). */
static int
round_trip(const char *s, size_t len, unsigned flags, const char *want,
           size_t wantlen)
{
    char        *doc = malloc(len * WSJSON_MAX_GROWTH + 2);
    json_t      *v;
    json_error_t e;
    size_t       n;
    int          ok;

    if (doc == NULL)
        return 0;
    doc[0] = '"';
    n = wsjson_escape(s, len, doc + 1, flags);
    doc[n + 1] = '"';
    v = json_loadb(doc, n + 2, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    ok = v != NULL && json_is_string(v) && json_string_length(v) == wantlen
         && memcmp(json_string_value(v), want, wantlen) == 0;
    json_decref(v);
    free(doc);
    return ok;
}

static void
test_jansson_reads_back(void)
{
    const char *mix = "q\"\\/\x01\x1f\x7f \xc3\xa9\xe2\x80\xa8\xf0\x9f\x98\x80";
    char        c;
    unsigned    f;
    int         b;

    for (f = 0; f < 16; f++) {
        UNIT_CHECK(round_trip(mix, strlen(mix), f, mix, strlen(mix)));
        for (b = 0; b < 0x80; b++) {
            c = (char) b;
            if (b == 0 && (f & WSJSON_REPLACE_BAD))
                UNIT_CHECK(round_trip(&c, 1, f, "\xef\xbf\xbd", 3));
            else
                UNIT_CHECK(round_trip(&c, 1, f, &c, 1));
        }
    }
    for (b = 0x80; b < 0x100; b++) {
        c = (char) b;
        UNIT_CHECK(round_trip(&c, 1, JANSSON_POLICY, "\xef\xbf\xbd", 3));
    }
}

/* The jansson policy is what json_dumpb() writes for the same string. */
static void
test_jansson_policy_matches_dump(void)
{
    char    in[160], dumped[2048];
    json_t *v;
    size_t  i, n, d;

    for (i = 0; i < sizeof(in); i++)
        in[i] = (char) (i + 1);          /* 0x01..0xa0; valid below 0x80 */
    v = json_stringn_nocheck(in, 0x7f);
    d = json_dumpb(v, dumped, sizeof(dumped), JSON_ENCODE_ANY);
    json_decref(v);
    n = wsjson_escape(in, 0x7f, out, JANSSON_POLICY);
    UNIT_CHECK(d == n + 2);
    UNIT_CHECK(d == n + 2 && memcmp(dumped + 1, out, n) == 0);
}

int
main(void)
{
    UNIT_RUN(test_always_escaped);
    UNIT_RUN(test_hex_case);
    UNIT_RUN(test_del_and_line_separators);
    UNIT_RUN(test_replace_bad);
    UNIT_RUN(test_growth_bound);
    UNIT_RUN(test_jansson_reads_back);
    UNIT_RUN(test_jansson_policy_matches_dump);
    return unit_done();
}
