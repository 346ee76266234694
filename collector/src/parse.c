/* parse.c -- nginx combined and Redis log line recognisers
 *
 * nginx combined (ngx_http_log_module's predefined format):
 *   $remote_addr - $remote_user [$time_local] "$request" $status
 *   $body_bytes_sent "$http_referer" "$http_user_agent"
 * gives client, method, path, status, bytes, referrer, agent.  nginx
 * escapes '"' inside variables as \x22, so a quoted field ends at the next
 * '"'.  A request that is not "METHOD PATH PROTOCOL" (e.g. "-" or binary
 * junk) still parses, without method and path.
 *
 * Redis (server.c serverLogRaw): "pid:role dd Mon yyyy hh:mm:ss.mmm L msg"
 * where role is X sentinel, C child, S replica, M master and L is one of
 * ". - * #" for debug, verbose, notice, warning.  Gives pid, role, level
 * and time (the line's own time, as written).
 *
 * Every recogniser returns 1 and fills r when the whole line matches, and
 * 0 otherwise (r is then unspecified).  Nothing here allocates.
 */
#include <string.h>

#include "parse.h"

/* A cursor over the line being recognised. */
struct parse_cur {
    const char *p;
    const char *end;
};

/* Append a string field; beyond PARSE_MAX_FIELDS fields are dropped. */
static void
parse_add(struct parse_result *r, const char *name, const char *val,
    size_t len)
{
    if (r->n < PARSE_MAX_FIELDS) {
        r->f[r->n].name = name;
        r->f[r->n].val = val;
        r->f[r->n].len = len;
        r->f[r->n].is_int = 0;
        r->f[r->n].num = 0;
        r->n++;
    }
}

/* Append a numeric field (its text is kept too). */
static void
parse_add_int(struct parse_result *r, const char *name, const char *val,
    size_t len, long long num)
{
    parse_add(r, name, val, len);
    if (r->n > 0 && r->f[r->n - 1].name == name) {
        r->f[r->n - 1].is_int = 1;
        r->f[r->n - 1].num = num;
    }
}

/* Consume the literal lit; return 0 if it is not next. */
static int
parse_lit(struct parse_cur *c, const char *lit)
{
    size_t n = strlen(lit);

    if ((size_t) (c->end - c->p) < n || memcmp(c->p, lit, n) != 0) {
        return 0;
    }
    c->p += n;
    return 1;
}

/*
 * Consume bytes up to (not including) stop; return the span.  Returns 0 if
 * stop does not occur or the span would be empty.
 */
static int
parse_until(struct parse_cur *c, char stop, const char **val, size_t *len)
{
    const char *q = memchr(c->p, stop, (size_t) (c->end - c->p));

    if (q == NULL || q == c->p) {
        return 0;
    }
    *val = c->p;
    *len = (size_t) (q - c->p);
    c->p = q;
    return 1;
}

/*
 * Consume 1 to max_digits decimal digits into *num.  Returns 0 if there is
 * no digit or there are more than max_digits (no overflow possible).
 */
static int
parse_digits(struct parse_cur *c, size_t max_digits, const char **val,
    size_t *len, long long *num)
{
    const char *q = c->p;
    long long v = 0;

    while (q < c->end && *q >= '0' && *q <= '9') {
        if ((size_t) (q - c->p) >= max_digits) {
            return 0;
        }
        v = v * 10 + (*q - '0');
        q++;
    }
    if (q == c->p) {
        return 0;
    }
    *val = c->p;
    *len = (size_t) (q - c->p);
    *num = v;
    c->p = q;
    return 1;
}

/* Split "METHOD PATH PROTO" and add method and path if it has that shape. */
static void
parse_request(struct parse_result *r, const char *req, size_t len)
{
    const char *sp1 = memchr(req, ' ', len), *sp2;
    size_t i;

    if (sp1 == NULL || sp1 == req) {
        return;
    }
    for (i = 0; req + i < sp1; i++) {
        if (req[i] < 'A' || req[i] > 'Z') {
            return;
        }
    }
    sp2 = memchr(sp1 + 1, ' ', (size_t) (req + len - sp1 - 1));
    if (sp2 == NULL || sp2 == sp1 + 1) {
        return;
    }
    parse_add(r, "method", req, (size_t) (sp1 - req));
    parse_add(r, "path", sp1 + 1, (size_t) (sp2 - sp1 - 1));
}

/*
 * Recognise an nginx combined access log line.  Returns 1 and fills r, or
 * 0 if the line does not have that format.
 */
int
parse_nginx_combined(const char *s, size_t len, struct parse_result *r)
{
    struct parse_cur c = { s, s + len };
    const char *v, *req, *client;
    size_t n, reqlen, clientlen;
    long long num;

    r->format = "nginx-combined";
    r->n = 0;
    if (!parse_until(&c, ' ', &client, &clientlen)) {
        return 0;
    }
    parse_add(r, "client", client, clientlen);
    if (!parse_lit(&c, " - ") || !parse_until(&c, ' ', &v, &n)
        || !parse_lit(&c, " [") || !parse_until(&c, ']', &v, &n)
        || !parse_lit(&c, "] \""))
    {
        return 0;
    }
    if (parse_lit(&c, "\"")) {
        req = c.p;
        reqlen = 0;
    } else {
        if (!parse_until(&c, '"', &req, &reqlen) || !parse_lit(&c, "\"")) {
            return 0;
        }
    }
    parse_request(r, req, reqlen);
    if (!parse_lit(&c, " ") || !parse_digits(&c, 3, &v, &n, &num)) {
        return 0;
    }
    parse_add_int(r, "status", v, n, num);
    if (!parse_lit(&c, " ") || !parse_digits(&c, 18, &v, &n, &num)) {
        return 0;
    }
    parse_add_int(r, "bytes", v, n, num);
    if (!parse_lit(&c, " \"")) {
        return 0;
    }
    if (!parse_lit(&c, "\"")) {
        if (!parse_until(&c, '"', &v, &n) || !parse_lit(&c, "\"")) {
            return 0;
        }
        parse_add(r, "referrer", v, n);
    }
    if (!parse_lit(&c, " \"")) {
        return 0;
    }
    if (!parse_lit(&c, "\"")) {
        if (!parse_until(&c, '"', &v, &n) || !parse_lit(&c, "\"")) {
            return 0;
        }
        parse_add(r, "agent", v, n);
    }
    return c.p == c.end;
}

/*
 * Recognise a Redis server log line.  Returns 1 and fills r, or 0.
 */
int
parse_redis(const char *s, size_t len, struct parse_result *r)
{
    static const char *const months[] = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun",
        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
    };
    struct parse_cur c = { s, s + len };
    const char *v, *t, *role, *level;
    size_t n, i;
    long long num;

    r->format = "redis";
    r->n = 0;
    if (!parse_digits(&c, 10, &v, &n, &num) || !parse_lit(&c, ":")
        || c.p >= c.end)
    {
        return 0;
    }
    parse_add_int(r, "pid", v, n, num);
    switch (*c.p) {
    case 'X': role = "sentinel"; break;
    case 'C': role = "child"; break;
    case 'S': role = "replica"; break;
    case 'M': role = "master"; break;
    default: return 0;
    }
    c.p++;
    parse_add(r, "role", role, strlen(role));
    if (!parse_lit(&c, " ")) {
        return 0;
    }
    t = c.p;
    if (!parse_digits(&c, 2, &v, &n, &num) || !parse_lit(&c, " ")) {
        return 0;
    }
    for (i = 0; i < 12; i++) {
        if (parse_lit(&c, months[i])) {
            break;
        }
    }
    if (i == 12 || !parse_lit(&c, " ")
        || !parse_digits(&c, 4, &v, &n, &num) || !parse_lit(&c, " ")
        || !parse_digits(&c, 2, &v, &n, &num) || !parse_lit(&c, ":")
        || !parse_digits(&c, 2, &v, &n, &num) || !parse_lit(&c, ":")
        || !parse_digits(&c, 2, &v, &n, &num) || !parse_lit(&c, ".")
        || !parse_digits(&c, 3, &v, &n, &num))
    {
        return 0;
    }
    parse_add(r, "time", t, (size_t) (c.p - t));
    if (!parse_lit(&c, " ") || c.p >= c.end) {
        return 0;
    }
    switch (*c.p) {
    case '.': level = "debug"; break;
    case '-': level = "verbose"; break;
    case '*': level = "notice"; break;
    case '#': level = "warning"; break;
    default: return 0;
    }
    c.p++;
    parse_add(r, "level", level, strlen(level));
    return c.p == c.end || *c.p == ' ';
}

/*
 * Try every known format on the line.  Returns 1 and fills r if one
 * matches, 0 if the line is of an unknown format.
 */
int
parse_line(const char *s, size_t len, struct parse_result *r)
{
    if (len == 0 || s[0] < '0' || (s[0] > '9' && s[0] < 'A')) {
        /* both formats start with a digit, a hex digit or ':' (IPv6) */
        if (len == 0 || (s[0] != ':')) {
            return 0;
        }
    }
    if (parse_redis(s, len, r)) {
        return 1;
    }
    return parse_nginx_combined(s, len, r);
}
