/* resolve.h -- host name lookups that never block the loop
 *
 * Owns: turning a Redis or Sentinel host name into a numeric address
 * without stopping the worker's loop.  A numeric address is answered on
 * the next turn; a name is looked up with glibc's getaddrinfo_a() (its
 * own helper thread does the blocking getaddrinfo(); the loop polls the
 * result every RESOLVE_POLL_MS), bounded by the caller's timeout.  hiredis
 * then connects to the number, so its own getaddrinfo() never waits on
 * DNS.
 */
#ifndef APP_RESOLVE_H
#define APP_RESOLVE_H

#include <netdb.h>
#include <stddef.h>

#include "loop.h"

#define RESOLVE_POLL_MS 2

/* rc 0: ip holds the first address (v4 preferred as getaddrinfo orders
 * them); -1: err says why. */
typedef void resolve_fn(void *arg, int rc, const char *ip, const char *err);

struct resolve {
    struct loop       *loop;
    struct gaicb       cb;
    struct gaicb      *list[1];
    struct addrinfo    hints;
    struct loop_timer  timer;
    char               host[256];
    int64_t            deadline_ms;
    int                running;     /* a getaddrinfo_a() not finished */
    int                wanted;      /* the caller still waits for it */
    resolve_fn        *fn;
    void              *arg;
};

/* Prepare r (once).  Can't fail. */
void resolve_init(struct resolve *r, struct loop *l);

/* Look host up; fn is called on a later loop turn, exactly once unless
 * resolve_cancel() comes first.  0, or -1 with err filled (a previous
 * lookup abandoned on r is still running, or getaddrinfo_a refused). */
int resolve_start(struct resolve *r, const char *host, int timeout_ms,
                  resolve_fn *fn, void *arg, char *err, size_t errlen);

/* The caller no longer waits: fn will not be called. */
void resolve_cancel(struct resolve *r);

/* Before the process exits: wait for a running lookup (bounded by
 * glibc's resolver timeouts) so nothing writes into freed memory. */
void resolve_destroy(struct resolve *r);

#endif
