/* handler.c -- turns one FastCGI request into one HTTP response
 *
 * A request goes: router_match() -> body limit check -> the route -> one
 * response written with Status (when not 200), Content-Type,
 * Content-Length and route-specific headers -> metrics and access log ->
 * done().  Routes without Redis work answer before handler_serve()
 * returns; the session routes and /readyz continue in the store's
 * callbacks, on later loop turns, while the loop serves other requests.
 *
 * Sessions follow express-session + connect-redis: the cookie
 * "s:<id>.<hmac>" (cookie.c) names the Redis key <prefix><id> holding the
 * JSON document (session.c).  A cookie that is missing, garbage, wrongly
 * signed or names an unknown id is never adopted: the request gets a fresh
 * random id (no session fixation).  Flood control: a session is stored
 * with SESSION_FRESH_TTL_S until a visit comes SESSION_PROMOTE_AFTER_S or
 * more after its creation; from then on its TTL is the time until
 * cookie.expires (rolling SESSION_MAX_AGE_S).
 *
 * Budget: a request that needs Redis arms a loop timer for
 * REDIS_TIMEOUT_MS when it starts; whatever the store is doing (waiting
 * to connect, a stalled server, Sentinel), the request is answered 503
 * JSON with Retry-After: 1 when it fires, and its store operation is
 * cancelled.  The warning for those 503s is rate-limited (struct
 * handler_warn): the first is logged at once, the same one again within
 * the second only counted, and the count logged when the second is over,
 * so an outage writes about one line a second per worker, not one per
 * request, and every 503 is accounted for.  With REDIS_WAIT_REPLICAS, a
 * write that replicas did not acknowledge in time still answers normally
 * (it stands on the primary) and is logged the same way.
 */
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
#include "wsclock.h"

/* A request in flight.  Kept on a free list between requests, buffers
 * and all, so a steady load allocates nothing per request here. */
struct hreq {
    struct handler      *h;
    struct hreq         *next_free;
    struct fcgi_request *req;
    handler_done_fn     *done;
    void                *done_arg;
    struct buf           body;
    struct buf           headers;     /* extra header lines */
    struct buf           key;
    struct buf           doc;
    struct session      *session;
    struct store_op     *op;
    struct loop_timer    budget;
    char                 id[SIGN_ID_MAX + 1];
    int64_t              now;         /* wall clock ms at the start */
    double               t0;          /* monotonic s at the start */
    int                  status;
    const char          *ctype;
    const char          *method;
    const char          *uri;
    int                  route;
    int                  head;
    int                  visit;       /* GET / counts a visit */
    int                  fresh;       /* a new session */
};

/* A warning repeated by many requests.  One with a new text (or the
 * first after a quiet second) is logged at once and opens a window of
 * HANDLER_WARN_MS; the same text again within the window is only counted.
 * When the window closes (a timer, so the count is not lost when the
 * warnings stop) a count above 0 is logged as one line, "<text> (N more
 * like it in the last 1 s, not logged)", and a new window opens.  A
 * different text first logs the count so far.  A sustained outage thus
 * writes one line a second, and the lines add up to every occurrence. */
#define HANDLER_WARN_MS 1000

struct handler_warn {
    struct handler    *h;
    const char        *what;        /* "503", "WAIT" */
    int64_t            until;       /* loop ms: end of the open window */
    unsigned long      suppressed;  /* occurrences counted, not logged */
    struct loop_timer  timer;       /* armed while suppressed > 0 */
    char               last[256];   /* the text */
};

struct handler {
    const struct config *cfg;
    struct loop         *loop;
    struct store        *store;
    const char          *secrets[2];
    size_t               nsecrets;
    long                 pid;
    long                 in_flight;
    struct hreq         *free_list;
    unsigned long        seen_errors;
    unsigned long        seen_reconnects;
    unsigned long        seen_wait_short;
    struct handler_warn  warn_503;
    struct handler_warn  warn_wait;
};

static const char HANDLER_JSON[] = "application/json";

static void handler_finish(struct hreq *r);

/* Log the count of w's suppressed occurrences, if any, as one line.
 * Can't fail. */
static void
handler_warn_flush(struct handler_warn *w)
{
    if (w->suppressed > 0) {
        LOG_WARN("handler: %s: %s (%lu more like it in the last %d s, not "
                 "logged)", w->what, w->last, w->suppressed,
                 HANDLER_WARN_MS / 1000);
    }
    w->suppressed = 0;
    loop_timer_stop(w->h->loop, &w->timer);
}

/* The window closed: log its count and open the next one. */
static void
handler_warn_on_timer(struct loop *l, struct loop_timer *t)
{
    struct handler_warn *w = t->data;

    handler_warn_flush(w);
    w->until = loop_now_ms(l) + HANDLER_WARN_MS;
}

/* Set up w, logged as "handler: <what>: ...".  Can't fail. */
static void
handler_warn_init(struct handler_warn *w, struct handler *h,
                  const char *what)
{
    w->h = h;
    w->what = what;
    w->until = 0;
    w->suppressed = 0;
    w->last[0] = '\0';
    loop_timer_init(&w->timer, handler_warn_on_timer, w);
}

/* Log a rate-limited warning: n occurrences of detail (see struct
 * handler_warn).  Can't fail (without memory for the timer, the count is
 * logged by the next warning after the window, or at exit). */
static void
handler_warn(struct handler_warn *w, const char *detail, unsigned long n)
{
    int64_t now = loop_now_ms(w->h->loop);

    if (now < w->until && strncmp(detail, w->last, sizeof(w->last) - 1) == 0)
    {
        w->suppressed += n;
        if (!loop_timer_armed(&w->timer)) {
            (void) loop_timer_at(w->h->loop, &w->timer, w->until);
        }
        return;
    }
    handler_warn_flush(w);
    if (n > 1) {
        LOG_WARN("handler: %s: %s (%lu times)", w->what, detail, n);
    } else {
        LOG_WARN("handler: %s: %s", w->what, detail);
    }
    snprintf(w->last, sizeof(w->last), "%s", detail);
    w->until = now + HANDLER_WARN_MS;
}

struct handler *
handler_create(const struct config *cfg, struct loop *l, char *err,
               size_t errlen)
{
    struct handler      *h;
    struct store_config  sc;

    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->cfg = cfg;
    h->loop = l;
    handler_warn_init(&h->warn_503, h, "503");
    handler_warn_init(&h->warn_wait, h, "WAIT");
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
    h->store = store_create(l, &sc, err, errlen);
    if (h->store == NULL) {
        free(h);
        return NULL;
    }
    h->secrets[h->nsecrets++] = cfg->session_secret;
    if (cfg->session_secret_previous != NULL
        && *cfg->session_secret_previous != '\0')
    {
        h->secrets[h->nsecrets++] = cfg->session_secret_previous;
    }
    h->pid = (long) getpid();
    return h;
}

/* Free one request object. */
static void
handler_hreq_free(struct hreq *r)
{
    buf_free(&r->body);
    buf_free(&r->headers);
    buf_free(&r->key);
    buf_free(&r->doc);
    free(r);
}

void
handler_destroy(struct handler *h)
{
    struct hreq *r;

    if (h == NULL) {
        return;
    }
    /* The last counts: a worker that stops mid-outage loses none. */
    handler_warn_flush(&h->warn_503);
    handler_warn_flush(&h->warn_wait);
    store_destroy(h->store);
    while ((r = h->free_list) != NULL) {
        h->free_list = r->next_free;
        handler_hreq_free(r);
    }
    free(h);
}

long
handler_in_flight(const struct handler *h)
{
    return h->in_flight;
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

/* Empty b for a new request; after an OOM (sticky in buf) start over. */
static void
handler_fresh_buf(struct buf *b)
{
    if (b->oom) {
        buf_free(b);
    }
    buf_reset(b);
}

/* A request object from the free list, or a new one.  NULL on OOM. */
static struct hreq *
handler_hreq_get(struct handler *h)
{
    struct hreq *r = h->free_list;

    if (r != NULL) {
        h->free_list = r->next_free;
    } else {
        r = calloc(1, sizeof(*r));
        if (r == NULL) {
            return NULL;
        }
        buf_init(&r->body);
        buf_init(&r->headers);
        buf_init(&r->key);
        buf_init(&r->doc);
    }
    r->h = h;
    handler_fresh_buf(&r->body);
    handler_fresh_buf(&r->headers);
    handler_fresh_buf(&r->key);
    handler_fresh_buf(&r->doc);
    r->session = NULL;
    r->op = NULL;
    r->status = 500;
    r->ctype = HANDLER_JSON;
    r->visit = r->fresh = 0;
    r->id[0] = '\0';
    return r;
}

/* Set a JSON error response {"error":"<msg>"}. */
static void
handler_error(struct hreq *r, int status, const char *msg)
{
    r->status = status;
    r->ctype = HANDLER_JSON;
    buf_reset(&r->body);
    buf_printf(&r->body, "{\"error\":\"%s\"}", msg);
}

/* Redis is unusable for this request: 503 + Retry-After. */
static void
handler_unavailable(struct hreq *r, const char *err)
{
    handler_warn(&r->h->warn_503, err, 1);
    handler_error(r, 503, "service unavailable");
    buf_reset(&r->headers);
    buf_appends(&r->headers, "Retry-After: 1\r\nCache-Control: no-store\r\n");
}

/* Build r->key = <prefix><id>. */
static void
handler_key(struct hreq *r, const char *id)
{
    buf_reset(&r->key);
    buf_appends(&r->key, r->h->cfg->session_prefix);
    buf_appends(&r->key, id);
}

/* The budget ran out: 503 (the store's operation is cancelled). */
static void
handler_on_budget(struct loop *l, struct loop_timer *t)
{
    struct hreq *r = t->data;
    char         err[96];

    (void) l;
    store_op_cancel(r->op);
    r->op = NULL;
    snprintf(err, sizeof(err), "redis: request time budget (%lld ms) spent",
             r->h->cfg->redis_timeout_ms);
    handler_unavailable(r, err);
    handler_finish(r);
}

/* Start r's Redis budget.  Can't fail (an OOM in the timer heap only
 * leaves the store's own stall detection to bound the request). */
static void
handler_budget_start(struct hreq *r)
{
    loop_timer_init(&r->budget, handler_on_budget, r);
    (void) loop_timer_at(r->h->loop, &r->budget,
                         loop_now_ms(r->h->loop) + r->h->cfg->redis_timeout_ms);
}

/* The session's 200 answer: Set-Cookie and the body. */
static void
handler_session_answer(struct hreq *r)
{
    const struct config *cfg = r->h->cfg;
    struct session      *s = r->session;
    char                 iso[SESSION_ISO_LEN + 8];
    const char          *created;

    r->status = 200;
    r->ctype = HANDLER_JSON;
    buf_appends(&r->headers, "Cache-Control: no-store\r\n");
    if (r->visit || r->fresh) {
        buf_appends(&r->headers, "Set-Cookie: ");
        cookie_format(&r->headers, cfg->session_cookie_name, r->id,
                      r->h->secrets[0], session_expires_ms(s),
                      cfg->session_cookie_secure);
        buf_appends(&r->headers, "\r\n");
    }
    buf_reset(&r->body);
    if (r->visit) {
        buf_appends(&r->body, "{\"status\":\"ok\"}");
        return;
    }
    buf_appends(&r->body, "{\"views\":");
    buf_append_ll(&r->body, (long long) session_views(s));
    buf_appends(&r->body, ",\"createdAt\":");
    created = session_created(s);
    if (created == NULL
        || jsonw_string(&r->body, created, strlen(created)) != 0)
    {
        buf_appends(&r->body, "null");
    }
    buf_appends(&r->body, ",\"expires\":");
    if (session_iso8601(session_expires_ms(s), iso, sizeof(iso)) == 0) {
        jsonw_string(&r->body, iso, strlen(iso));
    } else {
        buf_appends(&r->body, "null");
    }
    buf_appends(&r->body, ",\"worker\":");
    jsonw_string(&r->body, cfg->app_hostname, strlen(cfg->app_hostname));
    buf_appends(&r->body, ",\"pid\":");
    buf_append_ll(&r->body, r->h->pid);
    buf_appends(&r->body, "}");
}

/* SET's outcome. */
static void
handler_on_saved(void *arg, enum store_rc rc, const char *val, size_t len,
                 const char *err)
{
    struct hreq *r = arg;

    (void) val;
    (void) len;
    r->op = NULL;
    if (rc != STORE_OK) {
        handler_unavailable(r, err);
    } else if (r->route == ROUTE_READYZ) {
        r->status = 200;
        buf_appends(&r->body, "{\"status\":\"ok\"}");
    } else {
        handler_session_answer(r);
    }
    handler_finish(r);
}

/* 1 if r->session has earned its long TTL: seen again at least
 * SESSION_PROMOTE_AFTER_S after it was created (a cookie replayed at once,
 * however often, never is; docs/REDIS.md, "Sessions an attacker cannot use
 * to push real users out").  A createdAt we cannot read counts as now. */
static int
handler_session_promoted(const struct hreq *r)
{
    const char *created = session_created(r->session);
    int64_t     created_ms;

    if (session_views(r->session) <= 1) {
        return 0;
    }
    created_ms = created != NULL ? session_parse_iso8601(created) : -1;
    if (created_ms < 0) {
        created_ms = r->now;
    }
    return r->now - created_ms >= r->h->cfg->session_promote_after_s * 1000;
}

/* Store r->session: until promoted it lives SESSION_FRESH_TTL_S (again
 * from each visit), then until cookie.expires. */
static void
handler_session_save(struct hreq *r)
{
    const struct config *cfg = r->h->cfg;
    int64_t              ttl, expires;

    if (!handler_session_promoted(r)) {
        ttl = cfg->session_fresh_ttl_s * 1000;
    } else {
        expires = session_expires_ms(r->session);
        ttl = expires > r->now ? expires - r->now
                               : cfg->session_max_age_s * 1000;
    }
    buf_reset(&r->doc);
    handler_key(r, r->id);
    if (session_dump(r->session, &r->doc) != 0 || r->key.oom) {
        handler_error(r, 500, "internal error");
        handler_finish(r);
        return;
    }
    r->op = store_set(r->h->store, r->key.data, r->key.len, r->doc.data,
                      r->doc.len, ttl, r->budget.when_ms, handler_on_saved, r);
    if (r->op == NULL) {
        handler_error(r, 500, "internal error");
        handler_finish(r);
    }
}

/* The session is loaded or new: count the visit, save, answer. */
static void
handler_session_continue(struct hreq *r)
{
    if (r->session == NULL) {
        if (sign_random_id(r->id, sizeof(r->id)) != 0) {
            LOG_ERROR("handler: no randomness for a session id");
            handler_error(r, 500, "internal error");
            handler_finish(r);
            return;
        }
        r->session = session_new(r->now, r->h->cfg->session_max_age_s * 1000);
        if (r->session == NULL) {
            handler_error(r, 500, "internal error");
            handler_finish(r);
            return;
        }
        r->fresh = 1;
    }
    if (r->visit && session_touch(r->session, r->now) != 0) {
        handler_error(r, 500, "internal error");
        handler_finish(r);
        return;
    }
    if (r->visit || r->fresh) {
        handler_session_save(r);
        return;
    }
    handler_session_answer(r);
    handler_finish(r);
}

/* GET's outcome: the stored session, none, or Redis trouble. */
static void
handler_on_loaded(void *arg, enum store_rc rc, const char *val, size_t len,
                  const char *err)
{
    struct hreq *r = arg;
    char         why[256];

    r->op = NULL;
    if (rc == STORE_ERR) {
        handler_unavailable(r, err);
        handler_finish(r);
        return;
    }
    if (rc == STORE_OK) {
        r->session = session_parse(val, len, why, sizeof(why));
        if (r->session == NULL) {
            LOG_WARN("handler: stored session unusable, starting a fresh "
                     "one: %s", why);
        }
    }
    handler_session_continue(r);
}

/* GET / (visit = 1) and GET /session (visit = 0): load the session named
 * by a valid cookie, or make a fresh one. */
static void
handler_session_route(struct hreq *r, int visit)
{
    const char *cookie;

    r->visit = visit;
    r->now = wsclock_wall_ms();       /* cookie and session dates */
    handler_budget_start(r);
    cookie = fcgi_request_param(r->req, "HTTP_COOKIE");
    if (cookie != NULL
        && cookie_session_id(cookie, strlen(cookie),
                             r->h->cfg->session_cookie_name, r->h->secrets,
                             r->h->nsecrets, r->id, sizeof(r->id)) == 0
        && sign_id_valid(r->id, strlen(r->id)))
    {
        handler_key(r, r->id);
        r->op = store_get(r->h->store, r->key.data, r->key.len,
                          handler_on_loaded, r);
        if (r->op == NULL) {
            handler_error(r, 500, "internal error");
            handler_finish(r);
        }
        return;
    }
    handler_session_continue(r);
}

/* GET /readyz: the primary takes a write within the budget. */
static void
handler_readyz(struct hreq *r)
{
    handler_budget_start(r);
    buf_reset(&r->key);
    buf_printf(&r->key, "%sreadyz:%s", r->h->cfg->session_prefix,
               r->h->cfg->app_hostname);
    if (r->key.oom) {
        handler_error(r, 500, "internal error");
        handler_finish(r);
        return;
    }
    r->op = store_set(r->h->store, r->key.data, r->key.len, "1", 1, 10000,
                      r->budget.when_ms, handler_on_saved, r);
    if (r->op == NULL) {
        handler_error(r, 500, "internal error");
        handler_finish(r);
    }
}
/* Check CONTENT_LENGTH against the limit and drop the body.  0 to go on,
 * -1 when a 400/413 response was set. */
static int
handler_body(struct hreq *r)
{
    const char *cl = fcgi_request_param(r->req, "CONTENT_LENGTH");
    long long   n = 0;
    const char *p;

    if (cl == NULL) {
        cl = "";
    }
    for (p = cl; *p; p++) {
        if (*p < '0' || *p > '9' || n > (1LL << 50)) {
            handler_error(r, 400, "bad request");
            fcgi_request_close_after(r->req);
            return -1;
        }
        n = n * 10 + (*p - '0');
    }
    if (n > r->h->cfg->app_body_limit) {
        handler_error(r, 413, "payload too large");
        fcgi_request_close_after(r->req);   /* the body stays unread */
        return -1;
    }
    /* always: the body (or just its end record) must not stay behind on
     * a kept connection */
    if (fcgi_request_discard_body(r->req, (long) n) < 0) {
        fcgi_request_close_after(r->req);
    }
    return 0;
}

/* Write status line, headers and (unless HEAD) the body, built in
 * r->doc (free by now; kept between requests, so no allocation). */
static size_t
handler_send(struct hreq *r)
{
    struct buf *out = &r->doc;
    size_t      sent = 0;

    handler_fresh_buf(out);
    if (r->status != 200) {
        buf_appends(out, "Status: ");
        buf_append_ll(out, r->status);
        buf_appends(out, " ");
        buf_appends(out, handler_reason(r->status));
        buf_appends(out, "\r\n");
    }
    buf_appends(out, "Content-Type: ");
    buf_appends(out, r->ctype);
    buf_appends(out, "\r\nContent-Length: ");
    buf_append_ll(out, (long long) r->body.len);
    buf_appends(out, "\r\n");
    buf_append(out, r->headers.data ? r->headers.data : "", r->headers.len);
    buf_appends(out, "\r\n");
    if (!r->head) {
        buf_append(out, r->body.data ? r->body.data : "", r->body.len);
        sent = r->body.len;
    }
    if (out->oom) {
        static const char oom[] = "Status: 500 Internal Server Error\r\n"
            "Content-Type: application/json\r\n"
            "Content-Length: 26\r\n\r\n{\"error\":\"internal error\"}";

        r->status = 500;
        fcgi_request_write(r->req, oom, sizeof(oom) - 1);
        return 26;
    }
    fcgi_request_write(r->req, out->data, out->len);
    return sent;
}

/* Fold the store's error/reconnect counters into the shared metrics, and
 * warn (rate-limited) when writes went without the replica
 * acknowledgements REDIS_WAIT_REPLICAS asks for. */
static void
handler_store_metrics(struct handler *h)
{
    unsigned long e = store_errors(h->store);
    unsigned long c = store_reconnects(h->store);
    unsigned long w = store_wait_short(h->store);
    char          detail[160];

    if (w > h->seen_wait_short) {
        /* The same text for every such write (no running counts in it),
         * so that repeats are recognised and counted. */
        snprintf(detail, sizeof(detail), "write not acknowledged by %lld "
                 "replica(s) within %lld ms; it stands on the primary only",
                 h->cfg->redis_wait_replicas, h->cfg->redis_wait_timeout_ms);
        handler_warn(&h->warn_wait, detail, w - h->seen_wait_short);
        h->seen_wait_short = w;
    }
    for (; h->seen_errors < e; h->seen_errors++) {
        metrics_redis_error();
    }
    for (; h->seen_reconnects < c; h->seen_reconnects++) {
        metrics_redis_reconnect();
    }
}

/* Write the response, count and log it, hand the request back.  Can't
 * fail. */
static void
handler_finish(struct hreq *r)
{
    struct handler  *h = r->h;
    handler_done_fn *done = r->done;
    void            *arg = r->done_arg;
    size_t           sent;

    loop_timer_stop(h->loop, &r->budget);
    store_op_cancel(r->op);
    r->op = NULL;
    if (r->body.oom || r->headers.oom) {
        buf_reset(&r->headers);
        handler_error(r, 500, "internal error");
    }
    sent = handler_send(r);
    handler_store_metrics(h);
    metrics_request(r->route, r->status, wsclock_mono_s() - r->t0);
    log_access(fcgi_request_param(r->req, "REMOTE_ADDR"), r->method, r->uri,
               fcgi_request_param(r->req, "SERVER_PROTOCOL"), r->status,
               sent, fcgi_request_param(r->req, "HTTP_REFERER"),
               fcgi_request_param(r->req, "HTTP_USER_AGENT"));
    session_destroy(r->session);
    r->session = NULL;
    r->req = NULL;
    r->next_free = h->free_list;
    h->free_list = r;
    h->in_flight--;
    metrics_busy_add(-1);
    done(arg);
}

/* The routes that need no Redis.  Returns 1 if it answered. */
static int
handler_plain_route(struct hreq *r, const struct route_match *m)
{
    const char *internal;

    switch (m->id) {
    case ROUTE_HELLO:
        r->status = 200;
        buf_appends(&r->body, "{\"hello\":");
        if (jsonw_string(&r->body, m->name, m->name_len) != 0) {
            handler_error(r, 400, "bad request");
            break;
        }
        buf_appends(&r->body, "}");
        break;
    case ROUTE_HEALTHZ:
        r->status = 200;
        buf_appends(&r->body, "{\"status\":\"ok\"}");
        break;
    case ROUTE_METRICS:
        internal = fcgi_request_param(r->req, "APP_INTERNAL");
        if (internal == NULL || strcmp(internal, "1") != 0) {
            r->route = ROUTE_NOT_FOUND;
            handler_error(r, 404, "not found");
            break;
        }
        r->status = 200;
        r->ctype = "text/plain; version=0.0.4; charset=utf-8";
        if (metrics_render(&r->body) != 0) {
            handler_error(r, 500, "internal error");
        }
        break;
    case ROUTE_METHOD_NOT_ALLOWED:
        handler_error(r, 405, "method not allowed");
        buf_printf(&r->headers, "Allow: %s\r\n",
                   m->allow ? m->allow : "GET, HEAD");
        break;
    case ROUTE_BAD_REQUEST:
        handler_error(r, 400, "bad request");
        break;
    default:
        handler_error(r, 404, "not found");
        break;
    }
    handler_finish(r);
    return 1;
}

void
handler_serve(struct handler *h, struct fcgi_request *req,
              handler_done_fn *done, void *arg)
{
    static const char   oom[] = "Status: 500 Internal Server Error\r\n"
                                "Content-Type: application/json\r\n"
                                "Content-Length: 26\r\n\r\n"
                                "{\"error\":\"internal error\"}";
    struct route_match  m;
    struct hreq        *r;

    r = handler_hreq_get(h);
    if (r == NULL) {
        fcgi_request_write(req, oom, sizeof(oom) - 1);
        fcgi_request_close_after(req);
        done(arg);
        return;
    }
    r->req = req;
    r->done = done;
    r->done_arg = arg;
    r->t0 = wsclock_mono_s();
    loop_timer_init(&r->budget, handler_on_budget, r);
    h->in_flight++;
    metrics_busy_add(1);
    r->method = fcgi_request_param(req, "REQUEST_METHOD");
    r->uri = fcgi_request_param(req, "REQUEST_URI");
    /* a HEAD answer has no body, even the 400 below */
    r->head = r->method != NULL && strcmp(r->method, "HEAD") == 0;
    if (r->method == NULL || r->uri == NULL || *r->method == '\0'
        || *r->uri != '/')
    {
        /* libfcgi ends PARAMS at EOF too, so a truncated request arrives
         * without them: refuse it rather than guess "GET /" */
        r->route = ROUTE_BAD_REQUEST;
        handler_error(r, 400, "bad request");
        fcgi_request_close_after(req);
        handler_finish(r);
        return;
    }
    router_match(r->method, r->uri, strlen(r->uri), &m);
    r->route = (int) m.id;
    if (handler_body(r) != 0) {
        handler_finish(r);
        return;
    }
    switch (m.id) {
    case ROUTE_ROOT:
        handler_session_route(r, 1);
        break;
    case ROUTE_SESSION:
        handler_session_route(r, 0);
        break;
    case ROUTE_READYZ:
        handler_readyz(r);
        break;
    default:
        handler_plain_route(r, &m);
        break;
    }
}
