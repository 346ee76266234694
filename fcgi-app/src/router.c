/* router.c -- maps method + raw REQUEST_URI to a route
 *
 * Owns the URL table and the /hello/:name parameter.  Matching follows
 * Express 4's defaults so the C app answers like the app it replaces:
 * the raw (still encoded) path before '?' is matched, literal parts
 * case-insensitively (Express `caseSensitive: false`), one trailing '/'
 * allowed (`strict: false`); only the name parameter is percent-decoded,
 * after matching, so "/hello/a%2Fb" names "a/b" while "/hello/a/b" is not
 * found.  Express answers 400 when decodeURIComponent throws; we do too,
 * and also for a decoded NUL.  Paths are never normalised ("/hello/../x"
 * is simply not found).  Does not own the answers (handler.c).
 */
#include <stddef.h>
#include <string.h>

#include "pct.h"
#include "router.h"
#include "utf8.h"

#define ROUTER_HELLO_PREFIX     "/hello/"
#define ROUTER_HELLO_PREFIX_LEN (sizeof(ROUTER_HELLO_PREFIX) - 1)

struct router_route {
    const char    *path;
    enum route_id  id;
};

static const struct router_route router_routes[] = {
    { "/",        ROUTE_ROOT },
    { "/session", ROUTE_SESSION },
    { "/healthz", ROUTE_HEALTHZ },
    { "/readyz",  ROUTE_READYZ },
    { "/metrics", ROUTE_METRICS },
};

static const char *const router_names[ROUTE__COUNT] = {
    [ROUTE_ROOT]               = "root",
    [ROUTE_HELLO]              = "hello",
    [ROUTE_SESSION]            = "session",
    [ROUTE_HEALTHZ]            = "healthz",
    [ROUTE_READYZ]             = "readyz",
    [ROUTE_METRICS]            = "metrics",
    [ROUTE_NOT_FOUND]          = "not_found",
    [ROUTE_METHOD_NOT_ALLOWED] = "method_not_allowed",
    [ROUTE_BAD_REQUEST]        = "bad_request",
};

/* ASCII-only case-insensitive equality of a[0..n) and b[0..n). */
static int
router_eq_nocase(const char *a, const char *b, size_t n)
{
    size_t i;
    unsigned char x, y;

    for (i = 0; i < n; i++) {
        x = (unsigned char) a[i];
        y = (unsigned char) b[i];
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char) (x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char) (y - 'A' + 'a');
        if (x != y)
            return 0;
    }
    return 1;
}

/* Static route for path p[0..n), or ROUTE_NOT_FOUND. */
static enum route_id
router_static(const char *p, size_t n)
{
    size_t i, rl;

    for (i = 0; i < sizeof(router_routes) / sizeof(router_routes[0]); i++) {
        rl = strlen(router_routes[i].path);
        /* "/x" and "/x/" (non-strict); "/" matches only "/". */
        if ((n == rl || (n == rl + 1 && rl > 1 && p[rl] == '/'))
            && router_eq_nocase(p, router_routes[i].path, rl))
            return router_routes[i].id;
    }
    return ROUTE_NOT_FOUND;
}

/* If p[0..n) is "/hello/<seg>" or "/hello/<seg>/", point *seg at the raw
 * non-empty segment and return 1; else 0. */
static int
router_hello(const char *p, size_t n, const char **seg, size_t *seglen)
{
    const char *s;
    size_t      sl;

    if (n <= ROUTER_HELLO_PREFIX_LEN
        || !router_eq_nocase(p, ROUTER_HELLO_PREFIX, ROUTER_HELLO_PREFIX_LEN))
        return 0;
    s = p + ROUTER_HELLO_PREFIX_LEN;
    sl = n - ROUTER_HELLO_PREFIX_LEN;
    if (s[sl - 1] == '/')
        sl--;
    if (sl == 0 || memchr(s, '/', sl) != NULL)
        return 0;
    *seg = s;
    *seglen = sl;
    return 1;
}

/* See router.h. */
void
router_match(const char *method, const char *uri, size_t urilen,
             struct route_match *m)
{
    const char *seg = NULL;
    size_t      n, seglen = 0, outlen;
    int         get_or_head;

    m->id = ROUTE_NOT_FOUND;
    m->allow = NULL;
    m->name = NULL;
    m->name_len = 0;
    m->storage[0] = '\0';
    if (method == NULL)
        method = "";
    if (uri == NULL)
        urilen = 0;

    /* The path ends at the first '?' or '#'. */
    for (n = 0; n < urilen; n++) {
        if (uri[n] == '?' || uri[n] == '#')
            break;
    }
    if (n == 0 || uri[0] != '/')
        return;

    m->id = router_static(uri, n);
    if (m->id == ROUTE_NOT_FOUND && router_hello(uri, n, &seg, &seglen))
        m->id = ROUTE_HELLO;
    if (m->id == ROUTE_NOT_FOUND)
        return;

    get_or_head = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (!get_or_head) {
        m->id = ROUTE_METHOD_NOT_ALLOWED;
        m->allow = "GET, HEAD";
        return;
    }
    if (m->id != ROUTE_HELLO)
        return;

    if (pct_decode(seg, seglen, m->storage, sizeof(m->storage), &outlen) != 0
        || !utf8_valid(m->storage, outlen)) {
        m->id = ROUTE_BAD_REQUEST;
        m->storage[0] = '\0';
        return;
    }
    m->name = m->storage;
    m->name_len = outlen;
}

/* See router.h. */
const char *
router_name(enum route_id id)
{
    if ((unsigned) id >= ROUTE__COUNT || router_names[id] == NULL)
        return "unknown";
    return router_names[id];
}
