/* test_pct.c -- unit tests for pct.c (strict decoding, encodeURIComponent)
 *
 * Every malformed-escape shape is listed; the encoder is checked for all
 * 256 byte values against the ECMA-262 uriUnreserved set.
 */
#include <string.h>

#include "buf.h"
#include "pct.h"
#include "unit.h"

/* Decode s; return the result in out (NUL-terminated) or -1. */
static int
dec(const char *s, size_t len, char *out, size_t outsz, size_t *outlen)
{
    return pct_decode(s, len, out, outsz, outlen);
}

static void
test_decode_plain(void)
{
    char out[64];
    size_t n = 99;

    UNIT_CHECK(dec("abc", 3, out, sizeof(out), &n) == 0);
    UNIT_CHECK(n == 3);
    UNIT_CHECK_STR(out, "abc");
    UNIT_CHECK(dec("", 0, out, sizeof(out), &n) == 0 && n == 0);
    UNIT_CHECK_STR(out, "");
}

static void
test_decode_escapes(void)
{
    char out[64];
    size_t n;

    UNIT_CHECK(dec("%41%62%2f%2F%3a", 15, out, sizeof(out), &n) == 0);
    UNIT_CHECK_STR(out, "Ab//:");
    UNIT_CHECK(dec("%C3%A9t%c3%a9", 13, out, sizeof(out), &n) == 0);
    UNIT_CHECK(n == 5);
    UNIT_CHECK_STR(out, "\xc3\xa9t\xc3\xa9");
    UNIT_CHECK(dec("%FF", 3, out, sizeof(out), &n) == 0);
    UNIT_CHECK(n == 1 && (unsigned char) out[0] == 0xff);
    UNIT_CHECK(dec("%25", 3, out, sizeof(out), &n) == 0);
    UNIT_CHECK_STR(out, "%");
    UNIT_CHECK(dec("%2525", 5, out, sizeof(out), &n) == 0);
    UNIT_CHECK_STR(out, "%25");     /* one level only */
}

static void
test_plus_is_not_space(void)
{
    char out[16];
    size_t n;

    UNIT_CHECK(dec("a+b", 3, out, sizeof(out), &n) == 0);
    UNIT_CHECK_STR(out, "a+b");
}

static void
test_decode_malformed(void)
{
    static const char *const bad[] = {
        "%", "%4", "%zz", "%4g", "%g4", "a%", "a%4", "%%", "%%41",
        "% 41", "%-1", "%+1", "%x1", "%1x", "abc%", "%\xc3\xa9",
    };
    char   out[64];
    size_t i, n;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (dec(bad[i], strlen(bad[i]), out, sizeof(out), &n) != -1) {
            UNIT_CHECK(!"malformed escape accepted");
            fprintf(stderr, "accepted: %s\n", bad[i]);
        }
    }
}

static void
test_decode_nul_rejected(void)
{
    char out[16];
    size_t n;

    UNIT_CHECK(dec("%00", 3, out, sizeof(out), &n) == -1);
    UNIT_CHECK(dec("a%00b", 5, out, sizeof(out), &n) == -1);
    UNIT_CHECK(dec("a\0b", 3, out, sizeof(out), &n) == -1);
    UNIT_CHECK(dec("%01", 3, out, sizeof(out), &n) == 0 && out[0] == 1);
}

static void
test_decode_length_is_bounded(void)
{
    char out[8];
    size_t n;

    /* len+1 is always enough ... */
    UNIT_CHECK(dec("abcdefg", 7, out, 8, &n) == 0 && n == 7);
    UNIT_CHECK(dec("%41%41%41", 9, out, 4, &n) == 0 && n == 3);
    /* ... and one less fails cleanly. */
    UNIT_CHECK(dec("abcdefg", 7, out, 7, &n) == -1);
    UNIT_CHECK(dec("%41%41%41", 9, out, 3, &n) == -1);
    UNIT_CHECK(dec("", 0, out, 0, &n) == -1);
    UNIT_CHECK(dec("", 0, out, 1, &n) == 0 && n == 0);
}

static void
test_decode_not_nul_terminated_input(void)
{
    char in[3] = { '%', '4', '1' };   /* no NUL after */
    char out[4];
    size_t n;

    UNIT_CHECK(dec(in, 3, out, sizeof(out), &n) == 0);
    UNIT_CHECK_STR(out, "A");
    UNIT_CHECK(dec(in, 2, out, sizeof(out), &n) == -1);
}

static void
test_encode_all_bytes(void)
{
    static const char unreserved[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        "-_.!~*'()";
    static const char hex[] = "0123456789ABCDEF";
    struct buf b;
    char   c, want[4];
    int    i, ok = 1;

    buf_init(&b);
    for (i = 0; i < 256; i++) {
        c = (char) i;
        buf_reset(&b);
        UNIT_CHECK(pct_encode_component(&b, &c, 1) == 0);
        if (i != 0 && strchr(unreserved, i) != NULL) {
            ok &= b.len == 1 && b.data[0] == c;
        } else {
            want[0] = '%';
            want[1] = hex[i >> 4];
            want[2] = hex[i & 15];
            want[3] = '\0';
            ok &= b.len == 3 && strcmp(b.data, want) == 0;
        }
    }
    UNIT_CHECK(ok);
    buf_free(&b);
}

static void
test_encode_cookie_value(void)
{
    struct buf b;

    buf_init(&b);
    UNIT_CHECK(pct_encode_component(&b, "s:ab-_.c+d/e=", 13) == 0);
    UNIT_CHECK_STR(b.data, "s%3Aab-_.c%2Bd%2Fe%3D");
    buf_reset(&b);
    UNIT_CHECK(pct_encode_component(&b, "caf\xc3\xa9 \xf0\x9f\x98\x80",
                                    10) == 0);
    UNIT_CHECK_STR(b.data, "caf%C3%A9%20%F0%9F%98%80");
    buf_reset(&b);
    UNIT_CHECK(pct_encode_component(&b, "", 0) == 0);
    UNIT_CHECK(b.len == 0);
    buf_free(&b);
}

static void
test_roundtrip(void)
{
    struct buf b;
    char   in[255], out[1024];
    size_t i, n;

    for (i = 0; i < sizeof(in); i++)
        in[i] = (char) (i + 1);        /* every byte but NUL */
    buf_init(&b);
    UNIT_CHECK(pct_encode_component(&b, in, sizeof(in)) == 0);
    UNIT_CHECK(pct_decode(b.data, b.len, out, sizeof(out), &n) == 0);
    UNIT_CHECK(n == sizeof(in) && memcmp(in, out, n) == 0);
    buf_free(&b);
}

static void
test_encode_oom(void)
{
    struct buf b;

    buf_init(&b);
    b.oom = 1;
    UNIT_CHECK(pct_encode_component(&b, "abc", 3) == -1);
    UNIT_CHECK(pct_encode_component(&b, ":", 1) == -1);
    UNIT_CHECK(b.len == 0);
    buf_free(&b);
}

int
main(void)
{
    UNIT_RUN(test_decode_plain);
    UNIT_RUN(test_decode_escapes);
    UNIT_RUN(test_plus_is_not_space);
    UNIT_RUN(test_decode_malformed);
    UNIT_RUN(test_decode_nul_rejected);
    UNIT_RUN(test_decode_length_is_bounded);
    UNIT_RUN(test_decode_not_nul_terminated_input);
    UNIT_RUN(test_encode_all_bytes);
    UNIT_RUN(test_encode_cookie_value);
    UNIT_RUN(test_roundtrip);
    UNIT_RUN(test_encode_oom);
    return unit_done();
}
