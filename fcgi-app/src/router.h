/* router.h -- maps method + raw REQUEST_URI to a route
 *
 * Owns: the app's URL table and the decoding of the /hello/:name
 * parameter (percent-decoded, NUL-free, valid UTF-8).  Does not own: what
 * a route answers (handler.c) or query strings (ignored).
 */
#ifndef ROUTER_H
#define ROUTER_H

#include <stddef.h>

enum route_id {
    ROUTE_ROOT,
    ROUTE_HELLO,
    ROUTE_SESSION,
    ROUTE_HEALTHZ,
    ROUTE_READYZ,
    ROUTE_METRICS,
    ROUTE_NOT_FOUND,
    ROUTE_METHOD_NOT_ALLOWED,
    ROUTE_BAD_REQUEST,
    ROUTE__COUNT
};

struct route_match {
    enum route_id  id;
    const char    *allow;        /* "GET, HEAD" for 405, else NULL */
    const char    *name;         /* ROUTE_HELLO: decoded, NUL-free, valid
                                  * UTF-8 name (points into storage) */
    size_t         name_len;
    char           storage[1024];
};

/* Path is the raw URI up to '?' or '#'.  Routes: "/", "/hello/<name>"
 * (one non-empty segment, percent-decoded; a trailing '/' is allowed as in
 * Express's non-strict routing), "/session", "/healthz", "/readyz",
 * "/metrics".  GET and HEAD are allowed; any other method on a known route
 * -> ROUTE_METHOD_NOT_ALLOWED with allow.  Malformed percent-encoding, a
 * decoded NUL, invalid UTF-8 or an over-long name -> ROUTE_BAD_REQUEST.
 * Unknown paths -> ROUTE_NOT_FOUND.  Never fails otherwise.  method and
 * uri may be NULL (treated as "").  As in Express 4's defaults the
 * literal parts match case-insensitively ("/Session" is ROUTE_SESSION)
 * and the raw path is matched before decoding ("/%73ession" is not
 * found); a path not starting with '/' is not found. */
void router_match(const char *method, const char *uri, size_t urilen,
                  struct route_match *m);

/* Metric label: "root", "hello", "session", "healthz", "readyz",
 * "metrics", "not_found", "method_not_allowed", "bad_request";
 * "unknown" for anything else.  Never NULL. */
const char *router_name(enum route_id id);

#endif
