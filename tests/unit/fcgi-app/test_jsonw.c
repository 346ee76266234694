/* test_jsonw.c -- unit tests for jsonw.c
 *
 * Exact escapes for the special cases, then jansson (an independent JSON
 * parser) must read every output back to the original bytes.
 */
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "jsonw.h"
#include "unit.h"

static const char *
w(struct buf *b, const char *p, size_t len)
{
    buf_reset(b);
    if (jsonw_string(b, p, len) != 0)
        return NULL;
    return b->data;
}

static void
test_plain_and_empty(void)
{
    struct buf b;

    buf_init(&b);
    UNIT_CHECK_STR(w(&b, "world", 5), "\"world\"");
    UNIT_CHECK_STR(w(&b, "", 0), "\"\"");
    UNIT_CHECK_STR(w(&b, "a/b", 3), "\"a/b\"");
    buf_free(&b);
}

static void
test_quotes_backslash_controls(void)
{
    struct buf b;

    buf_init(&b);
    UNIT_CHECK_STR(w(&b, "\"\\", 2), "\"\\\"\\\\\"");
    UNIT_CHECK_STR(w(&b, "\b\f\n\r\t", 5), "\"\\b\\f\\n\\r\\t\"");
    UNIT_CHECK_STR(w(&b, "\x01\x1f\x7f", 3),
                   "\"\\u0001\\u001f\\u007f\"");
    UNIT_CHECK_STR(w(&b, "a\0b", 3), "\"a\\u0000b\"");
    UNIT_CHECK_STR(w(&b, "</script>", 9), "\"</script>\"");
    buf_free(&b);
}

static void
test_line_separators(void)
{
    struct buf b;

    buf_init(&b);
    UNIT_CHECK_STR(w(&b, "a\xe2\x80\xa8" "b\xe2\x80\xa9", 8),
                   "\"a\\u2028b\\u2029\"");
    /* Neighbours of U+2028 stay raw. */
    UNIT_CHECK_STR(w(&b, "\xe2\x80\xa7\xe2\x80\xaa", 6),
                   "\"\xe2\x80\xa7\xe2\x80\xaa\"");
    buf_free(&b);
}

static void
test_utf8_kept(void)
{
    struct buf b;

    buf_init(&b);
    UNIT_CHECK_STR(w(&b, "caf\xc3\xa9 \xf0\x9f\x98\x80", 10),
                   "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
    buf_free(&b);
}

static void
test_invalid_utf8_appends_nothing(void)
{
    struct buf b;

    buf_init(&b);
    UNIT_CHECK(buf_appends(&b, "x") == 0);
    UNIT_CHECK(jsonw_string(&b, "\xff", 1) == -1);
    UNIT_CHECK(jsonw_string(&b, "\xed\xa0\x80", 3) == -1);
    UNIT_CHECK(jsonw_string(&b, "\xc0\x80", 2) == -1);
    UNIT_CHECK(jsonw_string(&b, "ok\xe2\x82", 4) == -1);
    UNIT_CHECK_STR(b.data, "x");
    buf_free(&b);
}

static void
test_oom(void)
{
    struct buf b;

    buf_init(&b);
    b.oom = 1;
    UNIT_CHECK(jsonw_string(&b, "abc", 3) == -1);
    buf_free(&b);
}

/* jansson must decode our output back to exactly the input. */
static int
roundtrips(const char *p, size_t len)
{
    struct buf    b;
    json_t       *j;
    json_error_t  e;
    int           ok;

    buf_init(&b);
    if (jsonw_string(&b, p, len) != 0) {
        buf_free(&b);
        return 0;
    }
    j = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    ok = j != NULL && json_is_string(j) && json_string_length(j) == len
         && memcmp(json_string_value(j), p, len) == 0;
    json_decref(j);
    buf_free(&b);
    return ok;
}

static void
test_roundtrip_every_ascii_byte(void)
{
    char s[128];
    int  i;

    for (i = 0; i < 128; i++)
        s[i] = (char) i;
    UNIT_CHECK(roundtrips(s, sizeof(s)));
    for (i = 0; i < 128; i++)
        UNIT_CHECK(roundtrips(s + i, 1));
}

static void
test_roundtrip_unicode(void)
{
    static const char s[] = "\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf"
                            "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf"
                            "\xe2\x80\xa8\xe2\x80\xa9\"\\";

    UNIT_CHECK(roundtrips(s, sizeof(s) - 1));
}

int
main(void)
{
    UNIT_RUN(test_plain_and_empty);
    UNIT_RUN(test_quotes_backslash_controls);
    UNIT_RUN(test_line_separators);
    UNIT_RUN(test_utf8_kept);
    UNIT_RUN(test_invalid_utf8_appends_nothing);
    UNIT_RUN(test_oom);
    UNIT_RUN(test_roundtrip_every_ascii_byte);
    UNIT_RUN(test_roundtrip_unicode);
    return unit_done();
}
