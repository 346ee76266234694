/* test_session.c -- unit tests for session.c
 *
 * Documents are written the way JSON.stringify(req.session) writes them
 * for express-session + connect-redis; unknown fields must come back
 * unchanged and in place after parse -> touch -> dump.  Node-generated
 * documents are checked in test_vectors.c.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sessflat.h"
#include "session.h"
#include "session_agree.h"
#include "unit.h"

#define NOW  1795662062345LL             /* 2026-11-26T03:01:02.345Z */
#define DAY  86400000LL

/* True if doc answers alike in both forms (session_agree.h). */
static int
agrees(const char *doc, int64_t now)
{
    const char *why = session_agree(doc, strlen(doc), now);

    if (why != NULL)
        fprintf(stderr, "forms disagree on %s: %s\n", why, doc);
    return why == NULL;
}

/* parse + touch(now) + dump; the dumped text, or NULL.  Every document
 * cycled is also checked to answer alike in both forms. */
static char *
cycle(const char *doc, int64_t now)
{
    struct session *s;
    struct buf b;
    char   err[256];

    UNIT_CHECK(agrees(doc, now));
    s = session_parse(doc, strlen(doc), err, sizeof(err));
    if (s == NULL)
        return NULL;
    buf_init(&b);
    if (session_touch(s, now) != 0 || session_dump(s, &b) != 0) {
        session_destroy(s);
        buf_free(&b);
        return NULL;
    }
    session_destroy(s);
    return b.data;
}

static int
same(char *got, const char *want)
{
    int ok = got != NULL && strcmp(got, want) == 0;

    if (!ok)
        fprintf(stderr, "got:  %s\nwant: %s\n", got ? got : "(null)",
                want);
    free(got);
    return ok;
}

static void
test_iso_format(void)
{
    char s[SESSION_ISO_LEN + 1];

    UNIT_CHECK(session_iso8601(NOW, s, sizeof(s)) == 0);
    UNIT_CHECK_STR(s, "2026-11-26T03:01:02.345Z");
    UNIT_CHECK(session_iso8601(0, s, sizeof(s)) == 0);
    UNIT_CHECK_STR(s, "1970-01-01T00:00:00.000Z");
    UNIT_CHECK(session_iso8601(951782400000LL, s, sizeof(s)) == 0);
    UNIT_CHECK_STR(s, "2000-02-29T00:00:00.000Z");
    UNIT_CHECK(session_iso8601(-1, s, sizeof(s)) == 0);
    UNIT_CHECK_STR(s, "1969-12-31T23:59:59.999Z");
    UNIT_CHECK(session_iso8601(253402300799999LL, s, sizeof(s)) == 0);
    UNIT_CHECK_STR(s, "9999-12-31T23:59:59.999Z");
    UNIT_CHECK(session_iso8601(253402300800000LL, s, sizeof(s)) == -1);
    UNIT_CHECK(session_iso8601(NOW, s, SESSION_ISO_LEN) == -1);
}

static void
test_iso_parse(void)
{
    char    s[SESSION_ISO_LEN + 1];
    int64_t ms;

    UNIT_CHECK(session_parse_iso8601("2026-11-26T03:01:02.345Z") == NOW);
    UNIT_CHECK(session_parse_iso8601("1970-01-01T00:00:00.000Z") == 0);
    UNIT_CHECK(session_parse_iso8601("2024-02-29T12:00:00.000Z") > 0);
    UNIT_CHECK(session_parse_iso8601("2000-02-29T00:00:00.000Z")
               == 951782400000LL);
    /* Round trip at awkward instants. */
    for (ms = -62167219200000LL; ms < 253402300799999LL;
         ms += 997 * DAY + 12345) {
        UNIT_CHECK(session_iso8601(ms, s, sizeof(s)) == 0);
        UNIT_CHECK(session_parse_iso8601(s) == ms);
    }
}

static void
test_iso_parse_errors(void)
{
    static const char *const bad[] = {
        "", "2026", "2026-11-26", "2026-11-26T03:01:02Z",
        "2026-11-26T03:01:02.345", "2026-11-26T03:01:02.345z",
        "2026-11-26 03:01:02.345Z", "2026-11-26T03:01:02,345Z",
        "2026/11/26T03:01:02.345Z", "2026-11-26T03:01:02.3456Z",
        "2026-11-26T03:01:02.34Z", "+2026-11-26T03:01:02.345Z",
        "2026-13-26T03:01:02.345Z", "2026-00-26T03:01:02.345Z",
        "2026-11-31T03:01:02.345Z", "2026-11-00T03:01:02.345Z",
        "2023-02-29T00:00:00.000Z", "1900-02-29T00:00:00.000Z",
        "2026-11-26T24:00:00.000Z", "2026-11-26T03:60:02.345Z",
        "2026-11-26T03:01:60.345Z", "2026-11-26T03:01:02.-45Z",
        "2026-1a-26T03:01:02.345Z", "2026-11-26T03:01:02.345Z ",
        " 2026-11-26T03:01:02.345Z", "+02026-11-26T03:01:02.345Z",
        "2026-11-26T03:01:02.345+00:00",
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (session_parse_iso8601(bad[i]) != -1) {
            UNIT_CHECK(!"bad ISO date accepted");
            fprintf(stderr, "accepted: '%s'\n", bad[i]);
        }
    }
    UNIT_CHECK(session_parse_iso8601(NULL) == -1);
}

static void
test_new_document(void)
{
    struct session *s = session_new(NOW, DAY);
    struct buf b;

    UNIT_CHECK(s != NULL);
    if (s == NULL)
        return;
    buf_init(&b);
    UNIT_CHECK(session_dump(s, &b) == 0);
    UNIT_CHECK_STR(b.data, "{\"cookie\":{\"originalMaxAge\":86400000,"
                   "\"expires\":\"2026-11-27T03:01:02.345Z\","
                   "\"httpOnly\":true,\"path\":\"/\"},\"views\":0,"
                   "\"createdAt\":\"2026-11-26T03:01:02.345Z\"}");
    UNIT_CHECK(session_views(s) == 0);
    UNIT_CHECK(session_max_age_ms(s) == DAY);
    UNIT_CHECK(session_expires_ms(s) == NOW + DAY);
    UNIT_CHECK_STR(session_created(s), "2026-11-26T03:01:02.345Z");
    UNIT_CHECK(session_touch(s, NOW + 1000) == 0);
    UNIT_CHECK(session_views(s) == 1);
    UNIT_CHECK(session_expires_ms(s) == NOW + 1000 + DAY);
    session_destroy(s);
    buf_free(&b);
    UNIT_CHECK(session_new(NOW, -1) == NULL);
    UNIT_CHECK(session_new(INT64_MAX, DAY) == NULL);
    UNIT_CHECK(session_new(253402300799999LL, 1) == NULL);
}

static void
test_express_document_survives(void)
{
    /* Every cookie key express-session may write, unknown app fields of
     * all JSON types, unicode, escapes and NUL. */
    {
        const char *in_ = "{\"cookie\":{\"originalMaxAge\":3600000,"
        "\"expires\":\"2026-11-26T04:00:00.000Z\",\"secure\":false,"
        "\"httpOnly\":true,\"domain\":\"example.com\",\"path\":\"/\","
        "\"sameSite\":\"lax\"},\"flash\":{},\"user\":{\"id\":7,"
        "\"tags\":[\"a\",\"b\",[],{}],\"admin\":false,\"x\":null},"
        "\"views\":41,\"createdAt\":\"2026-11-20T00:00:00.000Z\","
        "\"note\":\"caf\xc3\xa9 \\\"q\\\" \\\\ \\n \\u0000 \xf0\x9f\x98\x80\","
        "\"big\":9007199254740993,\"neg\":-12,\"half\":0.5,"
        "\"huge\":99999999999999999999,\"e\":1E21,\"tiny\":1.5e-7,"
        "\"third\":0.3333333333333333,\"m\":-0.0,\"f\":100.250}";
        const char *want_ = "{\"cookie\":{\"originalMaxAge\":3600000,"
        "\"expires\":\"2026-11-26T04:01:02.345Z\",\"secure\":false,"
        "\"httpOnly\":true,\"domain\":\"example.com\",\"path\":\"/\","
        "\"sameSite\":\"lax\"},\"flash\":{},\"user\":{\"id\":7,"
        "\"tags\":[\"a\",\"b\",[],{}],\"admin\":false,\"x\":null},"
        "\"views\":42,\"createdAt\":\"2026-11-20T00:00:00.000Z\","
        "\"note\":\"caf\xc3\xa9 \\\"q\\\" \\\\ \\n \\u0000 \xf0\x9f\x98\x80\","
        "\"big\":9007199254740992,\"neg\":-12,\"half\":0.5,"
        "\"huge\":100000000000000000000,\"e\":1e+21,\"tiny\":1.5e-7,"
        "\"third\":0.3333333333333333,\"m\":0,\"f\":100.25}";
        UNIT_CHECK(same(cycle(in_, NOW), want_));
    }
}

static void
test_views_missing_or_odd(void)
{
    /* Express code that never set views: appended at the end. */
    {
        const char *in_ = "{\"cookie\":{\"originalMaxAge\":1000,"
                          "\"expires\":\"2020-01-01T00:00:00.000Z\"},"
                          "\"a\":1}";
        const char *want_ = "{\"cookie\":{\"originalMaxAge\":1000,"
                    "\"expires\":\"1970-01-01T00:00:01.000Z\"},\"a\":1,"
                    "\"views\":1}";
        UNIT_CHECK(same(cycle(in_, 0), want_));
    }
    /* Non-integer views restart at 0, in place. */
    {
        const char *in_ = "{\"views\":\"7\",\"cookie\":{}}";
        const char *want_ = "{\"views\":1,\"cookie\":{}}";
        UNIT_CHECK(same(cycle(in_, 0), want_));
    }
    {
        const char *in_ = "{\"views\":2.5,\"cookie\":{}}";
        const char *want_ = "{\"views\":1,\"cookie\":{}}";
        UNIT_CHECK(same(cycle(in_, 0), want_));
    }
    {
        const char *in_ = "{\"views\":null,\"cookie\":{}}";
        const char *want_ = "{\"views\":1,\"cookie\":{}}";
        UNIT_CHECK(same(cycle(in_, 0), want_));
    }
    /* Above 2^53 the count is a double, as in JavaScript:
     * 1999999999999999999 reads as 2e18, and 2e18 + 1 is 2e18 again. */
    {
        const char *in_ = "{\"cookie\":{},\"views\":1999999999999999999}";
        const char *want_ = "{\"cookie\":{},\"views\":2000000000000000000}";
        UNIT_CHECK(same(cycle(in_, 0), want_));
    }
    /* Beyond int64 (as a double): not a usable count, restart. */
    {
        const char *in_ = "{\"cookie\":{},\"views\":1e300}";
        const char *want_ = "{\"cookie\":{},\"views\":1}";
        UNIT_CHECK(same(cycle(in_, 0), want_));
    }
}

static void
test_browser_session_cookie(void)
{
    /* originalMaxAge null (no maxAge): expiry left alone. */
    struct session *s;
    char err[128];
    const char *doc = "{\"cookie\":{\"originalMaxAge\":null,"
                      "\"httpOnly\":true,\"path\":\"/\"},\"views\":1}";

    {
        const char *in_ = doc;
        const char *want_ = "{\"cookie\":{\"originalMaxAge\":null,"
                    "\"httpOnly\":true,\"path\":\"/\"},\"views\":2}";
        UNIT_CHECK(same(cycle(in_, NOW), want_));
    }
    s = session_parse(doc, strlen(doc), err, sizeof(err));
    UNIT_CHECK(s != NULL);
    UNIT_CHECK(session_max_age_ms(s) == -1);
    UNIT_CHECK(session_expires_ms(s) == -1);
    UNIT_CHECK(session_created(s) == NULL);
    session_destroy(s);
}

static void
test_touch_overflow(void)
{
    struct session *s;
    char err[128];
    const char *doc = "{\"cookie\":{\"originalMaxAge\":9000000000000000,"
                      "\"expires\":\"2026-01-01T00:00:00.000Z\"}}";

    s = session_parse(doc, strlen(doc), err, sizeof(err));
    UNIT_CHECK(s != NULL);
    UNIT_CHECK(session_touch(s, NOW) == -1);
    session_destroy(s);
    UNIT_CHECK(session_touch(NULL, NOW) == -1);
}

static void
test_duplicate_keys_like_json_parse(void)
{
    /* JSON.parse keeps the first position and the last value. */
    {
        const char *in_ = "{\"a\":1,\"cookie\":{},\"a\":2,\"views\":1,"
                          "\"views\":5}";
        const char *want_ = "{\"a\":2,\"cookie\":{},\"views\":6}";
        UNIT_CHECK(same(cycle(in_, 0), want_));
    }
}

static void
test_parse_errors(void)
{
    static const char *const bad[] = {
        "", "null", "[]", "\"x\"", "42", "{", "{}", "{\"cookie\":null}",
        "{\"cookie\":[]}", "{\"cookie\":\"x\"}", "{\"cookie\":{}} x",
        "{\"cookie\":{},}", "{'cookie':{}}", "{\"cookie\":{\"a\":\"\xff\"}}",
        "{\"cookie\":{},\"n\":1e999}",
        "{\"cookie\":{},\"s\":\"\\ud800\"}", "{\"cookie\":{},\"n\":NaN}",
    };
    char   err[256];
    size_t i;
    struct session *s;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        s = session_parse(bad[i], strlen(bad[i]), err, sizeof(err));
        if (s != NULL || err[0] == '\0') {
            UNIT_CHECK(!"bad document accepted or no error text");
            fprintf(stderr, "doc: %s\n", bad[i]);
        }
        session_destroy(s);
    }
    UNIT_CHECK(session_parse(NULL, 0, err, sizeof(err)) == NULL);
}

static void
test_deep_nesting_no_crash(void)
{
    size_t n = 200000, i;
    char  *doc = malloc(2 * n + 64);
    char   err[256];
    struct session *s;

    UNIT_CHECK(doc != NULL);
    if (doc == NULL)
        return;
    memcpy(doc, "{\"cookie\":{},\"x\":", 17);
    for (i = 0; i < n; i++)
        doc[17 + i] = '[';
    for (i = 0; i < n; i++)
        doc[17 + n + i] = ']';
    memcpy(doc + 17 + 2 * n, "}", 2);
    s = session_parse(doc, strlen(doc), err, sizeof(err));
    UNIT_CHECK(s == NULL);
    session_destroy(s);
    free(doc);
}

static void
test_dump_oom_and_null(void)
{
    struct session *s = session_new(NOW, DAY);
    struct buf b;

    buf_init(&b);
    b.oom = 1;
    UNIT_CHECK(session_dump(s, &b) == -1);
    UNIT_CHECK(session_dump(NULL, &b) == -1);
    UNIT_CHECK(session_views(NULL) == 0);
    UNIT_CHECK(session_expires_ms(NULL) == -1);
    UNIT_CHECK(session_max_age_ms(NULL) == -1);
    UNIT_CHECK(session_created(NULL) == NULL);
    session_destroy(NULL);
    session_destroy(s);
    buf_free(&b);
}

#define CANON_A "{\"cookie\":{\"originalMaxAge\":"
#define CANON_B ",\"expires\":\"2026-11-27T03:01:02.345Z\",\"httpOnly\":" \
                "true,\"path\":\"/\"},\"views\":"
#define CANON_C ",\"createdAt\":\"2026-11-26T03:01:02.345Z\"}"
#define CANON(age, views) CANON_A age CANON_B views CANON_C

/* The canonical form is recognised byte for byte, held without a tree,
 * and written back as the tree would write it. */
static void
test_canonical_form(void)
{
    struct sessflat f;
    struct buf b;
    const char *doc = CANON("86400000", "41"), *want;

    UNIT_CHECK(sessflat_parse(doc, strlen(doc), &f) == 0);
    UNIT_CHECK(f.max_age == DAY && f.views == 41);
    UNIT_CHECK_STR(f.expires, "2026-11-27T03:01:02.345Z");
    UNIT_CHECK_STR(f.created, "2026-11-26T03:01:02.345Z");
    buf_init(&b);
    UNIT_CHECK(sessflat_write(&f, &b) == 0);
    UNIT_CHECK_STR(b.data, doc);
    buf_free(&b);
    want = CANON("86400000", "42");
    UNIT_CHECK(same(cycle(doc, NOW), want));
    /* The largest count the form takes, and one past it after touch. */
    doc = CANON("0", "999999999999999");
    UNIT_CHECK(sessflat_parse(doc, strlen(doc), &f) == 0);
    UNIT_CHECK(f.max_age == 0 && f.views == 999999999999999LL);
    want = "{\"cookie\":{\"originalMaxAge\":0,\"expires\":"
           "\"2026-11-26T03:01:02.345Z\",\"httpOnly\":true,"
           "\"path\":\"/\"},\"views\":1000000000000000,"
           "\"createdAt\":\"2026-11-26T03:01:02.345Z\"}";
    UNIT_CHECK(same(cycle(doc, NOW), want));
    /* A date of the right shape that does not exist: both forms read it
     * as no expiry, and touch replaces it. */
    doc = CANON_A "1000,\"expires\":\"2026-13-45T99:99:99.999Z\","
          "\"httpOnly\":true,\"path\":\"/\"},\"views\":1" CANON_C;
    UNIT_CHECK(sessflat_parse(doc, strlen(doc), &f) == 0);
    UNIT_CHECK(agrees(doc, NOW));
    UNIT_CHECK(agrees(doc, INT64_MAX));       /* touch fails in both */
    UNIT_CHECK(sessflat_parse(NULL, 0, &f) == -1);
}

/* Anything but the exact bytes goes the general way, and still answers
 * as the tree does. */
static void
test_not_canonical_goes_general(void)
{
    static const char *const docs[] = {
        CANON("01", "1"),                   /* leading zero: not JSON */
        CANON("1", "00"),
        CANON("-1", "1"),                   /* a sign */
        CANON("1", "-3"),
        CANON("1", "1.0"),                  /* a fraction, an exponent */
        CANON("1", "1e3"),
        CANON("1", "1000000000000000"),     /* 16 digits */
        CANON("1", "9007199254740993"),     /* beyond 2^53 */
        CANON("1", ""),
        CANON("null", "1"),                 /* browser-session cookie */
        CANON("1", "\"7\""),
        CANON(" 1", "1"),                   /* whitespace anywhere */
        CANON("1", "1") " ",
        CANON("1", "1") "\n",
        "{ \"cookie\":{\"originalMaxAge\":1,\"expires\":"
        "\"2026-11-27T03:01:02.345Z\",\"httpOnly\":true,\"path\":\"/\"},"
        "\"views\":1,\"createdAt\":\"2026-11-26T03:01:02.345Z\"}",
        /* another key order, a field more, a field less, other values */
        "{\"cookie\":{\"expires\":\"2026-11-27T03:01:02.345Z\","
        "\"originalMaxAge\":1,\"httpOnly\":true,\"path\":\"/\"},"
        "\"views\":1,\"createdAt\":\"2026-11-26T03:01:02.345Z\"}",
        "{\"cookie\":{\"originalMaxAge\":1,\"expires\":"
        "\"2026-11-27T03:01:02.345Z\",\"httpOnly\":true,\"path\":\"/\"},"
        "\"createdAt\":\"2026-11-26T03:01:02.345Z\",\"views\":1}",
        CANON_A "1" CANON_B "1,\"views\":2" CANON_C,
        CANON_A "1" CANON_B "1,\"createdAt\":\"2026-11-26T03:01:02.345Z\","
        "\"user\":{}}",
        CANON_A "1" CANON_B "1}",
        CANON_A "1,\"expires\":\"2026-11-27T03:01:02.345Z\",\"httpOnly\":"
        "false,\"path\":\"/\"},\"views\":1" CANON_C,
        CANON_A "1,\"expires\":\"2026-11-27T03:01:02.345Z\",\"httpOnly\":"
        "true,\"path\":\"/x\"},\"views\":1" CANON_C,
        /* dates: an escape, a short one, a lower-case z, a NUL */
        CANON_A "1,\"expires\":\"\\u0032026-11-27T03:01:02.345Z\","
        "\"httpOnly\":true,\"path\":\"/\"},\"views\":1" CANON_C,
        CANON_A "1,\"expires\":\"2026-11-27T03:01:02.34Z\",\"httpOnly\":"
        "true,\"path\":\"/\"},\"views\":1" CANON_C,
        CANON_A "1" CANON_B "1,\"createdAt\":\"2026-11-26T03:01:02.345z\"}",
        CANON_A "1" CANON_B "1,\"createdAt\":\"2026-11-26T03:01:02.3\\u00005Z\"}",
        /* cut short, or not a document at all */
        CANON_A "1" CANON_B "1,\"createdAt\":\"2026-11-26T03:01:02.345Z\"",
        CANON_A "1" CANON_B,
        CANON_A,
        "",
        "[]",
    };
    struct sessflat f;
    const char *doc;
    size_t i;

    for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        UNIT_CHECK(sessflat_parse(docs[i], strlen(docs[i]), &f) == -1);
        UNIT_CHECK(agrees(docs[i], NOW));
    }
    /* A canonical document with a byte more or less, by length. */
    doc = CANON("1", "1") "x";
    UNIT_CHECK(sessflat_parse(doc, strlen(doc), &f) == -1);
    UNIT_CHECK(sessflat_parse(doc, strlen(doc) - 1, &f) == 0);
    UNIT_CHECK(sessflat_parse(doc, strlen(doc) - 2, &f) == -1);
}

int
main(void)
{
    UNIT_RUN(test_iso_format);
    UNIT_RUN(test_iso_parse);
    UNIT_RUN(test_iso_parse_errors);
    UNIT_RUN(test_new_document);
    UNIT_RUN(test_express_document_survives);
    UNIT_RUN(test_views_missing_or_odd);
    UNIT_RUN(test_browser_session_cookie);
    UNIT_RUN(test_touch_overflow);
    UNIT_RUN(test_duplicate_keys_like_json_parse);
    UNIT_RUN(test_parse_errors);
    UNIT_RUN(test_deep_nesting_no_crash);
    UNIT_RUN(test_dump_oom_and_null);
    UNIT_RUN(test_canonical_form);
    UNIT_RUN(test_not_canonical_goes_general);
    return unit_done();
}
