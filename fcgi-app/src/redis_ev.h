/* redis_ev.h -- hiredis's async API on the worker's loop (loop.h)
 *
 * Owns: the adapter hiredis 0.14 asks for (redisAsyncContext.ev: addRead,
 * delRead, addWrite, delWrite, cleanup; hiredis's adapters/ae.h is the
 * model) and the write batching: once connected, a command only marks the
 * context dirty, and redis_ev_flush() (the store's before-sleep hook)
 * writes everything queued in this loop turn with one write(2), so the
 * commands of all requests in flight go out pipelined.  EPOLLOUT is
 * registered only while connecting or when the socket buffer is full.
 * Does not own the context: the caller frees it; the struct redis_ev is
 * the caller's memory and outlives it.
 */
#ifndef APP_REDIS_EV_H
#define APP_REDIS_EV_H

#include <hiredis/async.h>

#include "loop.h"

struct redis_ev {
    struct loop       *loop;
    redisAsyncContext *ac;          /* NULL once hiredis cleaned up */
    struct loop_io     io;
    int                reading;
    int                writing;     /* EPOLLOUT wanted */
    int                dirty;       /* commands queued since the flush */
};

/* Attach ac to the loop through ev.  0, or -1 (ac->c.fd not usable). */
int redis_ev_attach(struct redis_ev *ev, struct loop *l,
                    redisAsyncContext *ac);

/* Write what this turn queued.  May free the context (a write error
 * disconnects it; ev->ac is then NULL).  Can't fail. */
void redis_ev_flush(struct redis_ev *ev);

#endif
