/* store.h -- the session store: one Redis connection per thread
 *
 * Owns: finding the primary (fixed host, or asked of Redis Sentinel and
 * confirmed with ROLE), connecting (with timeouts, AUTH, SELECT), every
 * Redis command the app sends (including the optional WAIT), the
 * per-request time budget, and reconnecting with backoff.  The only module
 * that speaks hiredis, Sentinel included.  Does not own what a session is
 * (session.c) nor threads: a struct store belongs to one thread.
 */
#ifndef STORE_H
#define STORE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define STORE_OK       0
#define STORE_ERR     -1
#define STORE_MISSING  1    /* GET found no such key */

#define STORE_SENTINELS_MAX 16   /* longest REDIS_SENTINELS list */
#define STORE_HOST_MAX      256  /* longest host name, with its NUL */

/* Budget kept free after a WAIT's timeout for its reply.  Redis times a
 * blocked WAIT out in its event loop, which with nothing else to do wakes
 * only every 1000/hz ms (100 ms at the default hz 10): we measured WAIT
 * 200 answering after up to 310 ms with both replicas down.  So a WAIT is
 * sent with at most (time left - this), and config.c requires
 * REDIS_WAIT_TIMEOUT_MS + this <= REDIS_TIMEOUT_MS. */
#define STORE_WAIT_SLACK_MS 120

struct store_addr {
    char host[STORE_HOST_MAX];
    int  port;
};

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
    int         timeout_ms;        /* budget for one request's commands */
    int         wait_replicas;     /* WAIT after SET for this many; 0 off */
    int         wait_timeout_ms;   /* longest WAIT (capped by the budget) */
};

/* Parse "host:port host:port ..." (spaces or commas between; a v6 address
 * as [addr]:port) into out[0..max-1].  Returns how many (>= 1), or -1 with
 * err filled (empty list, bad port, too many, host too long).  Pure: used
 * by config.c to check REDIS_SENTINELS and by store_create(). */
int store_parse_addrs(const char *list, struct store_addr *out, size_t max,
                      char *err, size_t errlen);

struct store;

/* A store that connects lazily on first use.  cfg strings must outlive it.
 * Returns NULL on OOM or an unparsable cfg->sentinels (config.c checks
 * it first with store_parse_addrs()). */
struct store *store_create(const struct store_config *cfg);

/* Close the connection and free.  Accepts NULL. */
void store_destroy(struct store *s);

/* Start a request: the commands until the next store_begin() share one
 * budget of timeout_ms, so a stalled Redis costs a request at most that
 * (connecting included).  Can't fail. */
void store_begin(struct store *s);

/* GET key into out (reset first).  STORE_OK, STORE_MISSING, or STORE_ERR
 * with err filled (Redis down, stalled, in backoff, or a wrong reply). */
int store_get(struct store *s, const char *key, size_t keylen,
              struct buf *out, char *err, size_t errlen);

/* SET key val PX ttl_ms, then, if wait_replicas > 0, WAIT for that many
 * replicas for at most wait_timeout_ms (less if the budget is shorter).
 * STORE_OK or STORE_ERR with err filled.  Fewer acknowledgements than
 * asked is still STORE_OK (the write stands on the primary; WAIT does not
 * undo it) and counts in store_wait_short(). */
int store_set(struct store *s, const char *key, size_t keylen,
              const char *val, size_t len, int64_t ttl_ms, char *err,
              size_t errlen);

/* Counters since creation, for metrics: failed connects/commands, and
 * successful connects after a failure. */
unsigned long store_errors(const struct store *s);
unsigned long store_reconnects(const struct store *s);

/* Writes whose WAIT saw fewer replicas than REDIS_WAIT_REPLICAS in time
 * (or for which no budget was left to wait), since creation. */
unsigned long store_wait_short(const struct store *s);

#endif
