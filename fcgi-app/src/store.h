/* store.h -- the session store: one Redis connection per thread
 *
 * Owns: connecting (with timeouts, AUTH, SELECT), every Redis command the
 * app sends, the per-request time budget, and reconnecting with backoff.
 * The only module that speaks hiredis.  Does not own what a session is
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

struct store_config {
    const char *host;
    int         port;
    int         db;
    const char *username;          /* NULL or "": AUTH <password> only */
    const char *password;          /* NULL or "": no AUTH */
    int         connect_timeout_ms;
    int         timeout_ms;        /* budget for one request's commands */
};

struct store;

/* A store that connects lazily on first use.  cfg strings must outlive it.
 * Returns NULL on OOM. */
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

/* SET key val PX ttl_ms.  STORE_OK or STORE_ERR with err filled. */
int store_set(struct store *s, const char *key, size_t keylen,
              const char *val, size_t len, int64_t ttl_ms, char *err,
              size_t errlen);

/* Counters since creation, for metrics: failed connects/commands, and
 * successful connects after a failure. */
unsigned long store_errors(const struct store *s);
unsigned long store_reconnects(const struct store *s);

#endif
