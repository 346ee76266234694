/* redis_ev.c -- hiredis's async API on the worker's loop
 *
 * hiredis 0.14.1 calls addWrite from every redisAsync*Command; a classic
 * adapter turns that into an epoll_ctl(EPOLL_CTL_MOD) and a wake-up per
 * command.  Here, once the context is connected, addWrite only sets
 * `dirty`, and the flush before the loop sleeps calls
 * redisAsyncHandleWrite() itself: one write(2) for every command of the
 * turn.  Only when that write leaves bytes behind (hiredis calls addWrite
 * again from inside it) is EPOLLOUT registered.  While connecting, EPOLLOUT
 * is registered for real: hiredis learns the connect's outcome from the
 * first writable event (its SO_ERROR check cannot tell "in progress" from
 * "connected" before that).  Reads are level-triggered: hiredis reads once
 * per call and the loop calls again while bytes remain.
 */
#include <sys/epoll.h>

#include "redis_ev.h"

/* The context whose flush is running: its addWrite must register
 * EPOLLOUT (the write was short) instead of setting dirty again. */
static struct redis_ev *redis_ev_flushing;

/* Register the mask reading/writing ask for.  Can't fail (a failed
 * epoll_ctl leaves the old mask; hiredis then notices a dead socket on
 * its next read or write). */
static void
redis_ev_update(struct redis_ev *ev)
{
    uint32_t mask = 0;

    if (ev->io.fd < 0) {
        return;
    }
    if (ev->reading) {
        mask |= EPOLLIN;
    }
    if (ev->writing) {
        mask |= EPOLLOUT;
    }
    (void) loop_io_mod(ev->loop, &ev->io, mask);
}

static void
redis_ev_add_read(void *privdata)
{
    struct redis_ev *ev = privdata;

    ev->reading = 1;
    redis_ev_update(ev);
}

static void
redis_ev_del_read(void *privdata)
{
    struct redis_ev *ev = privdata;

    ev->reading = 0;
    redis_ev_update(ev);
}

static void
redis_ev_add_write(void *privdata)
{
    struct redis_ev *ev = privdata;

    if ((ev->ac->c.flags & REDIS_CONNECTED) && redis_ev_flushing != ev) {
        ev->dirty = 1;
        return;
    }
    ev->writing = 1;
    redis_ev_update(ev);
}

static void
redis_ev_del_write(void *privdata)
{
    struct redis_ev *ev = privdata;

    ev->dirty = 0;
    ev->writing = 0;
    redis_ev_update(ev);
}

static void
redis_ev_cleanup(void *privdata)
{
    struct redis_ev *ev = privdata;

    loop_io_del(ev->loop, &ev->io);
    ev->ac = NULL;
    ev->reading = ev->writing = ev->dirty = 0;
    if (redis_ev_flushing == ev) {
        redis_ev_flushing = NULL;
    }
}

/* The socket's events.  hiredis may free the context inside either
 * handler (ev->ac turns NULL): check before the second. */
static void
redis_ev_on_io(struct loop *l, struct loop_io *io, uint32_t events)
{
    struct redis_ev *ev = io->data;

    (void) l;
    if (ev->ac != NULL && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        && ev->reading)
    {
        redisAsyncHandleRead(ev->ac);
    }
    if (ev->ac != NULL && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
        && ev->writing)
    {
        redisAsyncHandleWrite(ev->ac);
    }
}

int
redis_ev_attach(struct redis_ev *ev, struct loop *l, redisAsyncContext *ac)
{
    ev->loop = l;
    ev->ac = ac;
    ev->reading = ev->writing = ev->dirty = 0;
    ev->io.fd = -1;
    ev->io.fn = redis_ev_on_io;
    ev->io.data = ev;
    if (loop_io_add(l, &ev->io, ac->c.fd, 0) != 0) {
        return -1;
    }
    ac->ev.data = ev;
    ac->ev.addRead = redis_ev_add_read;
    ac->ev.delRead = redis_ev_del_read;
    ac->ev.addWrite = redis_ev_add_write;
    ac->ev.delWrite = redis_ev_del_write;
    ac->ev.cleanup = redis_ev_cleanup;
    return 0;
}

void
redis_ev_flush(struct redis_ev *ev)
{
    if (ev->ac == NULL || !ev->dirty || ev->writing) {
        return;
    }
    ev->dirty = 0;
    redis_ev_flushing = ev;
    redisAsyncHandleWrite(ev->ac);
    redis_ev_flushing = NULL;
}
