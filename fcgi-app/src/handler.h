/* handler.h -- turns one FastCGI request into one HTTP response
 *
 * Owns: the routes' behaviour (status, headers, JSON bodies), the session
 * flow (cookie -> GET -> touch -> SET -> Set-Cookie) as callbacks of the
 * store's operations, each request's Redis time budget (a loop timer), the
 * body limit, the access log line and the request metrics.  One struct
 * handler per worker process serves every request in flight in it.  Does
 * not own sockets (worker.c) nor parsing of cookies, URIs and session
 * documents (the pure modules).
 */
#ifndef APP_HANDLER_H
#define APP_HANDLER_H

#include <stddef.h>

#include "config.h"
#include "fcgi.h"
#include "loop.h"

struct handler;

/* Called once the response is written into the request (not yet
 * finished: the caller runs fcgi_request_finish()). */
typedef void handler_done_fn(void *arg);

/* A handler whose Redis work runs on loop l.  cfg must outlive it.  NULL
 * with err filled on failure. */
struct handler *handler_create(const struct config *cfg, struct loop *l,
                               char *err, size_t errlen);

/* Free; requests still in flight are dropped without their done call.
 * Accepts NULL. */
void handler_destroy(struct handler *h);

/* Answer the current request of req (already read).  Never fails: errors
 * become 4xx/5xx responses.  done(arg) runs either before this returns
 * (no Redis work) or on a later loop turn, within REDIS_TIMEOUT_MS. */
void handler_serve(struct handler *h, struct fcgi_request *req,
                   handler_done_fn *done, void *arg);

/* Requests this handler is serving (started, done not yet called). */
long handler_in_flight(const struct handler *h);

#endif
