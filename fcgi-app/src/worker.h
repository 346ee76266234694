/* worker.h -- one worker process: one thread, one event loop
 *
 * Owns: everything a worker process does between fork() and exit: its
 * signal flags, its loop (loop.c), accepting from the shared listening
 * socket, every FastCGI connection's life (waiting for a whole request,
 * serving it through handler.c, keeping it for the next one, closing it
 * without lingering), idle/head/linger deadlines, draining on SIGTERM,
 * asking the master for a replacement after APP_MAX_REQUESTS.  Does not
 * own the listening socket (listen.c binds it) nor what a request means
 * (handler.c).
 */
#ifndef APP_WORKER_H
#define APP_WORKER_H

#include <sys/types.h>

#include "config.h"

/* Messages a worker writes to the master's pipe (one write each, smaller
 * than PIPE_BUF, so they never interleave). */
#define WORKER_MSG_READY   'U'   /* loop up, accepting */
#define WORKER_MSG_RECYCLE 'R'   /* served APP_MAX_REQUESTS: replace me */

struct worker_msg {
    char type;
    int  pid;
};

/* Run a worker until it is told to stop (SIGTERM/SIGINT) and has drained,
 * or the drain deadline passes.  listen_fd is non-blocking; msg_fd is the
 * write end of the master's pipe; master is the master's pid (it may be 1
 * in a container, so "parent is init" cannot mean "orphaned").  Returns
 * the process exit code. */
int worker_run(const struct config *cfg, int listen_fd, int msg_fd,
               pid_t master);

#endif
