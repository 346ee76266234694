/* pool.h -- the master process: listening socket and worker processes
 *
 * Owns: binding the FastCGI socket (TCP v4/v6 or unix), forking and
 * supervising APP_WORKERS workers (respawn with backoff, recycle, rolling
 * restart on SIGHUP, log reopen on SIGUSR1, drain on SIGTERM/SIGINT) and
 * the workers_alive / restarts metrics.  Does not own what a worker does
 * (worker.c).
 */
#ifndef POOL_H
#define POOL_H

#include <stddef.h>

#include "config.h"

/* Bind and listen on spec ("host:port", "[v6]:port", "unix:/path") with
 * SO_REUSEADDR (unix: stale socket file replaced, mode 0660).  The socket
 * is non-blocking and close-on-exec.  Returns the fd; -2 when spec is
 * malformed (a bad setting) or -1 when binding fails (socket(), bind(),
 * listen(), e.g. address in use), with err naming APP_LISTEN. */
int pool_listen(const char *spec, char *err, size_t errlen);

/* Run the master until SIGTERM/SIGINT and every worker has exited.
 * Takes listen_fd over (closes it when stopping begins).  Returns the
 * process exit code. */
int pool_run(const struct config *cfg, int listen_fd);

#endif
