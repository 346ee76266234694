/* handler.h -- turns one FastCGI request into one HTTP response
 *
 * Owns: the routes' behaviour (status, headers, JSON bodies), the session
 * flow (cookie -> Redis -> touch -> Redis -> Set-Cookie), the body limit,
 * the access log line and the request metrics.  One struct handler per
 * request thread (it holds that thread's Redis connection and buffers).
 * Does not own sockets or threads (worker.c) nor parsing of cookies,
 * URIs and session documents (CORE modules).
 */
#ifndef HANDLER_H
#define HANDLER_H

#include <stddef.h>

#include "config.h"
#include "fcgi.h"

struct handler;

/* A handler for one thread.  cfg must outlive it.  NULL with err filled
 * on failure. */
struct handler *handler_create(const struct config *cfg, char *err,
                               size_t errlen);

/* Free.  Accepts NULL. */
void handler_destroy(struct handler *h);

/* Answer the current request of req (already read).  Never fails: errors
 * become 4xx/5xx responses; a broken connection is noticed by
 * fcgi_request_finish(). */
void handler_serve(struct handler *h, struct fcgi_request *req);

#endif
