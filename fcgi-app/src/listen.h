/* listen.h -- the FastCGI listening socket
 *
 * Owns: turning APP_LISTEN ("host:port", "[v6]:port", "unix:/path") into a
 * bound, listening, non-blocking, close-on-exec socket.  Does not own the
 * workers that accept on it (pool.c, worker.c).
 */
#ifndef APP_LISTEN_H
#define APP_LISTEN_H

#include <stddef.h>

/* Bind and listen on spec.  Returns the fd, or -1 with err naming
 * APP_LISTEN and *bad set to 1 when spec itself is malformed (a bad
 * setting) or 0 when binding failed (socket(), bind(), listen(), e.g.
 * address in use). */
int listen_open(const char *spec, int *bad, char *err, size_t errlen);

#endif
