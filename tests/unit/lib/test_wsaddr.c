/* test_wsaddr.c -- unit tests for lib/wsaddr.c (host:port, [v6]:port)
 *
 * Covers: plain and bracketed hosts, the last-colon rule, port bounds and
 * junk, unbracketed or stray brackets, host length against hostcap, and
 * that every refusal fills the error buffer.
 */
#include <string.h>

#include "unit.h"
#include "wsaddr.h"

static int
parse(const char *s, char *host, size_t cap, int *port, char *err,
      size_t errlen)
{
    err[0] = '\0';
    return wsaddr_parse(s, strlen(s), host, cap, port, err, errlen);
}

static void
expect_bad(const char *s, size_t cap, const char *why)
{
    char host[300], err[256];
    int  port;

    UNIT_CHECK(parse(s, host, cap, &port, err, sizeof(err)) == -1);
    UNIT_CHECK(strstr(err, why) != NULL);
}

static void
test_plain_host(void)
{
    char host[64], err[256];
    int  port = 0;

    UNIT_CHECK(parse("redis:6379", host, sizeof(host), &port, err,
                     sizeof(err)) == 0);
    UNIT_CHECK_STR(host, "redis");
    UNIT_CHECK(port == 6379);
    UNIT_CHECK(parse("10.0.0.2:1", host, sizeof(host), &port, err,
                     sizeof(err)) == 0);
    UNIT_CHECK_STR(host, "10.0.0.2");
    UNIT_CHECK(port == 1);
}

static void
test_bracketed_v6(void)
{
    char host[64], err[256];
    int  port = 0;

    UNIT_CHECK(parse("[::1]:65535", host, sizeof(host), &port, err,
                     sizeof(err)) == 0);
    UNIT_CHECK_STR(host, "::1");
    UNIT_CHECK(port == 65535);
    UNIT_CHECK(parse("[fe80::1%eth0]:5000", host, sizeof(host), &port, err,
                     sizeof(err)) == 0);
    UNIT_CHECK_STR(host, "fe80::1%eth0");
    UNIT_CHECK(port == 5000);
}

static void
test_token_length_not_nul(void)
{
    char host[64], err[256];
    int  port = 0;

    /* Only (p, len) is read: the rest of the string is another token. */
    UNIT_CHECK(wsaddr_parse("h:12 x:9", 4, host, sizeof(host), &port, err,
                            sizeof(err)) == 0);
    UNIT_CHECK_STR(host, "h");
    UNIT_CHECK(port == 12);
}

static void
test_refused(void)
{
    expect_bad("", 64, "not host:port");
    expect_bad("host", 64, "not host:port");
    expect_bad("h:", 64, "port not a number");
    expect_bad("h:0", 64, "port not a number");
    expect_bad("h:65536", 64, "port not a number");
    expect_bad("h:+80", 64, "port not a number");
    expect_bad("h:80x", 64, "port not a number");
    expect_bad("h:000080", 64, "port not a number");
    expect_bad("::1:6379", 64, "[addr]:port");
    expect_bad("[::1:6379", 64, "[addr]:port");
    expect_bad("[[::1]]:6379", 64, "stray bracket");
    expect_bad(":6379", 64, "host empty");
    expect_bad("[]:6379", 64, "host empty");
    expect_bad("abcd:1", 4, "longer than 3");
}

static void
test_host_fills_cap(void)
{
    char host[4], err[256];
    int  port = 0;

    UNIT_CHECK(parse("abc:7", host, sizeof(host), &port, err,
                     sizeof(err)) == 0);
    UNIT_CHECK_STR(host, "abc");
}

static void
test_port(void)
{
    UNIT_CHECK(wsaddr_parse_port("1", 1) == 1);
    UNIT_CHECK(wsaddr_parse_port("65535", 5) == 65535);
    UNIT_CHECK(wsaddr_parse_port("08080", 5) == 8080);
    UNIT_CHECK(wsaddr_parse_port("", 0) == -1);
    UNIT_CHECK(wsaddr_parse_port("0", 1) == -1);
    UNIT_CHECK(wsaddr_parse_port("65536", 5) == -1);
    UNIT_CHECK(wsaddr_parse_port("-1", 2) == -1);
    UNIT_CHECK(wsaddr_parse_port("123456", 6) == -1);
    UNIT_CHECK(wsaddr_parse_port("80 ", 3) == -1);
}

int
main(void)
{
    UNIT_RUN(test_plain_host);
    UNIT_RUN(test_bracketed_v6);
    UNIT_RUN(test_token_length_not_nul);
    UNIT_RUN(test_refused);
    UNIT_RUN(test_host_fills_cap);
    UNIT_RUN(test_port);
    return unit_done();
}
