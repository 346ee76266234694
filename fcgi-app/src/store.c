/* store.c -- the session store: one Redis connection per thread
 *
 * The only file that includes hiredis (0.14.1, blocking API).  Rules it
 * follows (hiredis README, "Using replies" and "Errors"): a NULL reply or
 * c->err means the context is unusable, so it is freed and the next
 * command reconnects; every connection gets redisConnectWithTimeout() and
 * then redisSetTimeout() again, because the connect timeout does not bound
 * later reads.  The timeout before each command is what is left of the
 * request's budget (store_begin), so connect + AUTH + SELECT + GET + SET
 * together never exceed REDIS_TIMEOUT_MS.  After a failure the store waits
 * (100 ms doubling to 1 s) before trying again and fails fast meanwhile,
 * so a dead Redis is not hammered by every request.  SIGPIPE must be
 * ignored by the process (main.c does it): a write to a closed connection
 * then returns EPIPE and is handled like any other error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "store.h"

#define STORE_BACKOFF_MIN_MS 100
#define STORE_BACKOFF_MAX_MS 1000

struct store {
    struct store_config  cfg;
    redisContext        *c;
    int64_t              deadline_ms;    /* monotonic; end of the budget */
    int64_t              retry_at_ms;    /* no connect before this */
    int                  backoff_ms;
    int                  failed;         /* last attempt failed */
    unsigned long        errors;
    unsigned long        reconnects;
    int                  connected_once;
};

/* Monotonic clock in ms.  Can't fail. */
static int64_t
store_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ms as a timeval, at least 1 ms (0 would mean "no timeout"). */
static struct timeval
store_tv(int64_t ms)
{
    struct timeval tv;

    if (ms < 1) {
        ms = 1;
    }
    tv.tv_sec = (time_t) (ms / 1000);
    tv.tv_usec = (suseconds_t) ((ms % 1000) * 1000);
    return tv;
}

/* Where the Redis primary is.  Today the configured host and port; the
 * one place a later Sentinel lookup (SENTINEL get-master-addr-by-name)
 * plugs in.  Returns 0, or -1 with err filled. */
static int
store_resolve(struct store *s, const char **host, int *port, char *err,
              size_t errlen)
{
    (void) err;
    (void) errlen;
    *host = s->cfg.host;
    *port = s->cfg.port;
    return 0;
}

struct store *
store_create(const struct store_config *cfg)
{
    struct store *s;

    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->cfg = *cfg;
    s->backoff_ms = STORE_BACKOFF_MIN_MS;
    return s;
}

void
store_destroy(struct store *s)
{
    if (s == NULL) {
        return;
    }
    if (s->c != NULL) {
        redisFree(s->c);
    }
    free(s);
}

void
store_begin(struct store *s)
{
    s->deadline_ms = store_now_ms() + s->cfg.timeout_ms;
}

unsigned long
store_errors(const struct store *s)
{
    return s->errors;
}

unsigned long
store_reconnects(const struct store *s)
{
    return s->reconnects;
}

/* The context is dead or the server refused us: drop it and back off. */
static void
store_fail(struct store *s)
{
    if (s->c != NULL) {
        redisFree(s->c);
        s->c = NULL;
    }
    s->errors++;
    s->failed = 1;
    s->retry_at_ms = store_now_ms() + s->backoff_ms;
    s->backoff_ms *= 2;
    if (s->backoff_ms > STORE_BACKOFF_MAX_MS) {
        s->backoff_ms = STORE_BACKOFF_MAX_MS;
    }
}

/* Milliseconds left in the budget, or -1 with err filled if none. */
static int64_t
store_left(struct store *s, char *err, size_t errlen)
{
    int64_t left = s->deadline_ms - store_now_ms();

    if (left <= 0) {
        snprintf(err, errlen, "redis: request time budget (%d ms) spent",
                 s->cfg.timeout_ms);
        return -1;
    }
    return left;
}

/* Send argv on s->c within the budget.  Returns the reply (caller frees)
 * or NULL with err filled; a NULL return has already called store_fail()
 * when the context died. */
static redisReply *
store_raw(struct store *s, int argc, const char **argv, const size_t *lens,
          char *err, size_t errlen)
{
    redisReply *r;
    int64_t     left;

    left = store_left(s, err, errlen);
    if (left < 0) {
        return NULL;
    }
    if (redisSetTimeout(s->c, store_tv(left)) != REDIS_OK) {
        snprintf(err, errlen, "redis: setting timeout failed: %s",
                 s->c->errstr);
        store_fail(s);
        return NULL;
    }
    r = redisCommandArgv(s->c, argc, argv, lens);
    if (r == NULL || s->c->err) {
        snprintf(err, errlen, "redis: %s: %s", argv[0],
                 s->c->errstr[0] ? s->c->errstr : "no reply");
        if (r != NULL) {
            freeReplyObject(r);
        }
        store_fail(s);
        return NULL;
    }
    return r;
}

/* Run a handshake command that must answer +OK.  0 or -1 (store_fail). */
static int
store_handshake(struct store *s, int argc, const char **argv, char *err,
                size_t errlen)
{
    redisReply *r;
    size_t      lens[3];
    int         i;

    for (i = 0; i < argc; i++) {
        lens[i] = strlen(argv[i]);
    }
    r = store_raw(s, argc, argv, lens, err, errlen);
    if (r == NULL) {
        if (s->c != NULL) {   /* budget spent before sending */
            store_fail(s);
        }
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "redis: %s failed: %.*s", argv[0],
                 (int) r->len, r->str);
        freeReplyObject(r);
        store_fail(s);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

/* Make sure s->c is a live, authenticated connection.  0, or -1 with err
 * filled (in backoff, connect failed, AUTH or SELECT refused). */
static int
store_connect(struct store *s, char *err, size_t errlen)
{
    const char *argv[3];
    const char *host;
    char        db[16];
    int         port;
    int64_t     left, now;

    if (s->c != NULL) {
        return 0;
    }
    now = store_now_ms();
    if (s->failed && now < s->retry_at_ms) {
        snprintf(err, errlen, "redis: down, next try in %lld ms",
                 (long long) (s->retry_at_ms - now));
        return -1;
    }
    left = store_left(s, err, errlen);
    if (left < 0) {
        return -1;
    }
    if (left > s->cfg.connect_timeout_ms) {
        left = s->cfg.connect_timeout_ms;
    }
    if (store_resolve(s, &host, &port, err, errlen) != 0) {
        store_fail(s);
        return -1;
    }
    s->c = redisConnectWithTimeout(host, port, store_tv(left));
    if (s->c == NULL || s->c->err) {
        snprintf(err, errlen, "redis: connect(%s:%d): %s", host, port,
                 s->c ? s->c->errstr : "out of memory");
        store_fail(s);
        return -1;
    }
    if (s->cfg.password != NULL && *s->cfg.password != '\0') {
        argv[0] = "AUTH";
        if (s->cfg.username != NULL && *s->cfg.username != '\0') {
            argv[1] = s->cfg.username;
            argv[2] = s->cfg.password;
            if (store_handshake(s, 3, argv, err, errlen) != 0) {
                return -1;
            }
        } else {
            argv[1] = s->cfg.password;
            if (store_handshake(s, 2, argv, err, errlen) != 0) {
                return -1;
            }
        }
    }
    if (s->cfg.db != 0) {
        snprintf(db, sizeof(db), "%d", s->cfg.db);
        argv[0] = "SELECT";
        argv[1] = db;
        if (store_handshake(s, 2, argv, err, errlen) != 0) {
            return -1;
        }
    }
    if (s->failed && s->connected_once) {
        s->reconnects++;
    }
    s->failed = 0;
    s->connected_once = 1;
    s->backoff_ms = STORE_BACKOFF_MIN_MS;
    return 0;
}

int
store_get(struct store *s, const char *key, size_t keylen, struct buf *out,
          char *err, size_t errlen)
{
    const char  *argv[2] = { "GET", key };
    size_t       lens[2] = { 3, keylen };
    redisReply  *r;
    int          rc;

    buf_reset(out);
    if (store_connect(s, err, errlen) != 0) {
        return STORE_ERR;
    }
    r = store_raw(s, 2, argv, lens, err, errlen);
    if (r == NULL) {
        return STORE_ERR;
    }
    switch (r->type) {
    case REDIS_REPLY_NIL:
        rc = STORE_MISSING;
        break;
    case REDIS_REPLY_STRING:
        rc = buf_append(out, r->str, r->len) == 0 ? STORE_OK : STORE_ERR;
        if (rc != STORE_OK) {
            snprintf(err, errlen, "redis: GET: out of memory");
        }
        break;
    case REDIS_REPLY_ERROR:
        snprintf(err, errlen, "redis: GET: %.*s", (int) r->len, r->str);
        s->errors++;
        rc = STORE_ERR;
        break;
    default:
        snprintf(err, errlen, "redis: GET: unexpected reply type %d",
                 r->type);
        s->errors++;
        rc = STORE_ERR;
        break;
    }
    freeReplyObject(r);
    return rc;
}

int
store_set(struct store *s, const char *key, size_t keylen, const char *val,
          size_t len, int64_t ttl_ms, char *err, size_t errlen)
{
    const char  *argv[5];
    size_t       lens[5];
    char         ttl[32];
    redisReply  *r;
    int          rc = STORE_OK;

    if (ttl_ms < 1) {
        ttl_ms = 1;
    }
    snprintf(ttl, sizeof(ttl), "%lld", (long long) ttl_ms);
    argv[0] = "SET";  lens[0] = 3;
    argv[1] = key;    lens[1] = keylen;
    argv[2] = val;    lens[2] = len;
    argv[3] = "PX";   lens[3] = 2;
    argv[4] = ttl;    lens[4] = strlen(ttl);
    if (store_connect(s, err, errlen) != 0) {
        return STORE_ERR;
    }
    r = store_raw(s, 5, argv, lens, err, errlen);
    if (r == NULL) {
        return STORE_ERR;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "redis: SET: %.*s", (int) r->len, r->str);
        s->errors++;
        rc = STORE_ERR;
    }
    freeReplyObject(r);
    return rc;
}
