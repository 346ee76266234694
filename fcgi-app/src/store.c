/* store.c -- the session store: one pipelined Redis connection per process
 *
 * hiredis 0.14.1's async API (async.h) on the worker's loop through
 * redis_ev.c.  Every request's commands go on the one connection as they
 * come; redis_ev.c writes a loop turn's worth with one write(2), and
 * hiredis hands the replies back in order.  Rules:
 *
 * - States: DOWN (no connection), CONNECTING (an attempt: Sentinel's
 *   answer when configured, the name lookup, connect, then AUTH, ROLE
 *   with Sentinel, SELECT when REDIS_DB != 0, PING, pipelined; READY when
 *   PING answers), READY.  Operations queued while not READY wait in
 *   `waiting` and go out, in order, the moment the store is READY.  An
 *   attempt starts only when an operation waits (lazy), and at most one
 *   runs at a time.  Each step up to the TCP connect is bounded by
 *   REDIS_CONNECT_TIMEOUT_MS (each sentinel, the lookup, the connect), the
 *   handshake's replies by REDIS_TIMEOUT_MS.
 * - A failed attempt fails every waiting operation at once (the callers
 *   answer 503) and the next attempt waits 10 ms, doubling up to 100 ms.
 *   There is one such backoff per process (one connection, one loop):
 *   operations queued during it wait for the next attempt (their own
 *   budget bounds them), so once Redis is back the next request succeeds.
 * - A connection the server closed (EOF, reset: hiredis's REDIS_ERR_EOF
 *   and REDIS_ERR_IO, never the text of an error) after its handshake
 *   puts the operations it had in flight back in `waiting`, once each,
 *   and reconnects without backoff: the idle connection a Redis restart
 *   killed costs no request.  GET, a SET of a whole value with its TTL
 *   and WAIT are idempotent, so a command the server did run is safe to
 *   send again.  A connection that dies during its handshake is a failed
 *   attempt (a server closing at AUTH is never retried in a loop).
 * - A reply READONLY, LOADING or MASTERDOWN means the node is not a usable
 *   primary (demoted in a failover, loading, cut off): that operation
 *   fails, the connection is dropped, the others in flight go back to
 *   `waiting` once, and the next attempt asks Sentinel again.
 * - Stall: when the oldest operation in flight has had no reply for
 *   REDIS_TIMEOUT_MS + 100 ms (every caller has given up on it by then),
 *   the connection is dropped and its operations fail; the next one
 *   reconnects.  So a SIGSTOPped Redis costs each request its budget, and
 *   after SIGCONT the first attempt succeeds, with no queue of stale
 *   commands to work through first.
 * - Callers cancel operations they stop waiting for; a cancelled
 *   operation stays allocated until hiredis is done with it (its reply, or
 *   the connection's end) and then is freed without a callback.
 * - Host names are looked up by resolve.c (never blocking the loop) and
 *   hiredis connects to the number.  SIGPIPE is ignored by the process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "redis_ev.h"
#include "resolve.h"
#include "sentinel.h"
#include "store.h"

#define STORE_RETRY_MIN_MS  10
#define STORE_RETRY_MAX_MS  100
#define STORE_STALL_SLACK_MS 100
#define STORE_HS_MAX        4       /* AUTH, ROLE, SELECT, PING */

enum store_state { STORE_DOWN, STORE_CONNECTING, STORE_READY };
enum store_hs { HS_AUTH, HS_ROLE, HS_SELECT, HS_PING };
enum store_kind { OP_GET, OP_SET };

struct store_op {
    struct store_op *prev, *next;   /* in waiting or inflight */
    struct store    *store;
    store_done_fn   *fn;            /* NULL: cancelled */
    void            *arg;
    char            *cmd;           /* formatted GET / SET */
    int              cmdlen;
    int              kind;
    int              queued;        /* 0 none, 1 waiting, 2 inflight */
    int              pending;       /* replies still due on the link */
    int              retried;
    int              lost;          /* the link died under it */
    int              failed;        /* an error reply; err filled */
    int              wait_batched;  /* SET sent, its turn's WAIT not yet */
    struct store_op *wnext;         /* in the store's wait batch */
    int64_t          deadline_ms;
    int64_t          sent_ms;
    char             err[256];
};

struct store_list {
    struct store_op *head, *tail;
};

struct store {
    struct loop          *loop;
    struct store_config   cfg;
    int                   use_sentinel;
    struct sentinel       sentinel;
    struct resolve        res;
    struct redis_ev       ev;           /* ev.ac: the live context */
    int                   state;
    int                   closing;      /* in our own redisAsyncFree() */
    const redisAsyncContext *drop_ac;   /* the context we dropped */
    int                   drop_retry;   /* dropped by us: retry its ops */
    char                  host[ADDR_HOST_MAX];
    int                   port;
    int                   hs[STORE_HS_MAX];
    int                   nhs, hs_done;
    struct loop_timer     attempt;      /* start / step deadline */
    struct loop_timer     stall;
    struct loop_timer     fail_timer;   /* fails `waiting` after a failed
                                         * attempt, outside callbacks */
    int64_t               retry_at_ms;
    int                   backoff_ms;
    int                   had_failure;
    int                   connected_once;
    char                  fail_err[320];
    struct store_list     waiting;
    struct store_list     inflight;
    struct store_op      *wait_head;    /* SETs of this turn, for one WAIT */
    struct store_op      *wait_tail;
    unsigned long         errors;
    unsigned long         reconnects;
    unsigned long         wait_short;
};

static int store_send(struct store *s, struct store_op *op);
static void store_schedule(struct store *s);

/* List helpers.  Can't fail. */
static void
store_list_push(struct store_list *l, struct store_op *op, int front)
{
    op->prev = op->next = NULL;
    if (l->head == NULL) {
        l->head = l->tail = op;
    } else if (front) {
        op->next = l->head;
        l->head->prev = op;
        l->head = op;
    } else {
        op->prev = l->tail;
        l->tail->next = op;
        l->tail = op;
    }
}

static void
store_list_remove(struct store_list *l, struct store_op *op)
{
    if (op->prev != NULL) {
        op->prev->next = op->next;
    } else {
        l->head = op->next;
    }
    if (op->next != NULL) {
        op->next->prev = op->prev;
    } else {
        l->tail = op->prev;
    }
    op->prev = op->next = NULL;
}

/* Take op off whatever list holds it. */
static void
store_unqueue(struct store_op *op)
{
    if (op->queued == 1) {
        store_list_remove(&op->store->waiting, op);
    } else if (op->queued == 2) {
        store_list_remove(&op->store->inflight, op);
    }
    op->queued = 0;
}

static void
store_op_free(struct store_op *op)
{
    free(op->cmd);
    free(op);
}

/* Tell op's caller the outcome (once: op counts as cancelled after).
 * Can't fail. */
static void
store_notify(struct store_op *op, enum store_rc rc, const char *val,
             size_t len, const char *err)
{
    store_done_fn *fn = op->fn;

    op->fn = NULL;
    if (rc == STORE_ERR) {
        op->store->errors++;
    }
    if (fn != NULL) {
        fn(op->arg, rc, val, len, err);
    }
}

/* Finish op: its callback (unless cancelled), then free it.  Can't
 * fail. */
static void
store_complete(struct store_op *op, enum store_rc rc, const char *val,
               size_t len, const char *err)
{
    store_unqueue(op);
    store_notify(op, rc, val, len, err);
    store_op_free(op);
}

/* Drop the connection ourselves.  retry: its operations in flight go back
 * to `waiting` (once each); else they fail with why.  Safe inside a
 * hiredis callback (hiredis then frees after it returns). */
static void
store_drop(struct store *s, int retry, const char *why)
{
    redisAsyncContext *ac = s->ev.ac;

    snprintf(s->fail_err, sizeof(s->fail_err), "%s", why);
    s->state = STORE_DOWN;
    loop_timer_stop(s->loop, &s->stall);
    loop_timer_stop(s->loop, &s->attempt);
    if (ac == NULL) {
        return;
    }
    s->drop_ac = ac;
    s->drop_retry = retry;
    s->closing = 1;
    redisAsyncFree(ac);
    s->closing = 0;
}

/* 1 if r is an error reply meaning this node cannot serve as the primary
 * (demoted: READONLY; loading: LOADING; cut off: MASTERDOWN). */
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

/* Take op out of the turn's wait batch (its WAIT will not be sent). */
static void
store_wait_unbatch(struct store *s, struct store_op *op)
{
    struct store_op **pp, *prev = NULL;

    for (pp = &s->wait_head; *pp != NULL; prev = *pp, pp = &(*pp)->wnext) {
        if (*pp == op) {
            *pp = op->wnext;
            if (s->wait_tail == op) {
                s->wait_tail = prev;
            }
            break;
        }
    }
    op->wnext = NULL;
    op->wait_batched = 0;
    op->pending--;
}

/* The link under op died (r == NULL): once all its replies are accounted
 * for, send it again or fail it. */
static void
store_op_lost(struct store *s, struct store_op *op, const redisAsyncContext *ac)
{
    int server_closed;

    op->lost = 1;
    if (op->wait_batched) {
        store_wait_unbatch(s, op);
    }
    if (op->pending > 0) {
        return;
    }
    server_closed = ac == s->drop_ac ? s->drop_retry
                                     : ac->err == REDIS_ERR_EOF
                                       || ac->err == REDIS_ERR_IO;
    if (server_closed && !op->retried && op->fn != NULL) {
        store_unqueue(op);
        op->retried = 1;
        op->lost = 0;
        op->failed = 0;
        store_list_push(&s->waiting, op, 0);
        op->queued = 1;
        return;
    }
    store_complete(op, STORE_ERR, NULL, 0,
                   ac == s->drop_ac ? s->fail_err
                   : ac->errstr[0] ? ac->errstr : "redis: connection lost");
}

static void store_settle(struct store *s, struct store_op *op,
                         const redisReply *r);

/* A reply (or NULL: the link died) for op. */
static void
store_on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct store_op  *op = privdata;
    struct store     *s = op->store;
    const redisReply *r = reply;
    op->pending--;
    if (r == NULL) {
        store_op_lost(s, op, ac);
        return;
    }
    if (op->lost) {
        store_op_lost(s, op, ac);
        return;
    }
    if (r->type == REDIS_REPLY_ERROR && !op->failed) {
        op->failed = 1;
        snprintf(op->err, sizeof(op->err), "redis: %s: %.*s",
                 op->kind == OP_GET ? "GET" : op->pending ? "SET" : "WAIT",
                 (int) r->len, r->str);
        if (store_reply_fatal(r)) {
            /* answer this one first: the drop below retries the rest */
            if (op->pending == 0) {
                store_complete(op, STORE_ERR, NULL, 0, op->err);
            } else {
                store_notify(op, STORE_ERR, NULL, 0, op->err);
            }
            store_drop(s, 1, "redis: node is not a usable primary");
            return;
        }
    }
    if (op->pending > 0) {
        return;
    }
    store_settle(s, op, r);
}

/* op has all its replies (r: the last one, GET's value): complete it. */
static void
store_settle(struct store *s, struct store_op *op, const redisReply *r)
{
    if (op->failed) {
        store_complete(op, STORE_ERR, NULL, 0, op->err);
    } else if (op->kind == OP_GET && r == NULL) {
        store_complete(op, STORE_ERR, NULL, 0, "redis: GET: no reply");
    } else if (op->kind == OP_GET && r->type == REDIS_REPLY_NIL) {
        store_complete(op, STORE_MISSING, NULL, 0, NULL);
    } else if (op->kind == OP_GET && r->type == REDIS_REPLY_STRING) {
        store_complete(op, STORE_OK, r->str, r->len, NULL);
    } else if (op->kind == OP_GET) {
        snprintf(op->err, sizeof(op->err), "redis: GET: unexpected reply "
                 "type %d", r->type);
        store_complete(op, STORE_ERR, NULL, 0, op->err);
    } else {
        store_complete(op, STORE_OK, NULL, 0, NULL);
    }
    /* the stall clock follows the oldest operation in flight */
    if (s->inflight.head == NULL) {
        loop_timer_stop(s->loop, &s->stall);
    }
}

/* The stall timer: the oldest operation in flight has waited too long. */
static void
store_on_stall(struct loop *l, struct loop_timer *t)
{
    struct store *s = t->data;
    int64_t       limit = s->cfg.timeout_ms + STORE_STALL_SLACK_MS;
    char          why[128];

    if (s->inflight.head == NULL || s->state != STORE_READY) {
        return;
    }
    if (loop_now_ms(l) - s->inflight.head->sent_ms < limit) {
        (void) loop_timer_at(l, t, s->inflight.head->sent_ms + limit);
        return;
    }
    snprintf(why, sizeof(why), "redis: no reply for %lld ms, reconnecting",
             (long long) limit);
    store_drop(s, 0, why);
}

/* Put op on the wire (READY).  0, or -1 when hiredis refused it (the
 * context is going away); op is then unqueued and untouched. */
static int
store_send(struct store *s, struct store_op *op)
{
    redisAsyncContext *ac = s->ev.ac;

    op->sent_ms = loop_now_ms(s->loop);
    op->pending = 1;
    if (redisAsyncFormattedCommand(ac, store_on_reply, op, op->cmd,
                                   (size_t) op->cmdlen) != REDIS_OK)
    {
        return -1;
    }
    if (op->kind == OP_SET && s->cfg.wait_replicas > 0) {
        /* one WAIT after the turn's last SET covers them all (WAIT waits
         * for every earlier write of the connection) */
        op->pending++;
        op->wait_batched = 1;
        op->wnext = NULL;
        if (s->wait_tail != NULL) {
            s->wait_tail->wnext = op;
        } else {
            s->wait_head = op;
        }
        s->wait_tail = op;
    }
    store_list_push(&s->inflight, op, 0);
    op->queued = 2;
    if (!loop_timer_armed(&s->stall)) {
        (void) loop_timer_at(s->loop, &s->stall, op->sent_ms
                             + s->cfg.timeout_ms + STORE_STALL_SLACK_MS);
    }
    return 0;
}

/* 1 if commands can go on the wire now. */
static int
store_writable(const struct store *s)
{
    return s->state == STORE_READY && s->ev.ac != NULL
           && !(s->ev.ac->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING));
}

/* An attempt failed with why: every waiting operation fails (from a
 * timer, never inside a hiredis callback), and the next attempt waits. */
static void
store_attempt_failed(struct store *s, const char *why)
{
    int64_t now = loop_now_ms(s->loop);

    if (s->state != STORE_CONNECTING) {
        return;
    }
    s->errors++;
    s->had_failure = 1;
    if (s->ev.ac != NULL) {
        store_drop(s, 0, why);
    }
    s->state = STORE_DOWN;
    snprintf(s->fail_err, sizeof(s->fail_err), "%s", why);
    loop_timer_stop(s->loop, &s->attempt);
    s->retry_at_ms = now + s->backoff_ms;
    s->backoff_ms = s->backoff_ms * 2 > STORE_RETRY_MAX_MS
                    ? STORE_RETRY_MAX_MS : s->backoff_ms * 2;
    (void) loop_timer_at(s->loop, &s->fail_timer, now);
}

/* fail_timer: fail the operations that waited for the failed attempt. */
static void
store_on_fail_timer(struct loop *l, struct loop_timer *t)
{
    struct store      *s = t->data;
    struct store_op   *op, *next;
    struct store_list  failed = s->waiting;
    char               why[sizeof(s->fail_err)];

    (void) l;
    if (s->state != STORE_DOWN) {
        return;
    }
    memcpy(why, s->fail_err, sizeof(why));
    /* operations their callbacks queue meanwhile wait for the next try */
    s->waiting.head = s->waiting.tail = NULL;
    for (op = failed.head; op != NULL; op = next) {
        next = op->next;
        op->prev = op->next = NULL;
        op->queued = 0;
        store_complete(op, STORE_ERR, NULL, 0, why);
    }
}

/* The handshake is answered: READY, and everything waiting goes out. */
static void
store_ready(struct store *s)
{
    struct store_op *op;

    loop_timer_stop(s->loop, &s->attempt);
    s->state = STORE_READY;
    if (s->had_failure && s->connected_once) {
        s->reconnects++;
    }
    s->had_failure = 0;
    s->connected_once = 1;
    s->backoff_ms = STORE_RETRY_MIN_MS;
    while (store_writable(s) && (op = s->waiting.head) != NULL) {
        store_unqueue(op);
        if (store_send(s, op) != 0) {
            store_list_push(&s->waiting, op, 1);
            op->queued = 1;
            break;
        }
    }
}

/* A handshake reply.  privdata is the store; s->hs says which. */
static void
store_on_handshake(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct store     *s = privdata;
    const redisReply *r = reply;
    static const char *names[] = { "AUTH", "ROLE", "SELECT", "PING" };
    const char       *name;
    char              why[320];

    if (s->closing || s->state != STORE_CONNECTING || s->hs_done >= s->nhs)
    {
        return;
    }
    name = names[s->hs[s->hs_done++]];
    if (r == NULL) {
        snprintf(why, sizeof(why), "redis: connect(%s:%d): %s", s->host,
                 s->port, ac->errstr[0] ? ac->errstr : "connection lost");
        store_attempt_failed(s, why);
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(why, sizeof(why), "redis: %s:%d: %s failed: %.*s", s->host,
                 s->port, name, (int) r->len, r->str);
        store_attempt_failed(s, why);
        return;
    }
    if (s->hs[s->hs_done - 1] == HS_ROLE
        && (r->type != REDIS_REPLY_ARRAY || r->elements < 1
            || r->element[0]->type != REDIS_REPLY_STRING
            || strcmp(r->element[0]->str, "master") != 0))
    {
        snprintf(why, sizeof(why), "redis: %s:%d named by Sentinel is not "
                 "the primary (ROLE %.*s)", s->host, s->port,
                 r->type == REDIS_REPLY_ARRAY && r->elements >= 1
                 && r->element[0]->type == REDIS_REPLY_STRING
                 ? (int) r->element[0]->len : 1,
                 r->type == REDIS_REPLY_ARRAY && r->elements >= 1
                 && r->element[0]->type == REDIS_REPLY_STRING
                 ? r->element[0]->str : "?");
        sentinel_skip(&s->sentinel);
        store_attempt_failed(s, why);
        return;
    }
    if (s->hs_done == s->nhs) {
        store_ready(s);
    }
}

/* The TCP connect completed: the handshake's replies get what a
 * request's commands get, REDIS_TIMEOUT_MS (a server busy for a moment is
 * not a failed connect). */
static void
store_on_connect(const redisAsyncContext *ac, int status)
{
    struct store *s = ac->data;

    if (status == REDIS_OK && s->state == STORE_CONNECTING) {
        (void) loop_timer_at(s->loop, &s->attempt,
                             loop_now_ms(s->loop) + s->cfg.timeout_ms);
    }
}

/* The live connection ended (hiredis's onDisconnect: only for a context
 * that had connected).  Operations were handled by their callbacks. */
static void
store_on_disconnect(const redisAsyncContext *ac, int status)
{
    struct store *s = ac->data;

    (void) status;
    s->had_failure = 1;          /* the next READY is a reconnect */
    if (s->state == STORE_CONNECTING) {
        store_attempt_failed(s, ac->errstr[0] ? ac->errstr
                                              : "redis: connection lost");
        return;
    }
    s->state = STORE_DOWN;
    loop_timer_stop(s->loop, &s->stall);
    store_schedule(s);         /* retried operations wait */
}

/* Pipeline the handshake: AUTH, ROLE (Sentinel), SELECT, PING. */
static void
store_handshake(struct store *s, redisAsyncContext *ac)
{
    const char *argv[3];
    char        db[16];
    int         argc = 0;

    s->nhs = s->hs_done = 0;
    if (s->cfg.password != NULL && *s->cfg.password != '\0') {
        argv[argc++] = "AUTH";
        if (s->cfg.username != NULL && *s->cfg.username != '\0') {
            argv[argc++] = s->cfg.username;
        }
        argv[argc++] = s->cfg.password;
        (void) redisAsyncCommandArgv(ac, store_on_handshake, s, argc, argv,
                                     NULL);
        s->hs[s->nhs++] = HS_AUTH;
    }
    if (s->use_sentinel) {
        (void) redisAsyncCommand(ac, store_on_handshake, s, "ROLE");
        s->hs[s->nhs++] = HS_ROLE;
    }
    if (s->cfg.db != 0) {
        snprintf(db, sizeof(db), "%d", s->cfg.db);
        (void) redisAsyncCommand(ac, store_on_handshake, s, "SELECT %s", db);
        s->hs[s->nhs++] = HS_SELECT;
    }
    (void) redisAsyncCommand(ac, store_on_handshake, s, "PING");
    s->hs[s->nhs++] = HS_PING;
}

/* The primary's address is a number: connect and pipeline the
 * handshake, within REDIS_CONNECT_TIMEOUT_MS. */
static void
store_on_resolved(void *arg, int rc, const char *ip, const char *err)
{
    struct store      *s = arg;
    redisAsyncContext *ac;
    char               why[320];

    if (rc != 0) {
        snprintf(why, sizeof(why), "redis: %s", err);
        store_attempt_failed(s, why);
        return;
    }
    (void) loop_timer_at(s->loop, &s->attempt,
                         loop_now_ms(s->loop) + s->cfg.connect_timeout_ms);
    s->drop_ac = NULL;
    ac = redisAsyncConnect(ip, s->port);
    if (ac == NULL || ac->err || redis_ev_attach(&s->ev, s->loop, ac) != 0) {
        snprintf(why, sizeof(why), "redis: connect(%s:%d): %s", s->host,
                 s->port, ac ? ac->errstr : "out of memory");
        if (ac != NULL) {
            redisAsyncFree(ac);
        }
        store_attempt_failed(s, why);
        return;
    }
    ac->data = s;
    (void) redisAsyncSetConnectCallback(ac, store_on_connect);
    (void) redisAsyncSetDisconnectCallback(ac, store_on_disconnect);
    store_handshake(s, ac);
}

/* Connect to host:port (Sentinel's answer or the fixed address). */
static void
store_connect_to(struct store *s, const char *host, int port)
{
    char err[320];

    snprintf(s->host, sizeof(s->host), "%s", host);
    s->port = port;
    (void) loop_timer_at(s->loop, &s->attempt,
                         loop_now_ms(s->loop) + s->cfg.connect_timeout_ms);
    if (resolve_start(&s->res, s->host, s->cfg.connect_timeout_ms,
                      store_on_resolved, s, err, sizeof(err)) != 0)
    {
        store_attempt_failed(s, err);
    }
}

/* Sentinel answered (or not). */
static void
store_on_sentinel(void *arg, int rc, const char *host, int port,
                  const char *err)
{
    struct store *s = arg;

    if (rc != 0) {
        store_attempt_failed(s, err);
        return;
    }
    store_connect_to(s, host, port);
}

/* The attempt timer: start an attempt, or a step ran out of time. */
static void
store_on_attempt(struct loop *l, struct loop_timer *t)
{
    struct store *s = t->data;
    char          why[320];

    (void) l;
    if (s->state == STORE_CONNECTING) {
        if (s->host[0] == '\0') {
            snprintf(why, sizeof(why), "redis: Sentinel named no primary "
                     "in time");
            sentinel_cancel(&s->sentinel);
        } else {
            snprintf(why, sizeof(why), "redis: connect(%s:%d): no answer "
                     "within %d ms", s->host, s->port,
                     s->cfg.connect_timeout_ms);
        }
        resolve_cancel(&s->res);
        store_attempt_failed(s, why);
        return;
    }
    if (s->state != STORE_DOWN || s->waiting.head == NULL) {
        return;
    }
    if (s->ev.ac != NULL) {
        /* the last context is still being freed: next turn */
        (void) loop_timer_at(l, t, loop_now_ms(l) + 1);
        return;
    }
    s->host[0] = '\0';
    s->state = STORE_CONNECTING;
    if (s->use_sentinel) {
        (void) loop_timer_at(l, t, loop_now_ms(l)
                             + (int64_t) s->cfg.connect_timeout_ms
                               * (int64_t) (s->sentinel.n + 1));
        sentinel_ask(&s->sentinel, store_on_sentinel, s);
        return;
    }
    store_connect_to(s, s->cfg.host, s->cfg.port);
}

/* Operations wait and nothing connects: start an attempt when the
 * backoff allows (always from the timer, never inside a callback). */
static void
store_schedule(struct store *s)
{
    int64_t at;

    if (s->state != STORE_DOWN || s->waiting.head == NULL
        || loop_timer_armed(&s->attempt))
    {
        return;
    }
    at = s->retry_at_ms > loop_now_ms(s->loop) ? s->retry_at_ms
                                               : loop_now_ms(s->loop);
    (void) loop_timer_at(s->loop, &s->attempt, at);
}

/* Format argv as a RESP array of bulk strings (the Redis protocol spec,
 * "Sending commands to a Redis server") into a new buffer: *cmd and its
 * length, or -1 on OOM.  hiredis's redisFormatCommandArgv() does the same
 * with a sprintf per argument; this runs for every request. */
static int
store_format(char **cmd, int argc, const char **argv, const size_t *lens)
{
    char   num[24], *p, *q;
    size_t total = 1 + 20 + 2, n;
    int    i;

    for (i = 0; i < argc; i++) {
        total += 1 + 20 + 2 + lens[i] + 2;
    }
    p = *cmd = malloc(total);
    if (p == NULL || total > INT32_MAX) {
        free(p);
        *cmd = NULL;
        return -1;
    }
    for (i = -1; i < argc; i++) {
        n = i < 0 ? (size_t) argc : lens[i];
        q = num + sizeof(num);
        do {
            *--q = (char) ('0' + n % 10);
            n /= 10;
        } while (n != 0);
        *p++ = i < 0 ? '*' : '$';
        memcpy(p, q, (size_t) (num + sizeof(num) - q));
        p += num + sizeof(num) - q;
        *p++ = '\r';
        *p++ = '\n';
        if (i >= 0) {
            memcpy(p, argv[i], lens[i]);
            p += lens[i];
            *p++ = '\r';
            *p++ = '\n';
        }
    }
    return (int) (p - *cmd);
}

/* Queue a formatted command as an operation. */
static struct store_op *
store_queue(struct store *s, int kind, char *cmd, int cmdlen,
            int64_t deadline_ms, store_done_fn *fn, void *arg)
{
    struct store_op *op;

    if (cmdlen < 0) {
        return NULL;
    }
    op = calloc(1, sizeof(*op));
    if (op == NULL) {
        free(cmd);
        return NULL;
    }
    op->store = s;
    op->kind = kind;
    op->cmd = cmd;
    op->cmdlen = cmdlen;
    op->fn = fn;
    op->arg = arg;
    op->deadline_ms = deadline_ms;
    if (store_writable(s) && s->waiting.head == NULL
        && store_send(s, op) == 0)
    {
        return op;
    }
    store_list_push(&s->waiting, op, 0);
    op->queued = 1;
    store_schedule(s);
    return op;
}

struct store_op *
store_get(struct store *s, const char *key, size_t keylen,
          store_done_fn *fn, void *arg)
{
    const char *argv[2] = { "GET", key };
    size_t      lens[2] = { 3, keylen };
    char       *cmd = NULL;
    int         n;

    n = store_format(&cmd, 2, argv, lens);
    return store_queue(s, OP_GET, cmd, n, 0, fn, arg);
}

struct store_op *
store_set(struct store *s, const char *key, size_t keylen, const char *val,
          size_t len, int64_t ttl_ms, int64_t deadline_ms,
          store_done_fn *fn, void *arg)
{
    const char *argv[5];
    size_t      lens[5];
    char        ttl[32], *cmd = NULL;
    int         n;

    n = snprintf(ttl, sizeof(ttl), "%lld",
                 (long long) (ttl_ms < 1 ? 1 : ttl_ms));
    argv[0] = "SET";  lens[0] = 3;
    argv[1] = key;    lens[1] = keylen;
    argv[2] = val;    lens[2] = len;
    argv[3] = "PX";   lens[3] = 2;
    argv[4] = ttl;    lens[4] = (size_t) n;
    n = store_format(&cmd, 5, argv, lens);
    return store_queue(s, OP_SET, cmd, n, deadline_ms, fn, arg);
}

void
store_op_cancel(struct store_op *op)
{
    if (op == NULL) {
        return;
    }
    op->fn = NULL;
    if (op->queued == 1) {           /* never sent: nobody else holds it */
        store_unqueue(op);
        store_op_free(op);
    }
}

/* The operations one WAIT covers. */
struct store_wait {
    size_t           n;
    struct store_op *ops[];
};

/* The turn's WAIT answered (or NULL: the link died). */
static void
store_on_wait(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct store_wait *g = privdata;
    const redisReply  *r = reply;
    struct store_op   *op;
    size_t             i;

    for (i = 0; i < g->n; i++) {
        op = g->ops[i];
        op->pending--;
        if (r == NULL || op->lost) {
            store_op_lost(op->store, op, ac);
            continue;
        }
        if (r->type == REDIS_REPLY_ERROR && !op->failed) {
            op->failed = 1;
            snprintf(op->err, sizeof(op->err), "redis: WAIT: %.*s",
                     (int) r->len, r->str);
        } else if (r->type != REDIS_REPLY_INTEGER
                   || r->integer < op->store->cfg.wait_replicas)
        {
            op->store->wait_short++;
        }
        if (op->pending == 0) {
            store_settle(op->store, op, r);
        }
    }
    free(g);
}

/* Send one WAIT for the SETs this turn sent, with the longest timeout
 * all their deadlines allow (minus STORE_WAIT_SLACK_MS for a late reply;
 * WAIT 0 would block forever, so it is never sent).  Without time left,
 * or memory, they complete as written-but-unacknowledged. */
static void
store_send_wait(struct store *s)
{
    struct store_wait *g;
    struct store_op   *op;
    int64_t            wait_ms = s->cfg.wait_timeout_ms, left;
    size_t             n = 0;

    for (op = s->wait_head; op != NULL; op = op->wnext) {
        left = op->deadline_ms - loop_now_ms(s->loop) - STORE_WAIT_SLACK_MS;
        if (left < wait_ms) {
            wait_ms = left;
        }
        n++;
    }
    /* g->ops is an array of pointers */
    g = wait_ms >= 1 && store_writable(s)
        ? malloc(sizeof(*g) + n * sizeof(g->ops[0])) /* NOLINT */ : NULL;
    if (g != NULL) {
        g->n = 0;
        for (op = s->wait_head; op != NULL; op = op->wnext) {
            g->ops[g->n++] = op;
        }
        if (redisAsyncCommand(s->ev.ac, store_on_wait, g, "WAIT %d %lld",
                              s->cfg.wait_replicas, (long long) wait_ms)
            != REDIS_OK)
        {
            free(g);
            g = NULL;
        }
    }
    while ((op = s->wait_head) != NULL) {
        s->wait_head = op->wnext;
        op->wnext = NULL;
        op->wait_batched = 0;
        if (g == NULL) {
            s->wait_short++;         /* no time (or memory) left to wait */
            if (--op->pending == 0) {
                store_settle(s, op, NULL);
            }
        }
    }
    s->wait_tail = NULL;
}

/* Before the loop sleeps: the turn's WAIT, then everything this turn
 * queued goes out with one write. */
static void
store_flush(struct loop *l, void *arg)
{
    struct store *s = arg;

    (void) l;
    if (s->wait_head != NULL) {
        store_send_wait(s);
    }
    redis_ev_flush(&s->ev);
}

struct store *
store_create(struct loop *l, const struct store_config *cfg, char *err,
             size_t errlen)
{
    struct store *s;
    const char   *user, *pass;

    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->loop = l;
    s->cfg = *cfg;
    s->ev.io.fd = -1;
    s->backoff_ms = STORE_RETRY_MIN_MS;
    resolve_init(&s->res, l);
    loop_timer_init(&s->attempt, store_on_attempt, s);
    loop_timer_init(&s->stall, store_on_stall, s);
    loop_timer_init(&s->fail_timer, store_on_fail_timer, s);
    if (cfg->sentinels != NULL && *cfg->sentinels != '\0') {
        user = cfg->sentinel_username;
        if (user == NULL || *user == '\0') {
            user = cfg->username;
        }
        pass = cfg->sentinel_password;
        if (pass == NULL || *pass == '\0') {
            pass = cfg->password;
        }
        if (sentinel_init(&s->sentinel, l, cfg->sentinels, cfg->master_name,
                          user, pass, cfg->connect_timeout_ms, err, errlen)
            != 0)
        {
            free(s);
            return NULL;
        }
        s->use_sentinel = 1;
    }
    if (loop_before_sleep(l, store_flush, s) != 0) {
        snprintf(err, errlen, "loop: no room for another hook");
        if (s->use_sentinel) {
            sentinel_destroy(&s->sentinel);
        }
        free(s);
        return NULL;
    }
    return s;
}

void
store_destroy(struct store *s)
{
    struct store_op *op, *next;

    if (s == NULL) {
        return;
    }
    for (op = s->waiting.head; op != NULL; op = next) {
        next = op->next;
        store_op_free(op);
    }
    s->waiting.head = s->waiting.tail = NULL;
    for (op = s->inflight.head; op != NULL; op = op->next) {
        op->fn = NULL;
    }
    if (s->ev.ac != NULL) {
        store_drop(s, 0, "redis: shutting down");
    }
    for (op = s->inflight.head; op != NULL; op = next) {  /* normally none */
        next = op->next;
        store_op_free(op);
    }
    s->inflight.head = s->inflight.tail = NULL;
    loop_timer_stop(s->loop, &s->attempt);
    loop_timer_stop(s->loop, &s->stall);
    loop_timer_stop(s->loop, &s->fail_timer);
    if (s->use_sentinel) {
        sentinel_destroy(&s->sentinel);
    }
    resolve_destroy(&s->res);
    free(s);
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
