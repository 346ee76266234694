/* test_parse.c -- unit tests for parse.c (nginx combined, Redis log)
 *
 * Real line shapes from nginx's predefined "combined" format and from
 * Redis 7's serverLogRaw(), plus near misses that must pass through.
 */
#include <string.h>

#include "parse.h"
#include "unit.h"

static const char *
field(const struct parse_result *r, const char *name, long long *num)
{
    static char buf[512];
    size_t i;

    for (i = 0; i < r->n; i++) {
        if (strcmp(r->f[i].name, name) == 0) {
            if (num != NULL) {
                *num = r->f[i].num;
            }
            memcpy(buf, r->f[i].val, r->f[i].len);
            buf[r->f[i].len] = '\0';
            return buf;
        }
    }
    return NULL;
}

static int
parse_str(const char *s, struct parse_result *r)
{
    return parse_line(s, strlen(s), r);
}

static void
test_parse_nginx_combined(void)
{
    struct parse_result r;
    long long n = 0;

    UNIT_CHECK(parse_str("172.18.0.1 - - [26/Nov/2026:03:01:02 +0000] "
        "\"GET /api/session?x=1 HTTP/1.1\" 200 612 \"http://a/\" "
        "\"curl/7.88.1\"", &r));
    UNIT_CHECK_STR(r.format, "nginx-combined");
    UNIT_CHECK_STR(field(&r, "client", NULL), "172.18.0.1");
    UNIT_CHECK_STR(field(&r, "method", NULL), "GET");
    UNIT_CHECK_STR(field(&r, "path", NULL), "/api/session?x=1");
    UNIT_CHECK_STR(field(&r, "status", &n), "200");
    UNIT_CHECK(n == 200);
    UNIT_CHECK_STR(field(&r, "bytes", &n), "612");
    UNIT_CHECK(n == 612);
    UNIT_CHECK_STR(field(&r, "referrer", NULL), "http://a/");
    UNIT_CHECK_STR(field(&r, "agent", NULL), "curl/7.88.1");
}

static void
test_parse_nginx_odd_requests(void)
{
    struct parse_result r;

    /* a TLS hello on a plain port: request is junk, still parsed */
    UNIT_CHECK(parse_str("::1 - bob [26/Nov/2026:03:01:02 +0000] "
        "\"\\x16\\x03\\x01\" 400 157 \"-\" \"-\"", &r));
    UNIT_CHECK(field(&r, "method", NULL) == NULL);
    UNIT_CHECK_STR(field(&r, "client", NULL), "::1");
    UNIT_CHECK(parse_str("10.0.0.1 - - [26/Nov/2026:03:01:02 +0000] \"\" "
        "408 0 \"-\" \"-\"", &r));
}

static void
test_parse_nginx_near_misses(void)
{
    struct parse_result r;

    UNIT_CHECK(!parse_str("10.0.0.1 - - [x] \"GET / HTTP/1.1\" 2000 1 "
        "\"-\" \"-\"", &r));
    UNIT_CHECK(!parse_str("10.0.0.1 - - [x] \"GET / HTTP/1.1\" 200 1 "
        "\"-\"", &r));
    UNIT_CHECK(!parse_str("10.0.0.1 - - [x] \"GET / HTTP/1.1\" 200 1 "
        "\"-\" \"-\" extra", &r));
    UNIT_CHECK(!parse_str("10.0.0.1 - - [x] \"GET / HTTP/1.1\" 200 "
        "99999999999999999999 \"-\" \"-\"", &r));
}

static void
test_parse_redis(void)
{
    struct parse_result r;
    long long n = 0;

    UNIT_CHECK(parse_str("1:M 26 Nov 2026 03:01:02.345 * Ready to accept "
        "connections tcp", &r));
    UNIT_CHECK_STR(r.format, "redis");
    UNIT_CHECK_STR(field(&r, "pid", &n), "1");
    UNIT_CHECK(n == 1);
    UNIT_CHECK_STR(field(&r, "role", NULL), "master");
    UNIT_CHECK_STR(field(&r, "time", NULL), "26 Nov 2026 03:01:02.345");
    UNIT_CHECK_STR(field(&r, "level", NULL), "notice");
    UNIT_CHECK(parse_str("4242:S 01 Jan 2027 00:00:00.000 # MASTER "
        "timeout", &r));
    UNIT_CHECK_STR(field(&r, "role", NULL), "replica");
    UNIT_CHECK_STR(field(&r, "level", NULL), "warning");
    UNIT_CHECK(parse_str("7:X 26 Nov 2026 03:01:02.345 - x", &r));
    UNIT_CHECK_STR(field(&r, "role", NULL), "sentinel");
    UNIT_CHECK_STR(field(&r, "level", NULL), "verbose");
}

static void
test_parse_redis_near_misses(void)
{
    struct parse_result r;

    UNIT_CHECK(!parse_str("1:Q 26 Nov 2026 03:01:02.345 * x", &r));
    UNIT_CHECK(!parse_str("1:M 26 Foo 2026 03:01:02.345 * x", &r));
    UNIT_CHECK(!parse_str("1:M 26 Nov 2026 03:01:02 * x", &r));
    UNIT_CHECK(!parse_str("1:M 26 Nov 2026 03:01:02.345 ! x", &r));
    UNIT_CHECK(!parse_str("1:M 26 Nov 2026 03:01:02.345 *x", &r));
}

static void
test_parse_unknown_passes(void)
{
    struct parse_result r;

    UNIT_CHECK(!parse_str("", &r));
    UNIT_CHECK(!parse_str("tag 1 1795665806.1", &r));
    UNIT_CHECK(!parse_str("2026/11/26 03:01:02 [error] 7#7: *1 open()", &r));
}

int
main(void)
{
    UNIT_RUN(test_parse_nginx_combined);
    UNIT_RUN(test_parse_nginx_odd_requests);
    UNIT_RUN(test_parse_nginx_near_misses);
    UNIT_RUN(test_parse_redis);
    UNIT_RUN(test_parse_redis_near_misses);
    UNIT_RUN(test_parse_unknown_passes);
    return unit_done();
}
