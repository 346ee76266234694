/* test_cookie.c -- unit tests for cookie.c
 *
 * Parsing follows the npm cookie module's parse() rules (first occurrence
 * wins, trim, quotes, tryDecode); verification needs the exact signature
 * for one of the secrets.  Valid values are signed with sign_hmac_b64,
 * itself checked against RFC 4231 and cookie-signature's README in
 * test_sign.c; test_vectors.c checks against node's real modules.
 * IMF-fixdate is checked against strftime(gmtime_r) across 10000 years.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "cookie.h"
#include "pct.h"
#include "sign.h"
#include "unit.h"

#define ID   "Z3qfMzxWS0Dm6Y1p2kGvoQ4rXBn7HcLj"   /* 32 base64url chars */

static const char *const secrets1[] = { "keyboard cat" };
static const char *const secrets2[] = { "new secret", "keyboard cat" };

/* "s%3A<id>.<urlencoded sig>" for id and secret, in out. */
static void
signed_value(const char *id, const char *secret, char *out, size_t outlen)
{
    char   raw[256], sig[SIGN_B64_LEN + 1];
    struct buf b;

    if (sign_hmac_b64(secret, strlen(secret), id, strlen(id), sig,
                      sizeof(sig)) != 0)
        abort();
    snprintf(raw, sizeof(raw), "s:%s.%s", id, sig);
    buf_init(&b);
    if (pct_encode_component(&b, raw, strlen(raw)) != 0
        || b.len + 1 > outlen)
        abort();
    memcpy(out, b.data, b.len + 1);
    buf_free(&b);
}

/* Parse header h with secrets; the id or NULL. */
static const char *
parse(const char *h, const char *const *secrets, size_t n)
{
    static char id[SIGN_ID_MAX + 1];

    if (cookie_session_id(h, strlen(h), "connect.sid", secrets, n, id,
                          sizeof(id)) != 0)
        return NULL;
    return id;
}

static void
test_valid_cookie(void)
{
    char v[256], h[512];

    signed_value(ID, "keyboard cat", v, sizeof(v));
    snprintf(h, sizeof(h), "connect.sid=%s", v);
    UNIT_CHECK_STR(parse(h, secrets1, 1), ID);
    /* Not percent-encoded at all: also fine (decode only if '%'). */
    {
        char sig[SIGN_B64_LEN + 1];
        UNIT_CHECK(sign_hmac_b64("keyboard cat", 12, ID, strlen(ID), sig,
                                 sizeof(sig)) == 0);
        snprintf(h, sizeof(h), "connect.sid=s:%s.%s", ID, sig);
        UNIT_CHECK_STR(parse(h, secrets1, 1), ID);
    }
}

static void
test_absent_and_empty(void)
{
    UNIT_CHECK(parse("", secrets1, 1) == NULL);
    UNIT_CHECK(parse("foo=bar", secrets1, 1) == NULL);
    UNIT_CHECK(parse("connect.sid=", secrets1, 1) == NULL);
    UNIT_CHECK(parse("connect.sid", secrets1, 1) == NULL);
    UNIT_CHECK(parse("connect.sid=\"\"", secrets1, 1) == NULL);
    UNIT_CHECK(parse(";;;===;", secrets1, 1) == NULL);
    UNIT_CHECK(cookie_session_id(NULL, 0, "connect.sid", secrets1, 1,
                                 NULL, 0) == -1);
}

static void
test_neighbours_and_whitespace(void)
{
    char v[256], h[1024];

    signed_value(ID, "keyboard cat", v, sizeof(v));
    snprintf(h, sizeof(h), "a=1; b=2;  connect.sid = %s ; c=3", v);
    UNIT_CHECK_STR(parse(h, secrets1, 1), ID);
    snprintf(h, sizeof(h), "\tconnect.sid=\t%s\r\n", v);
    UNIT_CHECK_STR(parse(h, secrets1, 1), ID);
    snprintf(h, sizeof(h), "connect.sid=\"%s\"", v);
    UNIT_CHECK_STR(parse(h, secrets1, 1), ID);
    /* Names that merely contain the name do not count. */
    snprintf(h, sizeof(h), "xconnect.sid=%s; connect.sid2=%s", v, v);
    UNIT_CHECK(parse(h, secrets1, 1) == NULL);
    snprintf(h, sizeof(h), "Connect.sid=%s", v);
    UNIT_CHECK(parse(h, secrets1, 1) == NULL);
    /* A pair without '=' before ours is skipped (cookie's backtrack). */
    snprintf(h, sizeof(h), "junk; more junk;connect.sid=%s", v);
    UNIT_CHECK_STR(parse(h, secrets1, 1), ID);
    snprintf(h, sizeof(h), "a=b=c; connect.sid=%s", v);
    UNIT_CHECK_STR(parse(h, secrets1, 1), ID);
}

static void
test_first_occurrence_wins(void)
{
    char v[256], h[1024];

    signed_value(ID, "keyboard cat", v, sizeof(v));
    snprintf(h, sizeof(h), "connect.sid=%s; connect.sid=garbage", v);
    UNIT_CHECK_STR(parse(h, secrets1, 1), ID);
    /* A bad first one is not rescued by a good second one. */
    snprintf(h, sizeof(h), "connect.sid=garbage; connect.sid=%s", v);
    UNIT_CHECK(parse(h, secrets1, 1) == NULL);
    snprintf(h, sizeof(h), "connect.sid=; connect.sid=%s", v);
    UNIT_CHECK(parse(h, secrets1, 1) == NULL);
}

static void
test_quote_slicing_like_js(void)
{
    char v[256], h[1024];

    signed_value(ID, "keyboard cat", v, sizeof(v));
    /* val.slice(1, -1) drops the last char even if it is no quote. */
    snprintf(h, sizeof(h), "connect.sid=\"%sX", v);
    UNIT_CHECK_STR(parse(h, secrets1, 1), ID);
    snprintf(h, sizeof(h), "connect.sid=\"%s", v);
    UNIT_CHECK(parse(h, secrets1, 1) == NULL);
    UNIT_CHECK(parse("connect.sid=\"", secrets1, 1) == NULL);
}

static void
test_tampered_rejected(void)
{
    char v[256], h[1024], *p;

    signed_value(ID, "keyboard cat", v, sizeof(v));
    UNIT_CHECK(parse("connect.sid=s%3A" ID ".AAAA", secrets1, 1) == NULL);
    snprintf(h, sizeof(h), "connect.sid=%s", v);
    p = strchr(h, '.');
    p[1] = p[1] == 'A' ? 'B' : 'A';               /* flip the signature */
    UNIT_CHECK(parse(h, secrets1, 1) == NULL);
    snprintf(h, sizeof(h), "connect.sid=%s", v);
    h[strlen("connect.sid=s%3A")] ^= 1;           /* flip the id */
    UNIT_CHECK(parse(h, secrets1, 1) == NULL);
    /* Wrong secret. */
    snprintf(h, sizeof(h), "connect.sid=%s", v);
    {
        const char *const other[] = { "keyboard dog" };
        UNIT_CHECK(parse(h, other, 1) == NULL);
    }
    /* Junk after a good signature (cookie-signature 1.0.6 would accept). */
    snprintf(h, sizeof(h), "connect.sid=%sJUNK", v);
    UNIT_CHECK(parse(h, secrets1, 1) == NULL);
    /* Truncated signature. */
    snprintf(h, sizeof(h), "connect.sid=%s", v);
    h[strlen(h) - 1] = '\0';
    UNIT_CHECK(parse(h, secrets1, 1) == NULL);
}

static void
test_unsigned_and_prefix(void)
{
    char v[256], h[1024];

    signed_value(ID, "keyboard cat", v, sizeof(v));
    snprintf(h, sizeof(h), "connect.sid=%s", v + 4);   /* no "s%3A" */
    UNIT_CHECK(parse(h, secrets1, 1) == NULL);
    UNIT_CHECK(parse("connect.sid=s%3A", secrets1, 1) == NULL);
    UNIT_CHECK(parse("connect.sid=s:", secrets1, 1) == NULL);
    UNIT_CHECK(parse("connect.sid=s:.", secrets1, 1) == NULL);
    UNIT_CHECK(parse("connect.sid=s", secrets1, 1) == NULL);
    UNIT_CHECK(parse("connect.sid=S%3Aabc.def", secrets1, 1) == NULL);
}

static void
test_id_charset_enforced(void)
{
    /* Ids with '.', '+', ' ' etc. are signed correctly but refused. */
    static const char *const ids[] = { "a.b", "a+b", "a b", "a/b",
                                       "\xc3\xa9", "a%b" };
    char v[256], h[1024];
    size_t i;

    for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        signed_value(ids[i], "keyboard cat", v, sizeof(v));
        snprintf(h, sizeof(h), "connect.sid=%s", v);
        UNIT_CHECK(parse(h, secrets1, 1) == NULL);
    }
}

static void
test_secret_rotation(void)
{
    char v[256], h[1024];
    const char *const with_null[] = { NULL, "keyboard cat" };

    signed_value(ID, "keyboard cat", v, sizeof(v));
    snprintf(h, sizeof(h), "connect.sid=%s", v);
    UNIT_CHECK_STR(parse(h, secrets2, 2), ID);    /* old secret 2nd */
    UNIT_CHECK(parse(h, secrets2, 1) == NULL);    /* only the new one */
    UNIT_CHECK(parse(h, secrets2, 0) == NULL);
    UNIT_CHECK_STR(parse(h, with_null, 2), ID);
    signed_value(ID, "new secret", v, sizeof(v));
    snprintf(h, sizeof(h), "connect.sid=%s", v);
    UNIT_CHECK_STR(parse(h, secrets2, 2), ID);
}

static void
test_lengths(void)
{
    char id[SIGN_ID_MAX + 2], v[1024], h[2048], out[SIGN_ID_MAX + 1];

    memset(id, 'a', sizeof(id));
    id[SIGN_ID_MAX] = '\0';
    signed_value(id, "keyboard cat", v, sizeof(v));
    snprintf(h, sizeof(h), "connect.sid=%s", v);
    UNIT_CHECK_STR(parse(h, secrets1, 1), id);            /* 128: ok */
    /* Caller's id buffer too small. */
    UNIT_CHECK(cookie_session_id(h, strlen(h), "connect.sid", secrets1, 1,
                                 out, SIGN_ID_MAX) == -1);
    id[SIGN_ID_MAX] = 'a';
    id[SIGN_ID_MAX + 1] = '\0';
    signed_value(id, "keyboard cat", v, sizeof(v));
    snprintf(h, sizeof(h), "connect.sid=%s", v);
    UNIT_CHECK(parse(h, secrets1, 1) == NULL);            /* 129: no */
}

static void
test_huge_headers(void)
{
    char   v[256];
    char  *h;
    size_t n = 64 * 1024, i;

    signed_value(ID, "keyboard cat", v, sizeof(v));
    h = malloc(n + 512);
    UNIT_CHECK(h != NULL);
    if (h == NULL)
        return;
    /* 64 KiB of other cookies, ours last. */
    for (i = 0; i + 8 < n; i += 8)
        memcpy(h + i, "x=12345;", 8);
    snprintf(h + i, 512, "connect.sid=%s", v);
    UNIT_CHECK_STR(parse(h, secrets1, 1), ID);
    /* Our cookie with a 64 KiB value. */
    memcpy(h, "connect.sid=s%3A", 16);
    memset(h + 16, 'A', n - 16);
    h[n] = '\0';
    UNIT_CHECK(parse(h, secrets1, 1) == NULL);
    /* 64 KiB of '%': malformed escapes, raw fallback, rejected. */
    memset(h + 12, '%', n - 12);
    UNIT_CHECK(parse(h, secrets1, 1) == NULL);
    /* 64 KiB of ';' and '=' */
    for (i = 0; i < n; i++)
        h[i] = i % 3 ? ';' : '=';
    UNIT_CHECK(parse(h, secrets1, 1) == NULL);
    free(h);
}

static void
test_odd_encodings(void)
{
    char v[256], h[2048], enc[1024];
    size_t i, o;

    signed_value(ID, "keyboard cat", v, sizeof(v));
    /* Every character needlessly %-encoded: decodes to the same value. */
    o = 0;
    for (i = 0; v[i] != '\0'; i++) {
        if (v[i] == '%') {
            memcpy(enc + o, v + i, 3);
            o += 3;
            i += 2;
        } else {
            o += (size_t) snprintf(enc + o, sizeof(enc) - o, "%%%02x",
                                   (unsigned char) v[i]);
        }
    }
    enc[o] = '\0';
    snprintf(h, sizeof(h), "connect.sid=%s", enc);
    UNIT_CHECK_STR(parse(h, secrets1, 1), ID);
    /* Malformed escape: raw value kept, which cannot verify. */
    snprintf(h, sizeof(h), "connect.sid=%s%%zz", v);
    UNIT_CHECK(parse(h, secrets1, 1) == NULL);
    /* %00 and invalid UTF-8 after decoding. */
    snprintf(h, sizeof(h), "connect.sid=%s%%00", v);
    UNIT_CHECK(parse(h, secrets1, 1) == NULL);
    snprintf(h, sizeof(h), "connect.sid=%s%%ff", v);
    UNIT_CHECK(parse(h, secrets1, 1) == NULL);
    /* Embedded NUL in the header (length-delimited input). */
    snprintf(h, sizeof(h), "a=X; connect.sid=%s", v);
    {
        char out[SIGN_ID_MAX + 1];
        size_t len = strlen(h);

        h[2] = '\0';
        UNIT_CHECK(cookie_session_id(h, len, "connect.sid", secrets1, 1,
                                     out, sizeof(out)) == 0);
        UNIT_CHECK_STR(out, ID);
    }
}

static void
test_imf_fixdate_known(void)
{
    char d[32];

    UNIT_CHECK(cookie_imf_fixdate(0, d, sizeof(d)) == 0);
    UNIT_CHECK_STR(d, "Thu, 01 Jan 1970 00:00:00 GMT");
    UNIT_CHECK(cookie_imf_fixdate(1798254062000LL, d, sizeof(d)) == 0);
    UNIT_CHECK_STR(d, "Sat, 26 Dec 2026 03:01:02 GMT");
    UNIT_CHECK(cookie_imf_fixdate(1798254062999LL, d, sizeof(d)) == 0);
    UNIT_CHECK_STR(d, "Sat, 26 Dec 2026 03:01:02 GMT");   /* truncated */
    UNIT_CHECK(cookie_imf_fixdate(951782400000LL, d, sizeof(d)) == 0);
    UNIT_CHECK_STR(d, "Tue, 29 Feb 2000 00:00:00 GMT");
    UNIT_CHECK(cookie_imf_fixdate(-1, d, sizeof(d)) == 0);
    UNIT_CHECK_STR(d, "Wed, 31 Dec 1969 23:59:59 GMT");
    UNIT_CHECK(cookie_imf_fixdate(0, d, 29) == -1);
    UNIT_CHECK(cookie_imf_fixdate(253402300800000LL, d, sizeof(d)) == -1);
    UNIT_CHECK(cookie_imf_fixdate(INT64_MIN, d, sizeof(d)) == -1);
}

static void
test_imf_fixdate_against_strftime(void)
{
    struct tm tm;
    char    d[32], want[64];
    int64_t ms;
    time_t  secs;
    long    bad = 0, n = 0;

    /* Every 7 days + 1 s from year 0 to 9999, and every day of 2023-2025
     * (leap day 2024-02-29 included). */
    for (ms = -62167219200000LL; ms < 253402300800000LL;
         ms += 7 * 86400000LL + 1000) {
        secs = (time_t) (ms / 1000 - (ms % 1000 < 0));
        gmtime_r(&secs, &tm);
        strftime(want, sizeof(want), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        if (tm.tm_year + 1900 < 1000) {
            /* glibc does not zero-pad %Y below 1000; JavaScript does. */
            snprintf(want + 12, sizeof(want) - 12, "%04d %02d:%02d:%02d GMT",
                     tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
        }
        bad += cookie_imf_fixdate(ms, d, sizeof(d)) != 0
               || strcmp(d, want) != 0;
        n++;
    }
    for (ms = 1672531200000LL; ms < 1767225600000LL; ms += 86400000LL) {
        secs = (time_t) (ms / 1000);
        gmtime_r(&secs, &tm);
        strftime(want, sizeof(want), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        bad += cookie_imf_fixdate(ms, d, sizeof(d)) != 0
               || strcmp(d, want) != 0;
        n++;
    }
    UNIT_CHECK(n > 500000);
    UNIT_CHECK(bad == 0);
}

static void
test_format_exact(void)
{
    struct buf b;
    char   v[256], want[512];

    signed_value(ID, "keyboard cat", v, sizeof(v));
    buf_init(&b);
    UNIT_CHECK(cookie_format(&b, "connect.sid", ID, "keyboard cat",
                             1798254062345LL, 0) == 0);
    snprintf(want, sizeof(want), "connect.sid=%s; Path=/; Expires=Sat, 26 "
             "Dec 2026 03:01:02 GMT; HttpOnly; SameSite=Lax", v);
    UNIT_CHECK(b.data != NULL && strcmp(b.data, want) == 0);
    buf_reset(&b);
    UNIT_CHECK(cookie_format(&b, "connect.sid", ID, "keyboard cat",
                             1798254062345LL, 1) == 0);
    snprintf(want, sizeof(want), "connect.sid=%s; Path=/; Expires=Sat, 26 "
             "Dec 2026 03:01:02 GMT; HttpOnly; Secure; SameSite=Lax", v);
    UNIT_CHECK(b.data != NULL && strcmp(b.data, want) == 0);
    buf_free(&b);
}

static void
test_format_parse_roundtrip(void)
{
    struct buf b;
    char   id[SIGN_ID_LEN + 1], got[SIGN_ID_MAX + 1];
    const char *end;
    int    i, ok = 1;

    buf_init(&b);
    for (i = 0; i < 200; i++) {
        buf_reset(&b);
        UNIT_CHECK(sign_random_id(id, sizeof(id)) == 0);
        UNIT_CHECK(cookie_format(&b, "sid", id, "keyboard cat", 0, 0) == 0);
        end = strchr(b.data, ';');       /* "sid=<value>" is a Cookie */
        ok &= end != NULL
              && cookie_session_id(b.data, (size_t) (end - b.data), "sid",
                                   secrets1, 1, got, sizeof(got)) == 0
              && strcmp(got, id) == 0;
    }
    UNIT_CHECK(ok);
    buf_free(&b);
}

static void
test_format_rejects(void)
{
    struct buf b;

    buf_init(&b);
    UNIT_CHECK(buf_appends(&b, "keep") == 0);
    UNIT_CHECK(cookie_format(&b, "", ID, "s", 0, 0) == -1);
    UNIT_CHECK(cookie_format(&b, "a b", ID, "s", 0, 0) == -1);
    UNIT_CHECK(cookie_format(&b, "a;b", ID, "s", 0, 0) == -1);
    UNIT_CHECK(cookie_format(&b, "a=b", ID, "s", 0, 0) == -1);
    UNIT_CHECK(cookie_format(&b, "caf\xc3\xa9", ID, "s", 0, 0) == -1);
    UNIT_CHECK(cookie_format(&b, "sid", "bad.id", "s", 0, 0) == -1);
    UNIT_CHECK(cookie_format(&b, "sid", "", "s", 0, 0) == -1);
    UNIT_CHECK(cookie_format(&b, "sid", ID, NULL, 0, 0) == -1);
    UNIT_CHECK(cookie_format(&b, "sid", ID, "s", 253402300800000LL,
                             0) == -1);
    UNIT_CHECK(cookie_format(&b, NULL, ID, "s", 0, 0) == -1);
    UNIT_CHECK_STR(b.data, "keep");
    b.oom = 1;
    UNIT_CHECK(cookie_format(&b, "sid", ID, "s", 0, 0) == -1);
    buf_free(&b);
}

int
main(void)
{
    UNIT_RUN(test_valid_cookie);
    UNIT_RUN(test_absent_and_empty);
    UNIT_RUN(test_neighbours_and_whitespace);
    UNIT_RUN(test_first_occurrence_wins);
    UNIT_RUN(test_quote_slicing_like_js);
    UNIT_RUN(test_tampered_rejected);
    UNIT_RUN(test_unsigned_and_prefix);
    UNIT_RUN(test_id_charset_enforced);
    UNIT_RUN(test_secret_rotation);
    UNIT_RUN(test_lengths);
    UNIT_RUN(test_huge_headers);
    UNIT_RUN(test_odd_encodings);
    UNIT_RUN(test_imf_fixdate_known);
    UNIT_RUN(test_imf_fixdate_against_strftime);
    UNIT_RUN(test_format_exact);
    UNIT_RUN(test_format_parse_roundtrip);
    UNIT_RUN(test_format_rejects);
    return unit_done();
}
