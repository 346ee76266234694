/* test_router.c -- unit tests for router.c
 *
 * The routing table is tested as data: method, raw URI, expected route and
 * (for /hello) the expected decoded name.  Path tricks and malformed
 * escapes must give a defined answer.
 */
#include <stdlib.h>
#include <string.h>

#include "router.h"
#include "unit.h"

struct router_case {
    const char    *method;
    const char    *uri;
    enum route_id  want;
    const char    *name;     /* for ROUTE_HELLO */
};

static const struct router_case cases[] = {
    { "GET",  "/",                      ROUTE_ROOT,      NULL },
    { "HEAD", "/",                      ROUTE_ROOT,      NULL },
    { "GET",  "/?x=1",                  ROUTE_ROOT,      NULL },
    { "GET",  "/#frag",                 ROUTE_ROOT,      NULL },
    { "GET",  "//",                     ROUTE_NOT_FOUND, NULL },
    { "GET",  "",                       ROUTE_NOT_FOUND, NULL },
    { "GET",  "?x",                     ROUTE_NOT_FOUND, NULL },
    { "GET",  "x",                      ROUTE_NOT_FOUND, NULL },
    { "GET",  "http://h/",              ROUTE_NOT_FOUND, NULL },
    { "GET",  "/session",               ROUTE_SESSION,   NULL },
    { "GET",  "/session/",              ROUTE_SESSION,   NULL },
    { "GET",  "/session//",             ROUTE_NOT_FOUND, NULL },
    { "GET",  "/Session",               ROUTE_SESSION,   NULL },
    { "GET",  "/sessions",              ROUTE_NOT_FOUND, NULL },
    { "GET",  "/%73ession",             ROUTE_NOT_FOUND, NULL },
    { "GET",  "/session?a=b/c",         ROUTE_SESSION,   NULL },
    { "GET",  "/healthz",               ROUTE_HEALTHZ,   NULL },
    { "GET",  "/readyz",                ROUTE_READYZ,    NULL },
    { "GET",  "/metrics",               ROUTE_METRICS,   NULL },
    { "GET",  "/metrics/x",             ROUTE_NOT_FOUND, NULL },
    { "GET",  "/hello/world",           ROUTE_HELLO,     "world" },
    { "HEAD", "/hello/world",           ROUTE_HELLO,     "world" },
    { "GET",  "/hello/world/",          ROUTE_HELLO,     "world" },
    { "GET",  "/HELLO/World",           ROUTE_HELLO,     "World" },
    { "GET",  "/hello/world?x=%zz",     ROUTE_HELLO,     "world" },
    { "GET",  "/hello/a%20b",           ROUTE_HELLO,     "a b" },
    { "GET",  "/hello/a+b",             ROUTE_HELLO,     "a+b" },
    { "GET",  "/hello/caf%C3%A9",       ROUTE_HELLO,     "caf\xc3\xa9" },
    { "GET",  "/hello/caf\xc3\xa9",     ROUTE_HELLO,     "caf\xc3\xa9" },
    { "GET",  "/hello/%F0%9F%98%80",    ROUTE_HELLO,     "\xf0\x9f\x98\x80" },
    { "GET",  "/hello/%22%3Cb%3E%5C",   ROUTE_HELLO,     "\"<b>\\" },
    { "GET",  "/hello/%0A%09",          ROUTE_HELLO,     "\n\t" },
    { "GET",  "/hello/%2e%2e",          ROUTE_HELLO,     ".." },
    { "GET",  "/hello/..",              ROUTE_HELLO,     ".." },
    { "GET",  "/hello/a%2Fb",           ROUTE_HELLO,     "a/b" },
    { "GET",  "/hello/%25",             ROUTE_HELLO,     "%" },
    { "GET",  "/hello/../x",            ROUTE_NOT_FOUND, NULL },
    { "GET",  "/hello/a/b",             ROUTE_NOT_FOUND, NULL },
    { "GET",  "//hello/x",              ROUTE_NOT_FOUND, NULL },
    { "GET",  "/hello/",                ROUTE_NOT_FOUND, NULL },
    { "GET",  "/hello//",               ROUTE_NOT_FOUND, NULL },
    { "GET",  "/hello",                 ROUTE_NOT_FOUND, NULL },
    { "GET",  "/hello/x//",             ROUTE_NOT_FOUND, NULL },
    { "GET",  "/hellox/y",              ROUTE_NOT_FOUND, NULL },
    { "GET",  "/hello/%",               ROUTE_BAD_REQUEST, NULL },
    { "GET",  "/hello/%4",              ROUTE_BAD_REQUEST, NULL },
    { "GET",  "/hello/%zz",             ROUTE_BAD_REQUEST, NULL },
    { "GET",  "/hello/a%2",             ROUTE_BAD_REQUEST, NULL },
    { "GET",  "/hello/%00",             ROUTE_BAD_REQUEST, NULL },
    { "GET",  "/hello/%FF",             ROUTE_BAD_REQUEST, NULL },
    { "GET",  "/hello/%C0%AF",          ROUTE_BAD_REQUEST, NULL },
    { "GET",  "/hello/%ED%A0%80",       ROUTE_BAD_REQUEST, NULL },
    { "GET",  "/hello/\xff",            ROUTE_BAD_REQUEST, NULL },
    { "GET",  "/hello/%zz/x",           ROUTE_NOT_FOUND, NULL },
    { "POST", "/",                      ROUTE_METHOD_NOT_ALLOWED, NULL },
    { "POST", "/hello/x",               ROUTE_METHOD_NOT_ALLOWED, NULL },
    { "PUT",  "/session",               ROUTE_METHOD_NOT_ALLOWED, NULL },
    { "DELETE", "/metrics",             ROUTE_METHOD_NOT_ALLOWED, NULL },
    { "get",  "/",                      ROUTE_METHOD_NOT_ALLOWED, NULL },
    { "",     "/healthz",               ROUTE_METHOD_NOT_ALLOWED, NULL },
    { "GETX", "/readyz",                ROUTE_METHOD_NOT_ALLOWED, NULL },
    { "POST", "/hello/%zz",             ROUTE_METHOD_NOT_ALLOWED, NULL },
    { "POST", "/nowhere",               ROUTE_NOT_FOUND, NULL },
};

static void
test_table(void)
{
    struct route_match m;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct router_case *c = &cases[i];
        int ok;

        memset(&m, 0xa5, sizeof(m));        /* no stale fields survive */
        router_match(c->method, c->uri, strlen(c->uri), &m);
        ok = m.id == c->want;
        if (c->want == ROUTE_METHOD_NOT_ALLOWED)
            ok &= m.allow != NULL && strcmp(m.allow, "GET, HEAD") == 0;
        else
            ok &= m.allow == NULL;
        if (c->want == ROUTE_HELLO)
            ok &= m.name == m.storage && m.name_len == strlen(c->name)
                  && memcmp(m.name, c->name, m.name_len) == 0
                  && m.name[m.name_len] == '\0';
        else
            ok &= m.name == NULL && m.name_len == 0;
        if (!ok) {
            UNIT_CHECK(!"route mismatch");
            fprintf(stderr, "case %zu: %s %s -> id %d\n", i, c->method,
                    c->uri, (int) m.id);
        }
    }
}

static void
test_null_inputs(void)
{
    struct route_match m;

    router_match(NULL, "/", 1, &m);
    UNIT_CHECK(m.id == ROUTE_METHOD_NOT_ALLOWED);
    router_match("GET", NULL, 5, &m);
    UNIT_CHECK(m.id == ROUTE_NOT_FOUND);
}

static void
test_urilen_is_respected(void)
{
    struct route_match m;

    router_match("GET", "/healthzXYZ", 8, &m);
    UNIT_CHECK(m.id == ROUTE_HEALTHZ);
    router_match("GET", "/hello/abc", 8, &m);
    UNIT_CHECK(m.id == ROUTE_HELLO && m.name_len == 1 && m.name[0] == 'a');
    /* A raw NUL inside the name is a bad request, not a truncation. */
    router_match("GET", "/hello/a\0b", 10, &m);
    UNIT_CHECK(m.id == ROUTE_BAD_REQUEST);
}

static void
test_name_length_limits(void)
{
    struct route_match m;
    size_t max = sizeof(m.storage) - 1, n;
    char  *uri = malloc(7 + 3 * (max + 1) + 1);

    UNIT_CHECK(uri != NULL);
    if (uri == NULL)
        return;
    memcpy(uri, "/hello/", 7);
    memset(uri + 7, 'x', max);
    router_match("GET", uri, 7 + max, &m);
    UNIT_CHECK(m.id == ROUTE_HELLO && m.name_len == max);
    uri[7 + max] = 'x';
    router_match("GET", uri, 7 + max + 1, &m);
    UNIT_CHECK(m.id == ROUTE_BAD_REQUEST && m.name == NULL);
    /* Long raw segment whose decoded form fits. */
    for (n = 0; n < max; n++)
        memcpy(uri + 7 + 3 * n, "%41", 3);
    router_match("GET", uri, 7 + 3 * max, &m);
    UNIT_CHECK(m.id == ROUTE_HELLO && m.name_len == max);
    free(uri);
}

static void
test_names(void)
{
    UNIT_CHECK_STR(router_name(ROUTE_ROOT), "root");
    UNIT_CHECK_STR(router_name(ROUTE_HELLO), "hello");
    UNIT_CHECK_STR(router_name(ROUTE_SESSION), "session");
    UNIT_CHECK_STR(router_name(ROUTE_HEALTHZ), "healthz");
    UNIT_CHECK_STR(router_name(ROUTE_READYZ), "readyz");
    UNIT_CHECK_STR(router_name(ROUTE_METRICS), "metrics");
    UNIT_CHECK_STR(router_name(ROUTE_NOT_FOUND), "not_found");
    UNIT_CHECK_STR(router_name(ROUTE_METHOD_NOT_ALLOWED),
                   "method_not_allowed");
    UNIT_CHECK_STR(router_name(ROUTE_BAD_REQUEST), "bad_request");
    UNIT_CHECK_STR(router_name(ROUTE__COUNT), "unknown");
    UNIT_CHECK_STR(router_name((enum route_id) -1), "unknown");
}

int
main(void)
{
    UNIT_RUN(test_table);
    UNIT_RUN(test_null_inputs);
    UNIT_RUN(test_urilen_is_respected);
    UNIT_RUN(test_name_length_limits);
    UNIT_RUN(test_names);
    return unit_done();
}
