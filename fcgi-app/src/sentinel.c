/* sentinel.c -- asking Redis Sentinel where the primary is, on the loop
 *
 * One question walks the sentinels in turn.  For each: look its name up
 * (resolve.c), connect (hiredis async), pipeline AUTH (when a password is
 * set) and SENTINEL get-master-addr-by-name, all within timeout_ms (the
 * `step` timer).  Reply callbacks only record the outcome and arm `step`
 * for now: the context is freed, and the next sentinel tried, from the
 * timer, never from inside a hiredis callback (hiredis defers a free
 * asked for in a callback, and the next connection reuses `ev`).
 */
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "sentinel.h"
#include "wsaddr.h"

enum sentinel_phase {
    SENTINEL_IDLE,       /* no question */
    SENTINEL_LOOKUP,     /* resolving sentinel `next + tried` */
    SENTINEL_TALKING,    /* connected or connecting, waiting for answer */
    SENTINEL_GOT,        /* answered (or failed): step timer moves on */
};

static void sentinel_try(struct sentinel *s);

/* The sentinel being asked. */
static const struct addr_hp *
sentinel_cur(const struct sentinel *s)
{
    return &s->addrs[(s->next + s->tried) % s->n];
}

/* Drop the current sentinel's context, if any.  Not from a callback. */
static void
sentinel_close(struct sentinel *s)
{
    if (s->ac != NULL) {
        s->closing = 1;          /* its NULL replies are ours: ignored */
        redisAsyncFree(s->ac);
        s->closing = 0;
        s->ac = NULL;
    }
}

/* A reply callback's common part: a NULL reply means hiredis is freeing
 * the context (unless we are); 1 if the outcome still matters. */
static int
sentinel_reply_wanted(struct sentinel *s, const redisReply *r)
{
    if (r == NULL && !s->closing) {
        s->ac = NULL;
    }
    return s->phase == SENTINEL_TALKING && !s->closing;
}

/* This sentinel failed with s->err: on to the next, or give up. */
static void
sentinel_failed(struct sentinel *s)
{
    sentinel_fn *fn = s->fn;
    char         why[sizeof(s->err) + 128];

    sentinel_close(s);
    resolve_cancel(&s->res);
    s->tried++;
    if (s->tried < s->n) {
        sentinel_try(s);
        return;
    }
    s->next = (s->next + 1) % s->n;
    s->phase = SENTINEL_IDLE;
    snprintf(why, sizeof(why), "redis: no primary for \"%s\" from %zu "
             "sentinels; last: %s", s->master_name, s->n, s->err);
    fn(s->arg, -1, NULL, 0, why);
}

/* The step timer: a sentinel's deadline, or the recorded outcome. */
static void
sentinel_on_step(struct loop *l, struct loop_timer *t)
{
    struct sentinel *s = t->data;
    sentinel_fn     *fn = s->fn;
    const struct addr_hp *a = sentinel_cur(s);

    (void) l;
    if (s->phase == SENTINEL_GOT && s->answer.port > 0) {
        sentinel_close(s);
        s->next = (s->next + s->tried) % s->n;
        s->phase = SENTINEL_IDLE;
        fn(s->arg, 0, s->answer.host, s->answer.port, NULL);
        return;
    }
    if (s->phase != SENTINEL_GOT) {
        s->phase = SENTINEL_GOT;
        snprintf(s->err, sizeof(s->err), "sentinel %s:%d: no answer within "
                 "%d ms", a->host, a->port, s->timeout_ms);
    }
    sentinel_failed(s);
}

/* Record an outcome (err already in s->err unless answered) and move on
 * from the timer.  Callable from a hiredis callback. */
static void
sentinel_got(struct sentinel *s)
{
    if (s->phase == SENTINEL_GOT) {
        return;                  /* the first outcome counts */
    }
    s->phase = SENTINEL_GOT;
    (void) loop_timer_at(s->loop, &s->step, loop_now_ms(s->loop));
}

/* Reply to AUTH: only an error matters. */
static void
sentinel_on_auth(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct sentinel      *s = privdata;
    const redisReply     *r = reply;
    const struct addr_hp *a = sentinel_cur(s);

    if (!sentinel_reply_wanted(s, r)) {
        return;
    }
    if (r == NULL) {
        snprintf(s->err, sizeof(s->err), "sentinel %s:%d: %s", a->host,
                 a->port, ac->errstr[0] ? ac->errstr : "connection lost");
        sentinel_got(s);
    } else if (r->type == REDIS_REPLY_ERROR) {
        snprintf(s->err, sizeof(s->err), "sentinel %s:%d: AUTH failed: "
                 "%.*s", a->host, a->port, (int) r->len, r->str);
        sentinel_got(s);
    }
}

/* Reply to get-master-addr-by-name. */
static void
sentinel_on_answer(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct sentinel      *s = privdata;
    const redisReply     *r = reply;
    const struct addr_hp *a = sentinel_cur(s);
    int                   port;

    if (!sentinel_reply_wanted(s, r)) {
        return;                  /* AUTH failed first, or we closed it */
    }
    if (r == NULL) {
        snprintf(s->err, sizeof(s->err), "sentinel %s:%d: %s", a->host,
                 a->port, ac->errstr[0] ? ac->errstr : "connection lost");
    } else if (r->type == REDIS_REPLY_ERROR) {
        snprintf(s->err, sizeof(s->err), "sentinel %s:%d: %.*s", a->host,
                 a->port, (int) r->len, r->str);
    } else if (r->type == REDIS_REPLY_NIL) {
        snprintf(s->err, sizeof(s->err), "sentinel %s:%d does not know "
                 "master \"%s\"", a->host, a->port, s->master_name);
    } else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
               || r->element[0]->type != REDIS_REPLY_STRING
               || r->element[1]->type != REDIS_REPLY_STRING
               || r->element[0]->len < 1
               || r->element[0]->len >= ADDR_HOST_MAX
               || memchr(r->element[0]->str, '\0', r->element[0]->len))
    {
        snprintf(s->err, sizeof(s->err), "sentinel %s:%d: unexpected "
                 "answer to get-master-addr-by-name", a->host, a->port);
    } else if ((port = wsaddr_parse_port(r->element[1]->str,
                                         r->element[1]->len)) < 0)
    {
        snprintf(s->err, sizeof(s->err), "sentinel %s:%d: bad port "
                 "\"%.*s\"", a->host, a->port, (int) r->element[1]->len,
                 r->element[1]->str);
    } else {
        memcpy(s->answer.host, r->element[0]->str, r->element[0]->len);
        s->answer.host[r->element[0]->len] = '\0';
        s->answer.port = port;
    }
    sentinel_got(s);
}

/* The current sentinel's address is known: connect and ask. */
static void
sentinel_on_resolved(void *arg, int rc, const char *ip, const char *err)
{
    struct sentinel      *s = arg;
    const struct addr_hp *a = sentinel_cur(s);
    const char           *argv[3];
    int                   argc = 0;

    if (rc != 0) {
        snprintf(s->err, sizeof(s->err), "sentinel %s:%d: %s", a->host,
                 a->port, err);
        sentinel_got(s);
        return;
    }
    s->phase = SENTINEL_TALKING;
    s->ac = redisAsyncConnect(ip, a->port);
    if (s->ac == NULL || s->ac->err
        || redis_ev_attach(&s->ev, s->loop, s->ac) != 0)
    {
        snprintf(s->err, sizeof(s->err), "sentinel %s:%d: connect: %s",
                 a->host, a->port, s->ac ? s->ac->errstr : "out of memory");
        if (s->ac != NULL) {
            redisAsyncFree(s->ac);
            s->ac = NULL;
        }
        sentinel_got(s);
        return;
    }
    if (s->password != NULL) {
        argv[argc++] = "AUTH";
        if (s->user != NULL) {
            argv[argc++] = s->user;
        }
        argv[argc++] = s->password;
        (void) redisAsyncCommandArgv(s->ac, sentinel_on_auth, s, argc, argv,
                                     NULL);
    }
    argv[0] = "SENTINEL";
    argv[1] = "get-master-addr-by-name";
    argv[2] = s->master_name;
    (void) redisAsyncCommandArgv(s->ac, sentinel_on_answer, s, 3, argv,
                                 NULL);
}

/* Ask sentinel next + tried, within timeout_ms. */
static void
sentinel_try(struct sentinel *s)
{
    const struct addr_hp *a = sentinel_cur(s);

    s->phase = SENTINEL_LOOKUP;
    s->answer.port = 0;
    s->err[0] = '\0';
    (void) loop_timer_at(s->loop, &s->step,
                         loop_now_ms(s->loop) + s->timeout_ms);
    if (resolve_start(&s->res, a->host, s->timeout_ms, sentinel_on_resolved,
                      s, s->err, sizeof(s->err)) != 0)
    {
        sentinel_got(s);
    }
}

int
sentinel_init(struct sentinel *s, struct loop *l, const char *list,
              const char *master_name, const char *user,
              const char *password, int timeout_ms, char *err,
              size_t errlen)
{
    int n;

    memset(s, 0, sizeof(*s));
    n = addr_parse_list(list, s->addrs, ADDR_LIST_MAX, err, errlen);
    if (n < 0) {
        return -1;
    }
    s->n = (size_t) n;
    s->loop = l;
    s->master_name = master_name;
    s->user = user != NULL && *user != '\0' ? user : NULL;
    s->password = password != NULL && *password != '\0' ? password : NULL;
    s->timeout_ms = timeout_ms;
    s->ev.io.fd = -1;
    resolve_init(&s->res, l);
    loop_timer_init(&s->step, sentinel_on_step, s);
    return 0;
}

void
sentinel_ask(struct sentinel *s, sentinel_fn *fn, void *arg)
{
    s->fn = fn;
    s->arg = arg;
    s->tried = 0;
    sentinel_try(s);
}

void
sentinel_cancel(struct sentinel *s)
{
    loop_timer_stop(s->loop, &s->step);
    resolve_cancel(&s->res);
    sentinel_close(s);
    s->phase = SENTINEL_IDLE;
}

void
sentinel_skip(struct sentinel *s)
{
    s->next = (s->next + 1) % s->n;
}

void
sentinel_destroy(struct sentinel *s)
{
    if (s->loop == NULL) {
        return;
    }
    sentinel_cancel(s);
    resolve_destroy(&s->res);
}
