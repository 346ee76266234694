/* fcgi.h -- the libfcgi seam: one FastCGI request on a given connection
 *
 * Owns: every call into libfcgi (fcgiapp.h) and the workarounds for its
 * traps (see fcgi.c).  The rest of the app hands in a connected socket that
 * is readable, gets back the request's params and output stream, and after
 * the response learns whether the connection stays open for another
 * request.  Does not accept connections or poll: worker.c does.
 */
#ifndef FCGI_H
#define FCGI_H

#include <stddef.h>

struct fcgi_request;

/* Initialise libfcgi.  Call once per process AFTER installing the
 * process's own SIGTERM/SIGUSR1/SIGPIPE handlers (libfcgi installs its own
 * only where the disposition is still SIG_DFL).  0, or -1 with err. */
int fcgi_library_init(char *err, size_t errlen);

/* A reusable request object, one per connection being served (worker.c
 * keeps released ones for the next).  NULL on OOM. */
struct fcgi_request *fcgi_request_create(void);
void fcgi_request_destroy(struct fcgi_request *r);   /* accepts NULL */

/* Read one request (BEGIN_REQUEST + PARAMS) from fd, which must be a
 * connected stream socket.  Returns 0 when a request is ready; -1 when the
 * peer closed, sent garbage or timed out: fd has then been closed. */
int fcgi_request_read(struct fcgi_request *r, int fd);

/* A param of the current request, or NULL. */
const char *fcgi_request_param(struct fcgi_request *r, const char *name);

/* Append p[0..len) to the response (FCGI_STDOUT).  0 or -1. */
int fcgi_request_write(struct fcgi_request *r, const char *p, size_t len);

/* Read and drop the request body (FCGI_STDIN) up to and including its
 * end record, so a kept connection holds nothing of this request when the
 * next one is read (libfcgi 2.4.2 neither drains it in FCGX_Finish_r nor
 * skips it: a leftover STDIN record with the same request id is a
 * protocol error for the next FCGX_Accept_r).  Returns the bytes dropped,
 * or -1 on a read error or when more than max bytes came. */
long fcgi_request_discard_body(struct fcgi_request *r, long max);

/* Make the connection close after this request whatever the web server
 * asked (used after a 413 whose body was not read). */
void fcgi_request_close_after(struct fcgi_request *r);

/* Finish the request (flush, END_REQUEST).  Returns the fd if the web
 * server keeps the connection for further requests (the caller owns it
 * again), else -1 after the connection was shut down for writing and
 * handed back through *closing_fd (>= 0) for a lingering-free close by the
 * caller, or closed already (*closing_fd = -1). */
int fcgi_request_finish(struct fcgi_request *r, int *closing_fd);

#endif
