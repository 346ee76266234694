/* pool.h -- the master process: the worker processes
 *
 * Owns: forking and supervising APP_WORKERS workers on the listening
 * socket listen.c bound (respawn with backoff, recycle, rolling restart on
 * SIGHUP, log reopen on SIGUSR1, drain on SIGTERM/SIGINT) and the
 * workers_alive / restarts metrics.  Does not own what a worker does
 * (worker.c).
 */
#ifndef POOL_H
#define POOL_H

#include <stddef.h>

#include "config.h"

/* Run the master until SIGTERM/SIGINT and every worker has exited.
 * Takes listen_fd over (closes it when stopping begins).  Returns the
 * process exit code. */
int pool_run(const struct config *cfg, int listen_fd);

#endif
