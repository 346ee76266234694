/* store.h -- the session store: one pipelined Redis connection per process
 *
 * Owns: the worker process's one connection to the Redis primary (found
 * through sentinel.c when REDIS_SENTINELS is set, confirmed with ROLE),
 * its handshake (AUTH, ROLE, SELECT), every command the app sends (GET,
 * SET ... PX, the optional WAIT), pipelining them, reconnecting, and
 * noticing a stalled server.  The only module that sends commands to the
 * primary.  Does not own time budgets (the caller cancels an operation it
 * stops waiting for) nor what a session is (session.c).
 */
#ifndef APP_STORE_H
#define APP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "loop.h"

/* Outcomes passed to a store_done_fn. */
enum store_rc {
    STORE_OK = 0,
    STORE_MISSING,     /* GET found no such key */
    STORE_ERR          /* err says why */
};

/* Budget kept free after a WAIT's timeout for its reply.  Redis times a
 * blocked WAIT out in its event loop, which with nothing else to do wakes
 * only every 1000/hz ms (100 ms at the default hz 10): we measured WAIT
 * 200 answering after up to 310 ms with both replicas down.  So a WAIT is
 * sent with at most (time left - this), and config.c requires
 * REDIS_WAIT_TIMEOUT_MS + this <= REDIS_TIMEOUT_MS. */
#define STORE_WAIT_SLACK_MS 120

struct store_config {
    const char *host;              /* fixed primary, when no sentinels */
    int         port;
    int         db;
    const char *username;          /* NULL or "": AUTH <password> only */
    const char *password;          /* NULL or "": no AUTH */
    const char *sentinels;         /* NULL or "": use host and port */
    const char *master_name;       /* Sentinel's name for the primary */
    const char *sentinel_username; /* NULL or "": username above */
    const char *sentinel_password; /* NULL or "": password above */
    int         connect_timeout_ms;
    int         timeout_ms;        /* a request's budget: a reply later
                                    * than this means a stalled server */
    int         wait_replicas;     /* WAIT after SET for this many; 0 off */
    int         wait_timeout_ms;   /* longest WAIT (capped by deadline) */
};

struct store;
struct store_op;

/* The outcome of one operation, called exactly once, on a later turn
 * (never from inside store_get/store_set), unless store_op_cancel() came
 * first.  val/len: the GET value for STORE_OK; err: why, for STORE_ERR. */
typedef void store_done_fn(void *arg, enum store_rc rc, const char *val,
                           size_t len, const char *err);

/* A store on loop l that connects on first use.  cfg strings must outlive
 * it.  NULL with err filled (OOM, unparsable cfg->sentinels). */
struct store *store_create(struct loop *l, const struct store_config *cfg,
                           char *err, size_t errlen);

/* Close the connection; pending operations are dropped without their
 * callbacks.  Accepts NULL. */
void store_destroy(struct store *s);

/* Queue GET key.  Returns a handle for store_op_cancel(), or NULL (out of
 * memory; fn will not be called). */
struct store_op *store_get(struct store *s, const char *key, size_t keylen,
                           store_done_fn *fn, void *arg);

/* Queue SET key val PX ttl_ms and, with wait_replicas > 0, a WAIT of at
 * most wait_timeout_ms that ends STORE_WAIT_SLACK_MS before deadline_ms
 * (monotonic).  Fewer acknowledgements than asked is still STORE_OK (the
 * write stands on the primary) and counts in store_wait_short().  NULL on
 * OOM. */
struct store_op *store_set(struct store *s, const char *key, size_t keylen,
                           const char *val, size_t len, int64_t ttl_ms,
                           int64_t deadline_ms, store_done_fn *fn,
                           void *arg);

/* The caller stops waiting: its fn will not be called.  The command may
 * still run on the server. */
void store_op_cancel(struct store_op *op);

/* Counters since creation, for metrics: failed operations and connects,
 * connects that succeeded after a failure, writes whose WAIT came short. */
unsigned long store_errors(const struct store *s);
unsigned long store_reconnects(const struct store *s);
unsigned long store_wait_short(const struct store *s);

#endif
