/* sentinel.h -- asking Redis Sentinel where the primary is, on the loop
 *
 * Owns: the REDIS_SENTINELS list and the question every (re)connect asks
 * (docs/REDIS.md, "The app's contract with Sentinel"; the Sentinel client
 * guidelines, redis.io/docs/reference/sentinel-clients/): ask the
 * sentinels in turn, starting with the one that answered last,
 * `SENTINEL get-master-addr-by-name <name>`, each within
 * REDIS_CONNECT_TIMEOUT_MS (lookup, connect, AUTH and answer).  The store
 * then confirms the answer with ROLE.  Does not own the primary's
 * connection (store.c).
 */
#ifndef APP_SENTINEL_H
#define APP_SENTINEL_H

#include <stddef.h>

#include "addr.h"
#include "loop.h"
#include "redis_ev.h"
#include "resolve.h"

/* rc 0: the primary is host:port; -1: err says why. */
typedef void sentinel_fn(void *arg, int rc, const char *host, int port,
                         const char *err);

struct sentinel {
    struct loop       *loop;
    struct addr_hp     addrs[ADDR_LIST_MAX];
    size_t             n;
    size_t             next;         /* asked first next time */
    size_t             tried;        /* in the current question */
    const char        *master_name;
    const char        *user;         /* NULL: no user */
    const char        *password;     /* NULL: no AUTH */
    int                timeout_ms;
    struct resolve     res;
    struct redis_ev    ev;
    redisAsyncContext *ac;
    struct loop_timer  step;         /* per sentinel deadline / next step */
    int                phase;        /* enum in sentinel.c */
    int                closing;      /* in our own redisAsyncFree() */
    struct addr_hp     answer;
    char               err[320];
    sentinel_fn       *fn;
    void              *arg;
};

/* Parse list (config.c has checked it).  0, or -1 with err filled. */
int sentinel_init(struct sentinel *s, struct loop *l, const char *list,
                  const char *master_name, const char *user,
                  const char *password, int timeout_ms, char *err,
                  size_t errlen);

/* Ask; fn is called once on a later turn unless sentinel_cancel() comes
 * first.  Only one question at a time. */
void sentinel_ask(struct sentinel *s, sentinel_fn *fn, void *arg);

/* Stop asking (fn will not be called). */
void sentinel_cancel(struct sentinel *s);

/* The last answer named a node that is not a primary: start with the
 * next sentinel next time. */
void sentinel_skip(struct sentinel *s);

void sentinel_destroy(struct sentinel *s);

#endif
