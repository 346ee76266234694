/* handler.c -- turns one FastCGI request into one HTTP response
 *
 * A request goes: router_match() -> body limit check -> the route -> one
 * response written with Status (when not 200), Content-Type,
 * Content-Length and route-specific headers -> metrics and access log.
 *
 * Sessions follow express-session + connect-redis: the cookie
 * "s:<id>.<hmac>" (cookie.c) names the Redis key <prefix><id> holding the
 * JSON document (session.c).  A cookie that is missing, garbage, wrongly
 * signed or names an unknown id is never adopted: the request gets a fresh
 * random id (no session fixation).  Flood control: a session seen once is
 * stored with SESSION_FRESH_TTL_S; from its second visit on its TTL is the
 * time until cookie.expires (rolling SESSION_MAX_AGE_S).  Memory pressure
 * beyond that is Redis's job (maxmemory + volatile-ttl in redis/, which
 * evicts the shortest-lived keys, i.e. one-visit sessions, first).  When
 * Redis is down, slow or in backoff the answer is 503 JSON with
 * Retry-After: 1 within REDIS_TIMEOUT_MS (store.c's per-request budget);
 * the same while Sentinel names no usable primary.  With
 * REDIS_WAIT_REPLICAS, a write that replicas did not acknowledge in time
 * still answers normally (it stands on the primary) and is logged.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cookie.h"
#include "handler.h"
#include "jsonw.h"
#include "log.h"
#include "metrics.h"
#include "router.h"
#include "session.h"
#include "sign.h"
#include "store.h"

struct handler {
    const struct config *cfg;
    struct store        *store;
    const char          *secrets[2];
    size_t               nsecrets;
    long                 pid;
    unsigned long        seen_errors;
    unsigned long        seen_reconnects;
    unsigned long        seen_wait_short;
    time_t               wait_logged;     /* last WAIT warning, s */

    /* per request, reset each time */
    struct buf           body;
    struct buf           headers;     /* extra header lines */
    struct buf           key;
    struct buf           doc;
    int                  status;
    const char          *ctype;
};

static const char HANDLER_JSON[] = "application/json";

struct handler *
handler_create(const struct config *cfg, char *err, size_t errlen)
{
    struct handler      *h;
    struct store_config  sc;

    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->cfg = cfg;
    buf_init(&h->body);
    buf_init(&h->headers);
    buf_init(&h->key);
    buf_init(&h->doc);
    sc.host = cfg->redis_host;
    sc.port = (int) cfg->redis_port;
    sc.db = (int) cfg->redis_db;
    sc.username = cfg->redis_username;
    sc.password = cfg->redis_password;
    sc.sentinels = cfg->redis_sentinels;
    sc.master_name = cfg->redis_master_name;
    sc.sentinel_username = cfg->redis_sentinel_username;
    sc.sentinel_password = cfg->redis_sentinel_password;
    sc.connect_timeout_ms = (int) cfg->redis_connect_timeout_ms;
    sc.timeout_ms = (int) cfg->redis_timeout_ms;
    sc.wait_replicas = (int) cfg->redis_wait_replicas;
    sc.wait_timeout_ms = (int) cfg->redis_wait_timeout_ms;
    h->store = store_create(&sc);
    if (h->store == NULL) {
        snprintf(err, errlen, "out of memory");
        goto error;
    }
    h->secrets[h->nsecrets++] = cfg->session_secret;
    if (cfg->session_secret_previous != NULL
        && *cfg->session_secret_previous != '\0')
    {
        h->secrets[h->nsecrets++] = cfg->session_secret_previous;
    }
    h->pid = (long) getpid();
    return h;

error:
    handler_destroy(h);
    return NULL;
}

void
handler_destroy(struct handler *h)
{
    if (h == NULL) {
        return;
    }
    store_destroy(h->store);
    buf_free(&h->body);
    buf_free(&h->headers);
    buf_free(&h->key);
    buf_free(&h->doc);
    free(h);
}

/* Wall clock in Unix ms (cookie and session dates). */
static int64_t
handler_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Monotonic seconds (request durations). */
static double
handler_mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* Reason phrase for the Status header. */
static const char *
handler_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 503: return "Service Unavailable";
    default:  return "Internal Server Error";
    }
}

/* Set a JSON error response {"error":"<msg>"}. */
static void
handler_error(struct handler *h, int status, const char *msg)
{
    h->status = status;
    h->ctype = HANDLER_JSON;
    buf_reset(&h->body);
    buf_printf(&h->body, "{\"error\":\"%s\"}", msg);
}

/* Redis is unusable for this request: 503 + Retry-After, logged once. */
static void
handler_unavailable(struct handler *h, const char *err)
{
    LOG_WARN("handler: %s", err);
    handler_error(h, 503, "service unavailable");
    buf_reset(&h->headers);
    buf_appends(&h->headers, "Retry-After: 1\r\nCache-Control: no-store\r\n");
}

/* Build h->key = <prefix><id>. */
static void
handler_key(struct handler *h, const char *id)
{
    buf_reset(&h->key);
    buf_appends(&h->key, h->cfg->session_prefix);
    buf_appends(&h->key, id);
}

/* Load the session named by a valid cookie, or make a fresh one.  Returns
 * the session (caller destroys) with id filled and *fresh set, or NULL
 * after setting a 503/500 response. */
static struct session *
handler_session_load(struct handler *h, struct fcgi_request *req, char *id,
                     size_t idlen, int *fresh, int64_t now)
{
    struct session *s = NULL;
    const char     *cookie;
    char            err[256];
    int             rc;

    *fresh = 0;
    cookie = fcgi_request_param(req, "HTTP_COOKIE");
    if (cookie != NULL
        && cookie_session_id(cookie, strlen(cookie),
                             h->cfg->session_cookie_name, h->secrets,
                             h->nsecrets, id, idlen) == 0
        && sign_id_valid(id, strlen(id)))
    {
        handler_key(h, id);
        rc = store_get(h->store, h->key.data, h->key.len, &h->doc, err,
                       sizeof(err));
        if (rc == STORE_ERR) {
            handler_unavailable(h, err);
            return NULL;
        }
        if (rc == STORE_OK) {
            s = session_parse(h->doc.data, h->doc.len, err, sizeof(err));
            if (s == NULL) {
                LOG_WARN("handler: stored session unusable, starting a "
                         "fresh one: %s", err);
            }
        }
    }
    if (s != NULL) {
        return s;
    }
    if (sign_random_id(id, idlen) != 0) {
        LOG_ERROR("handler: no randomness for a session id");
        handler_error(h, 500, "internal error");
        return NULL;
    }
    s = session_new(now, h->cfg->session_max_age_s * 1000);
    if (s == NULL) {
        handler_error(h, 500, "internal error");
        return NULL;
    }
    *fresh = 1;
    return s;
}

/* Store s under id: a session seen at most once lives
 * SESSION_FRESH_TTL_S, later ones until cookie.expires.  0, or -1 after
 * setting a 503/500 response. */
static int
handler_session_save(struct handler *h, struct session *s, const char *id,
                     int64_t now)
{
    int64_t  ttl, expires;
    char     err[256];

    if (session_views(s) <= 1) {
        ttl = h->cfg->session_fresh_ttl_s * 1000;
    } else {
        expires = session_expires_ms(s);
        ttl = expires > now ? expires - now
                            : h->cfg->session_max_age_s * 1000;
    }
    buf_reset(&h->doc);
    handler_key(h, id);
    if (session_dump(s, &h->doc) != 0 || h->key.oom) {
        handler_error(h, 500, "internal error");
        return -1;
    }
    if (store_set(h->store, h->key.data, h->key.len, h->doc.data, h->doc.len,
                  ttl, err, sizeof(err)) != STORE_OK)
    {
        handler_unavailable(h, err);
        return -1;
    }
    return 0;
}

/* GET / (visit = 1) and GET /session (visit = 0). */
static void
handler_session_route(struct handler *h, struct fcgi_request *req, int visit)
{
    struct session *s;
    char            id[SIGN_ID_MAX + 1];
    char            iso[SESSION_ISO_LEN + 8];
    const char     *created;
    int64_t         now = handler_wall_ms();
    int             fresh;

    store_begin(h->store);
    s = handler_session_load(h, req, id, sizeof(id), &fresh, now);
    if (s == NULL) {
        return;
    }
    if (visit && session_touch(s, now) != 0) {
        handler_error(h, 500, "internal error");
        goto done;
    }
    if ((visit || fresh) && handler_session_save(h, s, id, now) != 0) {
        goto done;
    }
    h->status = 200;
    h->ctype = HANDLER_JSON;
    buf_appends(&h->headers, "Cache-Control: no-store\r\n");
    if (visit || fresh) {
        buf_appends(&h->headers, "Set-Cookie: ");
        cookie_format(&h->headers, h->cfg->session_cookie_name, id,
                      h->secrets[0], session_expires_ms(s),
                      h->cfg->session_cookie_secure);
        buf_appends(&h->headers, "\r\n");
    }
    buf_reset(&h->body);
    if (visit) {
        buf_appends(&h->body, "{\"status\":\"ok\"}");
        goto done;
    }
    buf_printf(&h->body, "{\"views\":%lld,\"createdAt\":",
               (long long) session_views(s));
    created = session_created(s);
    if (created == NULL
        || jsonw_string(&h->body, created, strlen(created)) != 0)
    {
        buf_appends(&h->body, "null");
    }
    buf_appends(&h->body, ",\"expires\":");
    if (session_iso8601(session_expires_ms(s), iso, sizeof(iso)) == 0) {
        jsonw_string(&h->body, iso, strlen(iso));
    } else {
        buf_appends(&h->body, "null");
    }
    buf_appends(&h->body, ",\"worker\":");
    jsonw_string(&h->body, h->cfg->app_hostname,
                 strlen(h->cfg->app_hostname));
    buf_printf(&h->body, ",\"pid\":%ld}", h->pid);

done:
    session_destroy(s);
}

/* GET /readyz: the primary takes a write within the budget. */
static void
handler_readyz(struct handler *h)
{
    char err[256];

    store_begin(h->store);
    buf_reset(&h->key);
    buf_printf(&h->key, "%sreadyz:%s", h->cfg->session_prefix,
               h->cfg->app_hostname);
    if (h->key.oom) {
        handler_error(h, 500, "internal error");
        return;
    }
    if (store_set(h->store, h->key.data, h->key.len, "1", 1, 10000, err,
                  sizeof(err)) != STORE_OK)
    {
        handler_unavailable(h, err);
        return;
    }
    h->status = 200;
    h->ctype = HANDLER_JSON;
    buf_appends(&h->body, "{\"status\":\"ok\"}");
}

/* Check CONTENT_LENGTH against the limit and drop the body.  0 to go on,
 * -1 when a 400/413 response was set. */
static int
handler_body(struct handler *h, struct fcgi_request *req)
{
    const char *cl = fcgi_request_param(req, "CONTENT_LENGTH");
    long long   n = 0;
    const char *p;

    if (cl == NULL) {
        cl = "";
    }
    for (p = cl; *p; p++) {
        if (*p < '0' || *p > '9' || n > (1LL << 50)) {
            handler_error(h, 400, "bad request");
            fcgi_request_close_after(req);
            return -1;
        }
        n = n * 10 + (*p - '0');
    }
    if (n > h->cfg->app_body_limit) {
        handler_error(h, 413, "payload too large");
        fcgi_request_close_after(req);   /* the body stays unread */
        return -1;
    }
    /* always: the body (or just its end record) must not stay behind on
     * a kept connection */
    if (fcgi_request_discard_body(req, (long) n) < 0) {
        fcgi_request_close_after(req);
    }
    return 0;
}

/* Write status line, headers and (unless HEAD) the body. */
static size_t
handler_send(struct handler *h, struct fcgi_request *req, int head)
{
    struct buf out;
    size_t     sent = 0;

    buf_init(&out);
    if (h->status != 200) {
        buf_printf(&out, "Status: %d %s\r\n", h->status,
                   handler_reason(h->status));
    }
    buf_printf(&out, "Content-Type: %s\r\nContent-Length: %zu\r\n",
               h->ctype, h->body.len);
    buf_append(&out, h->headers.data ? h->headers.data : "",
               h->headers.len);
    buf_appends(&out, "\r\n");
    if (!head) {
        buf_append(&out, h->body.data ? h->body.data : "", h->body.len);
        sent = h->body.len;
    }
    if (out.oom) {
        buf_free(&out);
        buf_init(&out);
        buf_appends(&out, "Status: 500 Internal Server Error\r\n"
                    "Content-Type: application/json\r\n"
                    "Content-Length: 26\r\n\r\n{\"error\":\"internal error\"}");
        h->status = 500;
    }
    if (out.data != NULL) {
        fcgi_request_write(req, out.data, out.len);
    }
    buf_free(&out);
    return sent;
}

/* Fold the store's error/reconnect counters into the shared metrics, and
 * warn (at most once a second per thread) when writes went without the
 * replica acknowledgements REDIS_WAIT_REPLICAS asks for. */
static void
handler_store_metrics(struct handler *h)
{
    unsigned long e = store_errors(h->store);
    unsigned long r = store_reconnects(h->store);
    unsigned long w = store_wait_short(h->store);
    time_t        now;

    if (w > h->seen_wait_short) {
        now = time(NULL);
        if (now != h->wait_logged) {
            LOG_WARN("handler: WAIT: %lu write(s) not acknowledged by %lld "
                     "replica(s) within %lld ms (%lu in all); they stand on "
                     "the primary only", w - h->seen_wait_short,
                     h->cfg->redis_wait_replicas,
                     h->cfg->redis_wait_timeout_ms, w);
            h->wait_logged = now;
            h->seen_wait_short = w;
        }
    }

    for (; h->seen_errors < e; h->seen_errors++) {
        metrics_redis_error();
    }
    for (; h->seen_reconnects < r; h->seen_reconnects++) {
        metrics_redis_reconnect();
    }
}

/* Empty b for a new request; after an OOM (sticky in buf) start over. */
static void
handler_fresh_buf(struct buf *b)
{
    if (b->oom) {
        buf_free(b);
    }
    buf_reset(b);
}

void
handler_serve(struct handler *h, struct fcgi_request *req)
{
    struct route_match  m;
    const char         *method, *uri, *internal;
    double              t0 = handler_mono_s();
    size_t              sent;
    int                 route, head;

    handler_fresh_buf(&h->body);
    handler_fresh_buf(&h->headers);
    handler_fresh_buf(&h->key);
    handler_fresh_buf(&h->doc);
    h->status = 500;
    h->ctype = HANDLER_JSON;

    method = fcgi_request_param(req, "REQUEST_METHOD");
    uri = fcgi_request_param(req, "REQUEST_URI");
    /* a HEAD answer has no body, even the 400 below */
    head = method != NULL && strcmp(method, "HEAD") == 0;
    if (method == NULL || uri == NULL || *method == '\0' || *uri != '/') {
        /* libfcgi ends PARAMS at EOF too, so a truncated request arrives
         * without them: refuse it rather than guess "GET /" */
        route = ROUTE_BAD_REQUEST;
        handler_error(h, 400, "bad request");
        fcgi_request_close_after(req);
        goto send;
    }
    router_match(method, uri, strlen(uri), &m);
    route = (int) m.id;

    if (handler_body(h, req) != 0) {
        goto send;
    }
    switch (m.id) {
    case ROUTE_ROOT:
        handler_session_route(h, req, 1);
        break;
    case ROUTE_SESSION:
        handler_session_route(h, req, 0);
        break;
    case ROUTE_HELLO:
        h->status = 200;
        buf_appends(&h->body, "{\"hello\":");
        if (jsonw_string(&h->body, m.name, m.name_len) != 0) {
            handler_error(h, 400, "bad request");
            break;
        }
        buf_appends(&h->body, "}");
        break;
    case ROUTE_HEALTHZ:
        h->status = 200;
        buf_appends(&h->body, "{\"status\":\"ok\"}");
        break;
    case ROUTE_READYZ:
        handler_readyz(h);
        break;
    case ROUTE_METRICS:
        internal = fcgi_request_param(req, "APP_INTERNAL");
        if (internal == NULL || strcmp(internal, "1") != 0) {
            route = ROUTE_NOT_FOUND;
            handler_error(h, 404, "not found");
            break;
        }
        h->status = 200;
        h->ctype = "text/plain; version=0.0.4; charset=utf-8";
        if (metrics_render(&h->body) != 0) {
            handler_error(h, 500, "internal error");
        }
        break;
    case ROUTE_METHOD_NOT_ALLOWED:
        handler_error(h, 405, "method not allowed");
        buf_printf(&h->headers, "Allow: %s\r\n",
                   m.allow ? m.allow : "GET, HEAD");
        break;
    case ROUTE_BAD_REQUEST:
        handler_error(h, 400, "bad request");
        break;
    case ROUTE_NOT_FOUND:
    default:
        handler_error(h, 404, "not found");
        break;
    }
    if (h->body.oom || h->headers.oom) {
        buf_reset(&h->headers);
        handler_error(h, 500, "internal error");
    }

send:
    sent = handler_send(h, req, head);
    handler_store_metrics(h);
    metrics_request(route, h->status, handler_mono_s() - t0);
    log_access(fcgi_request_param(req, "REMOTE_ADDR"), method, uri,
               fcgi_request_param(req, "SERVER_PROTOCOL"), h->status, sent,
               fcgi_request_param(req, "HTTP_REFERER"),
               fcgi_request_param(req, "HTTP_USER_AGENT"));
}
