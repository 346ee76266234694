/* store.c -- the session store: one Redis connection per thread
 *
 * The only file that includes hiredis (0.14.1, blocking API), Sentinel
 * included.  Rules it follows (hiredis README, "Using replies" and
 * "Errors"): a NULL reply or c->err means the context is unusable, so it is
 * freed and the next command reconnects; every connection gets
 * redisConnectWithTimeout() and then redisSetTimeout() again, because the
 * connect timeout does not bound later reads.  The timeout before each
 * command is what is left of the request's budget (store_begin), so
 * (Sentinel lookup +) connect + AUTH + ROLE + SELECT + GET + SET + WAIT
 * together never exceed REDIS_TIMEOUT_MS.  After a failure the store waits
 * (100 ms doubling to 1 s) before trying again and fails fast meanwhile,
 * so a dead Redis is not hammered by every request.  SIGPIPE must be
 * ignored by the process (main.c does it): a write to a closed connection
 * then returns EPIPE and is handled like any other error.
 *
 * With sentinels configured, every connect first finds the primary as
 * docs/REDIS.md ("The app's contract with Sentinel") and the Sentinel
 * client guidelines (redis.io/docs/reference/sentinel-clients/) say: ask
 * the sentinels in turn, starting with the one that answered last,
 * `SENTINEL get-master-addr-by-name <name>`; connect there and confirm
 * with ROLE that the node is a master.  The address is never cached across
 * errors: any connection error, and a READONLY, LOADING or MASTERDOWN
 * reply (a demoted or not yet usable node), drops the connection, so the
 * next attempt (after the backoff) asks Sentinel again.  Host names are
 * resolved by getaddrinfo() inside hiredis, which the budget cannot bound.
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
/* The socket timeout is set again only when it is this far from what is
 * left of the budget, which saves two setsockopt() calls per command on a
 * healthy Redis; a command may then overrun the budget by this much. */
#define STORE_TIMEOUT_SLACK_MS 5

struct store {
    struct store_config  cfg;
    redisContext        *c;
    int64_t              c_timeout_ms;   /* set on c; 0: none yet */
    int                  c_fresh;        /* c connected in this request:
                                          * never retried (store_raw) */
    struct store_addr    sentinels[STORE_SENTINELS_MAX];
    size_t               nsentinels;     /* 0: fixed cfg.host/port */
    size_t               next_sentinel;  /* asked first next time */
    struct store_addr    primary;        /* Sentinel's last answer */
    unsigned long        wait_short;
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

struct store *
store_create(const struct store_config *cfg)
{
    struct store *s;
    char          err[128];
    int           n;

    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->cfg = *cfg;
    s->backoff_ms = STORE_BACKOFF_MIN_MS;
    if (cfg->sentinels != NULL && *cfg->sentinels != '\0') {
        n = store_parse_addrs(cfg->sentinels, s->sentinels,
                              STORE_SENTINELS_MAX, err, sizeof(err));
        if (n < 0) {
            free(s);
            return NULL;
        }
        s->nsentinels = (size_t) n;
    }
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
    s->c_fresh = 0;
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

unsigned long
store_wait_short(const struct store *s)
{
    return s->wait_short;
}

static int store_connect(struct store *s, char *err, size_t errlen);

/* Free the connection, if any.  Can't fail. */
static void
store_drop(struct store *s)
{
    if (s->c != NULL) {
        redisFree(s->c);
        s->c = NULL;
    }
    s->c_timeout_ms = 0;
}

/* 1 if c died because the peer closed it or reset it (EOF, ECONNRESET,
 * EPIPE) rather than by a timeout or a protocol error, else 0.  Only such
 * a connection, found dead at its first use in a request, is retried:
 * the server never saw the command.  Can't fail. */
static int
store_conn_lost(const redisContext *c)
{
    if (c->err == REDIS_ERR_EOF) {
        return 1;
    }
    return c->err == REDIS_ERR_IO && (strstr(c->errstr, "reset") != NULL
                                      || strstr(c->errstr, "pipe") != NULL);
}

/* The context is dead or the server refused us: drop it and back off. */
static void
store_fail(struct store *s)
{
    store_drop(s);
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

/* Send argv on c with what is left of the budget as its timeout.
 * Returns the reply (caller frees), or NULL with err filled: with c->err
 * set when c is dead, with c->err clear when the budget was spent before
 * anything was sent.  Does not touch s->c. */
static redisReply *
store_call(struct store *s, redisContext *c, int argc, const char **argv,
           const size_t *lens, char *err, size_t errlen)
{
    redisReply *r;
    int64_t     left;

    left = store_left(s, err, errlen);
    if (left < 0) {
        return NULL;
    }
    if (c != s->c || left > s->c_timeout_ms + STORE_TIMEOUT_SLACK_MS
        || left < s->c_timeout_ms - STORE_TIMEOUT_SLACK_MS)
    {
        if (redisSetTimeout(c, store_tv(left)) != REDIS_OK) {
            snprintf(err, errlen, "redis: setting timeout failed: %s",
                     c->errstr);
            if (c->err == 0) {
                c->err = REDIS_ERR_OTHER;   /* so callers see it dead */
            }
            return NULL;
        }
        if (c == s->c) {
            s->c_timeout_ms = left;
        }
    }
    r = redisCommandArgv(c, argc, argv, lens);
    if (r == NULL || c->err) {
        snprintf(err, errlen, "redis: %s: %s", argv[0],
                 c->errstr[0] ? c->errstr : "no reply");
        if (r != NULL) {
            freeReplyObject(r);
        }
        if (c->err == 0) {
            c->err = REDIS_ERR_OTHER;
        }
        return NULL;
    }
    return r;
}

/* Send argv on s->c within the budget.  Returns the reply (caller frees)
 * or NULL with err filled; a NULL return has already called store_fail()
 * when the context died. */
static redisReply *
store_raw(struct store *s, int argc, const char **argv, const size_t *lens,
          char *err, size_t errlen)
{
    redisReply *r;

    r = store_call(s, s->c, argc, argv, lens, err, errlen);
    if (r != NULL || s->c->err == 0) {
        return r;
    }
    if (!s->c_fresh && store_conn_lost(s->c)) {
        /* The connection died while idle (Redis restarted, or a proxy
         * closed it): send argv once more on a new connection, within the
         * same budget, instead of failing this request.  Safe even if the
         * server did run it: the store only sends GET, a SET of the whole
         * value with its TTL, and WAIT, all idempotent. */
        store_drop(s);
        s->errors++;
        s->failed = 1;
        s->retry_at_ms = 0;
        if (store_connect(s, err, errlen) != 0) {
            return NULL;
        }
        r = store_call(s, s->c, argc, argv, lens, err, errlen);
        if (r != NULL || s->c->err == 0) {
            return r;
        }
    }
    store_fail(s);
    return r;
}

/* 1 if r is an error reply that means this node cannot serve us as the
 * primary (demoted: READONLY; still loading its data: LOADING; a replica
 * cut off from its primary: MASTERDOWN), else 0.  The connection must then
 * be dropped and the primary found again, like after a connection error.
 * Can't fail. */
static int
store_reply_fatal(const redisReply *r)
{
    static const char *codes[] = { "READONLY", "LOADING", "MASTERDOWN" };
    size_t             i, n;

    if (r->type != REDIS_REPLY_ERROR) {
        return 0;
    }
    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        n = strlen(codes[i]);
        if ((size_t) r->len >= n && memcmp(r->str, codes[i], n) == 0
            && ((size_t) r->len == n || r->str[n] == ' '))
        {
            return 1;
        }
    }
    return 0;
}

/* Parse a whole decimal port 1..65535 from (p, len).  Returns it, or -1.
 * Can't fail otherwise. */
static int
store_parse_port(const char *p, size_t len)
{
    long   v = 0;
    size_t i;

    if (len == 0 || len > 5) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }
        v = v * 10 + (p[i] - '0');
    }
    return v >= 1 && v <= 65535 ? (int) v : -1;
}

/* Parse one "host:port" or "[v6]:port" token (p, len) into a.  Returns 0,
 * or -1 with err filled. */
static int
store_parse_addr(const char *p, size_t len, struct store_addr *a, char *err,
                 size_t errlen)
{
    const char *colon, *host;
    size_t      hostlen;
    int         shown = len > 64 ? 64 : (int) len;   /* echoed in err */

    colon = NULL;
    for (hostlen = len; hostlen > 0; hostlen--) {
        if (p[hostlen - 1] == ':') {
            colon = p + hostlen - 1;
            break;
        }
    }
    if (colon == NULL) {
        snprintf(err, errlen, "\"%.*s\": not host:port", shown, p);
        return -1;
    }
    a->port = store_parse_port(colon + 1, (size_t) (p + len - colon - 1));
    if (a->port < 0) {
        snprintf(err, errlen, "\"%.*s\": port not a number in 1..65535",
                 shown, p);
        return -1;
    }
    host = p;
    hostlen = (size_t) (colon - p);
    if (hostlen >= 2 && host[0] == '[' && host[hostlen - 1] == ']') {
        host++;
        hostlen -= 2;
    } else if (memchr(host, ':', hostlen) != NULL
               || memchr(host, '[', hostlen) != NULL
               || memchr(host, ']', hostlen) != NULL)
    {
        snprintf(err, errlen, "\"%.*s\": write an IPv6 address as "
                 "[addr]:port", shown, p);
        return -1;
    }
    if (hostlen == 0 || hostlen >= sizeof(a->host)) {
        snprintf(err, errlen, "host empty or longer than %d in \"%.*s\"",
                 STORE_HOST_MAX - 1, shown, p);
        return -1;
    }
    memcpy(a->host, host, hostlen);
    a->host[hostlen] = '\0';
    return 0;
}

int
store_parse_addrs(const char *list, struct store_addr *out, size_t max,
                  char *err, size_t errlen)
{
    const char *p = list, *start;
    size_t      n = 0;

    for (;;) {
        while (*p == ' ' || *p == ',' || *p == '\t') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        start = p;
        while (*p != '\0' && *p != ' ' && *p != ',' && *p != '\t') {
            p++;
        }
        if (n == max) {
            snprintf(err, errlen, "more than %zu addresses", max);
            return -1;
        }
        if (store_parse_addr(start, (size_t) (p - start), &out[n], err,
                             errlen) != 0)
        {
            return -1;
        }
        n++;
    }
    if (n == 0) {
        snprintf(err, errlen, "no host:port in the list");
        return -1;
    }
    return (int) n;
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

/* Fill argv with AUTH [user] password.  Returns argc: 0 when password is
 * unset (no AUTH), else 2 or 3.  Can't fail. */
static int
store_auth_argv(const char *user, const char *password, const char **argv)
{
    if (password == NULL || *password == '\0') {
        return 0;
    }
    argv[0] = "AUTH";
    if (user != NULL && *user != '\0') {
        argv[1] = user;
        argv[2] = password;
        return 3;
    }
    argv[1] = password;
    return 2;
}

/* Ask the sentinel sa where the primary is, within the budget; store the
 * answer in s->primary.  Returns 0, or -1 with err filled (unreachable,
 * refused AUTH, does not know the master, malformed answer). */
static int
store_ask_sentinel(struct store *s, const struct store_addr *sa, char *err,
                   size_t errlen)
{
    const char   *argv[3];
    size_t        lens[3];
    const char   *user, *pass;
    redisContext *c = NULL;
    redisReply   *r = NULL;
    int64_t       left;
    int           argc, i;

    left = store_left(s, err, errlen);
    if (left < 0) {
        goto error;
    }
    if (left > s->cfg.connect_timeout_ms) {
        left = s->cfg.connect_timeout_ms;
    }
    c = redisConnectWithTimeout(sa->host, sa->port, store_tv(left));
    if (c == NULL || c->err) {
        snprintf(err, errlen, "redis: sentinel connect(%s:%d): %s", sa->host,
                 sa->port, c ? c->errstr : "out of memory");
        goto error;
    }
    user = s->cfg.sentinel_username;
    if (user == NULL || *user == '\0') {
        user = s->cfg.username;
    }
    pass = s->cfg.sentinel_password;
    if (pass == NULL || *pass == '\0') {
        pass = s->cfg.password;
    }
    argc = store_auth_argv(user, pass, argv);
    if (argc > 0) {
        for (i = 0; i < argc; i++) {
            lens[i] = strlen(argv[i]);
        }
        r = store_call(s, c, argc, argv, lens, err, errlen);
        if (r == NULL) {
            goto error;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "redis: sentinel %s:%d: AUTH failed: %.*s",
                     sa->host, sa->port, (int) r->len, r->str);
            goto error;
        }
        freeReplyObject(r);
        r = NULL;
    }
    argv[0] = "SENTINEL";
    argv[1] = "get-master-addr-by-name";
    argv[2] = s->cfg.master_name;
    for (i = 0; i < 3; i++) {
        lens[i] = strlen(argv[i]);
    }
    r = store_call(s, c, 3, argv, lens, err, errlen);
    if (r == NULL) {
        goto error;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "redis: sentinel %s:%d: %.*s", sa->host,
                 sa->port, (int) r->len, r->str);
        goto error;
    }
    if (r->type == REDIS_REPLY_NIL) {
        snprintf(err, errlen, "redis: sentinel %s:%d does not know master "
                 "\"%s\"", sa->host, sa->port, s->cfg.master_name);
        goto error;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
        || r->element[0]->type != REDIS_REPLY_STRING
        || r->element[1]->type != REDIS_REPLY_STRING
        || r->element[0]->len < 1 || r->element[0]->len >= STORE_HOST_MAX
        || memchr(r->element[0]->str, '\0', r->element[0]->len) != NULL)
    {
        snprintf(err, errlen, "redis: sentinel %s:%d: unexpected answer to "
                 "get-master-addr-by-name", sa->host, sa->port);
        goto error;
    }
    s->primary.port = store_parse_port(r->element[1]->str,
                                       r->element[1]->len);
    if (s->primary.port < 0) {
        snprintf(err, errlen, "redis: sentinel %s:%d: bad port \"%.*s\"",
                 sa->host, sa->port, (int) r->element[1]->len,
                 r->element[1]->str);
        goto error;
    }
    memcpy(s->primary.host, r->element[0]->str, r->element[0]->len);
    s->primary.host[r->element[0]->len] = '\0';
    freeReplyObject(r);
    redisFree(c);
    return 0;

error:
    if (r != NULL) {
        freeReplyObject(r);
    }
    if (c != NULL) {
        redisFree(c);
    }
    return -1;
}

/* Where the Redis primary is: the configured host and port, or what the
 * first sentinel that answers says (asked in turn, starting with the one
 * that answered last time).  Returns 0, or -1 with err filled (no
 * sentinel answered within the budget). */
static int
store_resolve(struct store *s, const char **host, int *port, char *err,
              size_t errlen)
{
    char    last[192] = "";
    size_t  i, k;

    if (s->nsentinels == 0) {
        *host = s->cfg.host;
        *port = s->cfg.port;
        return 0;
    }
    for (i = 0; i < s->nsentinels; i++) {
        k = (s->next_sentinel + i) % s->nsentinels;
        if (store_ask_sentinel(s, &s->sentinels[k], last, sizeof(last))
            == 0)
        {
            s->next_sentinel = k;
            *host = s->primary.host;
            *port = s->primary.port;
            return 0;
        }
        if (s->deadline_ms - store_now_ms() <= 0) {
            i++;
            break;
        }
    }
    /* Next time start with the sentinel after the one we started with. */
    s->next_sentinel = (s->next_sentinel + 1) % s->nsentinels;
    snprintf(err, errlen, "redis: no primary for \"%s\" from %zu of %zu "
             "sentinels asked; last: %s", s->cfg.master_name, i,
             s->nsentinels, last);
    return -1;
}

/* With Sentinel: confirm that s->c (host:port) is a master (ROLE).  A
 * stale answer during a failover names a replica: then drop it, so the
 * next attempt asks the next sentinel.  0, or -1 (store_fail done). */
static int
store_check_role(struct store *s, const char *host, int port, char *err,
                 size_t errlen)
{
    const char *argv[1] = { "ROLE" };
    size_t      lens[1] = { 4 };
    redisReply *r;
    int         ok;

    r = store_raw(s, 1, argv, lens, err, errlen);
    if (r == NULL) {
        if (s->c != NULL) {   /* budget spent before sending */
            store_fail(s);
        }
        return -1;
    }
    ok = r->type == REDIS_REPLY_ARRAY && r->elements >= 1
         && r->element[0]->type == REDIS_REPLY_STRING;
    if (!ok) {
        snprintf(err, errlen, "redis: %s:%d: unexpected ROLE reply%s%.*s",
                 host, port, r->type == REDIS_REPLY_ERROR ? ": " : "",
                 r->type == REDIS_REPLY_ERROR ? (int) r->len : 0,
                 r->type == REDIS_REPLY_ERROR ? r->str : "");
    } else if (strcmp(r->element[0]->str, "master") != 0) {
        snprintf(err, errlen, "redis: %s:%d named by Sentinel is not the "
                 "primary (ROLE %.*s)", host, port,
                 (int) r->element[0]->len, r->element[0]->str);
        ok = 0;
    }
    freeReplyObject(r);
    if (!ok) {
        store_fail(s);
        s->next_sentinel = (s->next_sentinel + 1) % s->nsentinels;
        return -1;
    }
    return 0;
}

/* Make sure s->c is a live, authenticated connection to the primary.  0,
 * or -1 with err filled (in backoff, no sentinel answered, connect failed,
 * AUTH or SELECT refused, not a master). */
static int
store_connect(struct store *s, char *err, size_t errlen)
{
    const char *argv[3];
    const char *host;
    char        db[16];
    int         port, argc;
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
    if (store_left(s, err, errlen) < 0) {
        return -1;
    }
    if (store_resolve(s, &host, &port, err, errlen) != 0) {
        store_fail(s);
        return -1;
    }
    left = store_left(s, err, errlen);
    if (left < 0) {
        store_fail(s);
        return -1;
    }
    if (left > s->cfg.connect_timeout_ms) {
        left = s->cfg.connect_timeout_ms;
    }
    s->c = redisConnectWithTimeout(host, port, store_tv(left));
    if (s->c == NULL || s->c->err) {
        snprintf(err, errlen, "redis: connect(%s:%d): %s", host, port,
                 s->c ? s->c->errstr : "out of memory");
        store_fail(s);
        return -1;
    }
    s->c_fresh = 1;     /* from here on a lost connection is not retried */
    argc = store_auth_argv(s->cfg.username, s->cfg.password, argv);
    if (argc > 0 && store_handshake(s, argc, argv, err, errlen) != 0) {
        return -1;
    }
    if (s->nsentinels > 0
        && store_check_role(s, host, port, err, errlen) != 0)
    {
        return -1;
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

/* An error reply r to command name: fill err, count it, and if it means
 * the node is not (or no longer) a usable primary, drop the connection so
 * the next attempt finds the primary again.  Can't fail. */
static void
store_reply_error(struct store *s, const char *name, const redisReply *r,
                  char *err, size_t errlen)
{
    snprintf(err, errlen, "redis: %s: %.*s", name, (int) r->len, r->str);
    if (store_reply_fatal(r)) {
        store_fail(s);      /* counts the error too */
    } else {
        s->errors++;
    }
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
        store_reply_error(s, "GET", r, err, errlen);
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

/* After a successful SET: WAIT for cfg.wait_replicas replicas, for at
 * most cfg.wait_timeout_ms and never past the budget (minus
 * STORE_WAIT_SLACK_MS for a late reply; WAIT 0 would block forever, so it
 * is never sent).  Fewer
 * acknowledgements, or no time left to wait, count in s->wait_short and
 * are still STORE_OK: the write stands on the primary either way.
 * STORE_ERR (err filled) only when the connection failed or WAIT was
 * refused. */
static int
store_wait(struct store *s, char *err, size_t errlen)
{
    const char *argv[3];
    size_t      lens[3];
    char        nrep[16], ms[32];
    redisReply *r;
    int64_t     wait_ms;
    int         rc = STORE_OK;

    wait_ms = s->deadline_ms - store_now_ms() - STORE_WAIT_SLACK_MS;
    if (wait_ms > s->cfg.wait_timeout_ms) {
        wait_ms = s->cfg.wait_timeout_ms;
    }
    if (wait_ms < 1) {
        s->wait_short++;
        return STORE_OK;
    }
    snprintf(nrep, sizeof(nrep), "%d", s->cfg.wait_replicas);
    snprintf(ms, sizeof(ms), "%lld", (long long) wait_ms);
    argv[0] = "WAIT";  lens[0] = 4;
    argv[1] = nrep;    lens[1] = strlen(nrep);
    argv[2] = ms;      lens[2] = strlen(ms);
    r = store_raw(s, 3, argv, lens, err, errlen);
    if (r == NULL) {
        return STORE_ERR;
    }
    if (r->type == REDIS_REPLY_INTEGER) {
        if (r->integer < s->cfg.wait_replicas) {
            s->wait_short++;
        }
    } else if (r->type == REDIS_REPLY_ERROR) {
        store_reply_error(s, "WAIT", r, err, errlen);
        rc = STORE_ERR;
    } else {
        snprintf(err, errlen, "redis: WAIT: unexpected reply type %d",
                 r->type);
        s->errors++;
        rc = STORE_ERR;
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
        store_reply_error(s, "SET", r, err, errlen);
        rc = STORE_ERR;
    }
    freeReplyObject(r);
    if (rc == STORE_OK && s->cfg.wait_replicas > 0) {
        rc = store_wait(s, err, errlen);
    }
    return rc;
}
