/* worker.c -- one worker process: leader/follower threads on one epoll set
 *
 * Design (why: see the libfcgi traps in fcgi.c):
 *
 *   master's listening socket (non-blocking, shared by all workers)
 *          |
 *   one epoll set per process and APP_THREADS request threads (all
 *   signals blocked), leader/followers: one thread, the leader, waits in
 *   epoll_wait(); the others wait their turn on a condition variable.  An
 *   event makes the leader hand leadership to the next follower and handle
 *   the event itself.  Every fd is registered EPOLLONESHOT, so an event
 *   hands its fd to exactly one thread, which owns it until it re-arms it
 *   (EPOLL_CTL_MOD) or closes it:
 *     - the listening socket: the thread accept4()s what is pending; new
 *       connections join the set as IDLE; then it re-arms the socket;
 *     - an IDLE connection (new or kept by nginx between requests): the
 *       thread peeks (MSG_PEEK); once a whole request (BEGIN_REQUEST,
 *       PARAMS, STDIN up to its empty end record; or 16 KB of it) is in
 *       the socket the same thread serves it: fcgi_request_read() (libfcgi
 *       reads the request from that fd instead of accepting),
 *       handler_serve(), fcgi_request_finish(); a kept connection is
 *       re-armed as IDLE, a finished one as CLOSING.  EOF closes.  A
 *       partial head is re-armed for EPOLLRDHUP only (EPOLLIN would fire
 *       again at once for the unread bytes), so a slow or stalled sender
 *       never holds a thread inside libfcgi's blocking reads;
 *     - a CLOSING connection (we shut down our side after a response on a
 *       connection nginx does not keep): read and dropped until the peer
 *       closes, so no thread ever lingers.
 *   the process's main thread (the only one that takes signals, in
 *   ppoll() on an eventfd threads write when a partial head or an accept
 *   pause needs an earlier sweep) sweeps the connection table: closes
 *   IDLE connections past WORKER_IDLE_MS, CLOSING ones past
 *   WORKER_LINGER_MS and partial heads past WORKER_HEAD_MS, re-arms
 *   partial heads for EPOLLIN every WORKER_RECHECK_MS so a thread re-peeks
 *   them, re-arms the listening socket after an accept pause (EMFILE, or
 *   the table full), reopens the log on SIGUSR1 and runs the drain.
 *
 * Why not a poller thread handing fds to a pool (the previous design):
 * each request then cost a poller wake-up, a condvar hand-off to a thread,
 * a self-pipe write back and another poller wake-up that rebuilt its whole
 * pollfd array: on 2 cores 1.8-2.3 context switches and 46-50 us of app
 * CPU per request on a quiet machine (perf stat, tests/bench/app/run),
 * 3.8 and 80-100 us on a busy one, half of the samples in the scheduler
 * (perf record).  Here the thread woken by the request serves it.
 * Why one leader rather than every thread in epoll_wait(): the kernel
 * wakes epoll waiters last-in first-out (the waiter is added at the head
 * of the wait queue), so under light load one thread serves everything
 * and the others sit on Redis connections nobody checks: after a Redis
 * restart each answers 503 at its first request, possibly long after
 * (tests/pool/test_redis_faults.py redis_killed_and_restarted_recovers
 * caught it).  The followers' queue rotates requests through all threads,
 * as the old hand-off did, for one futex wake per event; measured A/B it
 * cost no measurable CPU per request against all-in-epoll_wait().
 *
 * Ownership: the table of connection slots (state, timers) is guarded by
 * w->lock; a slot is ARMED (in the epoll set, nobody owns it) or BUSY (a
 * thread got its event).  Every epoll_ctl() and every close() of an ARMED
 * slot happens under the lock, so the sweeper never closes a connection a
 * thread has claimed, and never re-arms a fd number that was closed and
 * reused meanwhile.  The epoll data carries the slot index and a
 * generation bumped on every free, so an event dequeued just before the
 * sweeper closed its connection is recognised as stale and dropped.
 *
 * So an idle kept connection costs a table slot, not a thread, and
 * stopping never waits on a thread blocked in accept().  SIGTERM/SIGINT:
 * stop accepting (close this process's copy of the listening socket: the
 * master keeps it open, other workers keep serving), close idle kept
 * connections, serve the requests of connections already accepted or in
 * a thread, close their connections instead of keeping them, and exit;
 * past APP_DRAIN_TIMEOUT_MS exit anyway.  Signal handlers only set flags.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fcgi.h"
#include "handler.h"
#include "log.h"
#include "metrics.h"
#include "worker.h"

#define WORKER_MAX_CONNS   4096    /* connections one process holds */
#define WORKER_IDLE_MS     300000  /* close a kept connection idle this long
                                    * (nginx's keepalive_timeout is 60 s) */
#define WORKER_LINGER_MS   2000    /* wait for the peer's close at most */
#define WORKER_IO_TIMEOUT_S 10     /* SO_RCVTIMEO/SNDTIMEO per socket */
#define WORKER_PEEK_MAX    16384   /* bytes of a request head we inspect */
#define WORKER_HEAD_MS     5000    /* a request head must arrive by then */
#define WORKER_RECHECK_MS  5       /* re-peek a partial head this often */
#define WORKER_FRESH_MS    1000    /* draining: wait this long for the first
                                    * bytes of a just-accepted connection */
#define WORKER_DRAIN_TICK_MS 5     /* draining: check "done" this often */

/* epoll data tags that are not connection slots */
#define WORKER_TAG_LISTEN  UINT64_MAX
#define WORKER_TAG_QUIT    (UINT64_MAX - 1)

enum conn_kind  { CONN_IDLE, CONN_CLOSING };
enum conn_state { CONN_FREE, CONN_ARMED, CONN_BUSY };
enum listen_state {
    LISTEN_ARMED,      /* in the epoll set */
    LISTEN_BUSY,       /* a thread is accepting */
    LISTEN_PAUSED,     /* not armed: EMFILE pause or table full */
    LISTEN_CLOSED
};

struct conn {
    int       fd;
    int       kind;
    int       state;
    int       fresh;        /* accepted, no request read yet */
    uint32_t  gen;          /* bumped on every free */
    int64_t   since_ms;     /* armed as IDLE / CLOSING at */
    int64_t   partial_ms;   /* a request head started arriving; 0: none */
};

struct worker {
    const struct config  *cfg;
    int                   listen_fd;
    int                   msg_fd;
    int                   epfd;
    int                   quit_fd;       /* eventfd: threads exit */
    int                   wake_fd;       /* eventfd: threads -> sweeper */

    pthread_mutex_t       lock;          /* guards everything below */
    struct conn          *conns;         /* WORKER_MAX_CONNS slots */
    int                  *free_slots;    /* stack of free slot indexes */
    size_t                nfree;
    size_t                high;          /* slots [0, high) ever used */
    long                  busy;          /* slots in CONN_BUSY */
    int                   listen_state;
    int                   stopping;
    int                   quit;
    int64_t               accept_pause_until;   /* after EMFILE etc. */
    int64_t               accept_warned_at;     /* log it once a while */

    pthread_mutex_t       lf_lock;       /* leader/followers */
    pthread_cond_t        lf_cond;
    int                   lf_leader;     /* a thread is in epoll_wait() */
    int                   lf_quit;

    atomic_long           served;
    atomic_int            recycle_sent;
};

static volatile sig_atomic_t worker_stop_flag;
static volatile sig_atomic_t worker_reopen_flag;

/* Signal handlers: set a flag, nothing else. */
static void
worker_on_stop(int signo)
{
    (void) signo;
    worker_stop_flag = 1;
}

/* SIGUSR1: the main thread reopens the log. */
static void
worker_on_reopen(int signo)
{
    (void) signo;
    worker_reopen_flag = 1;
}

/* Monotonic ms.  Can't fail. */
static int64_t
worker_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Tell the master something.  Best effort: a full pipe drops it. */
static void
worker_tell(struct worker *w, char type)
{
    struct worker_msg m;

    memset(&m, 0, sizeof(m));
    m.type = type;
    m.pid = (int) getpid();
    if (write(w->msg_fd, &m, sizeof(m)) != (ssize_t) sizeof(m)) {
        LOG_WARN("worker: message to master failed: %s", strerror(errno));
    }
}

/* The epoll data of slot i: index in the low half, generation in the high
 * half.  Can't fail. */
static uint64_t
worker_slot_tag(const struct worker *w, size_t i)
{
    return ((uint64_t) w->conns[i].gen << 32) | (uint64_t) i;
}

/* Lock held: (re-)arm slot i in the epoll set for its kind and marks it
 * ARMED.  op is EPOLL_CTL_ADD or EPOLL_CTL_MOD.  A partial head waits for
 * the sender's end of stream only, unless recheck (the sweeper's timer)
 * asks for EPOLLIN.  On failure closes and frees the slot.  0 or -1. */
static int worker_slot_arm(struct worker *w, size_t i, int op, int recheck);

/* Lock held: close slot i's fd (unless closed is set: libfcgi closed it)
 * and free the slot.  Can't fail. */
static void
worker_slot_free(struct worker *w, size_t i, int closed)
{
    struct conn *c = &w->conns[i];

    if (!closed) {
        close(c->fd);      /* also drops its epoll registration */
    }
    if (c->state == CONN_BUSY) {
        w->busy--;
    }
    c->fd = -1;
    c->state = CONN_FREE;
    c->gen++;
    w->free_slots[w->nfree++] = (int) i;
    /* the table had no room: the listening socket can come back */
    if (w->listen_state == LISTEN_PAUSED && !w->stopping
        && worker_now_ms() >= w->accept_pause_until)
    {
        struct epoll_event ev;

        ev.events = EPOLLIN | EPOLLONESHOT;
        ev.data.u64 = WORKER_TAG_LISTEN;
        if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, w->listen_fd, &ev) == 0) {
            w->listen_state = LISTEN_ARMED;
        }
    }
}

static int
worker_slot_arm(struct worker *w, size_t i, int op, int recheck)
{
    struct epoll_event  ev;
    struct conn        *c = &w->conns[i];

    if (c->kind == CONN_IDLE && c->partial_ms != 0 && !recheck) {
        ev.events = EPOLLRDHUP | EPOLLONESHOT;
    } else {
        ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
    }
    ev.data.u64 = worker_slot_tag(w, i);
    if (c->state == CONN_BUSY) {
        w->busy--;
    }
    c->state = CONN_ARMED;
    if (epoll_ctl(w->epfd, op, c->fd, &ev) != 0) {
        worker_slot_free(w, i, 0);
        return -1;
    }
    return 0;
}

/* Thread side: have the main thread sweep now (a new partial head or an
 * accept pause changed its next deadline).  Best effort; can't fail. */
static void
worker_wake_sweeper(struct worker *w)
{
    uint64_t one = 1;

    if (write(w->wake_fd, &one, sizeof(one)) == -1 && errno != EAGAIN) {
        LOG_WARN("worker: eventfd write failed: %s", strerror(errno));
    }
}

/* Thread side: the slot an event names, now BUSY (owned by the caller);
 * -1 if the event is stale (the sweeper closed that connection). */
static long
worker_claim(struct worker *w, uint64_t tag)
{
    size_t i = (size_t) (tag & 0xffffffffu);
    long   rc = -1;

    pthread_mutex_lock(&w->lock);
    if (i < WORKER_MAX_CONNS && w->conns[i].gen == (uint32_t) (tag >> 32)
        && w->conns[i].state == CONN_ARMED)
    {
        w->conns[i].state = CONN_BUSY;
        w->busy++;
        rc = (long) i;
    }
    pthread_mutex_unlock(&w->lock);
    return rc;
}

/* Thread side: give up slot i, closing its fd unless closed.  Can't
 * fail. */
static void
worker_release(struct worker *w, size_t i, int closed)
{
    pthread_mutex_lock(&w->lock);
    worker_slot_free(w, i, closed);
    pthread_mutex_unlock(&w->lock);
}

/* Thread side: re-arm slot i (BUSY, ours) for the kind, since_ms and
 * partial_ms the caller set; while draining a kept connection that has
 * served a request is closed instead.  Can't fail (a failed epoll_ctl
 * closes it). */
static void
worker_rearm(struct worker *w, size_t i)
{
    const struct conn *c = &w->conns[i];

    pthread_mutex_lock(&w->lock);
    if (c->kind == CONN_IDLE && w->stopping && !c->fresh) {
        worker_slot_free(w, i, 0);     /* draining: no further requests */
    } else {
        worker_slot_arm(w, i, EPOLL_CTL_MOD, 0);
    }
    pthread_mutex_unlock(&w->lock);
}

/* Set the per-socket options libfcgi's blocking I/O relies on. */
static void
worker_sockopts(int fd)
{
    struct timeval tv = { WORKER_IO_TIMEOUT_S, 0 };
    int            one = 1;

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    /* libfcgi's OS_Accept sets TCP_NODELAY; we bypass it.  Fails
     * harmlessly (EOPNOTSUPP) on unix sockets. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Lock held: put fd (just accepted) in a free slot, armed.  Closes it if
 * the table is full.  Can't fail. */
static void
worker_conn_add(struct worker *w, int fd)
{
    struct conn *c;
    size_t       i;

    if (w->nfree == 0) {
        close(fd);
        return;
    }
    i = (size_t) w->free_slots[--w->nfree];
    if (i + 1 > w->high) {
        w->high = i + 1;
    }
    c = &w->conns[i];
    c->fd = fd;
    c->kind = CONN_IDLE;
    c->state = CONN_FREE;
    c->fresh = 1;
    c->partial_ms = 0;
    c->since_ms = worker_now_ms();
    worker_slot_arm(w, i, EPOLL_CTL_ADD, 0);
}

/* Thread side, the listening socket's event is ours: accept what is
 * pending (the socket is non-blocking and shared with the other workers,
 * so EAGAIN is normal), then re-arm it, or leave it paused (EMFILE, table
 * full) for the sweeper, or close it if draining began meanwhile. */
static void
worker_accept(struct worker *w)
{
    struct epoll_event ev;
    int64_t            now;
    int                fd, i, pause = 0, paused;

    pthread_mutex_lock(&w->lock);
    if (w->listen_state != LISTEN_ARMED) {
        /* stale: draining closed the socket after the event fired */
        pthread_mutex_unlock(&w->lock);
        return;
    }
    w->listen_state = LISTEN_BUSY;
    pthread_mutex_unlock(&w->lock);
    for (i = 0; i < 64; i++) {
        fd = accept4(w->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd == -1) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR
                && errno != ECONNABORTED)
            {
                /* e.g. EMFILE: the pending connection stays readable, so
                 * stop watching the socket for a while instead of spinning
                 * (other workers may still have room) */
                pause = errno;
            }
            break;
        }
        worker_sockopts(fd);
        pthread_mutex_lock(&w->lock);
        worker_conn_add(w, fd);
        pthread_mutex_unlock(&w->lock);
    }

    pthread_mutex_lock(&w->lock);
    now = worker_now_ms();
    if (pause != 0) {
        if (w->accept_warned_at == 0 || now - w->accept_warned_at >= 10000) {
            LOG_WARN("worker: accept4() failed: %s; pausing accepts for "
                     "100 ms (logged once per 10 s)", strerror(pause));
            w->accept_warned_at = now;
        }
        w->accept_pause_until = now + 100;
    }
    if (w->stopping) {
        close(w->listen_fd);
        w->listen_fd = -1;
        w->listen_state = LISTEN_CLOSED;
    } else if (pause != 0 || w->nfree == 0) {
        w->listen_state = LISTEN_PAUSED;
    } else {
        ev.events = EPOLLIN | EPOLLONESHOT;
        ev.data.u64 = WORKER_TAG_LISTEN;
        w->listen_state = epoll_ctl(w->epfd, EPOLL_CTL_MOD, w->listen_fd,
                                    &ev) == 0 ? LISTEN_ARMED : LISTEN_PAUSED;
    }
    paused = w->listen_state == LISTEN_PAUSED;
    pthread_mutex_unlock(&w->lock);
    if (paused) {
        worker_wake_sweeper(w);    /* re-arm when the pause ends */
    }
}

/* 1 if buf[0..n) holds a whole FastCGI request (records up to the empty
 * STDIN record that ends it: nginx sends it right after the params, or
 * after the body it buffered), or something libfcgi will reject at once
 * (not version 1), or as much as we look at (a big body: the thread then
 * reads the rest, which nginx sends without pause); 0 if more is on its
 * way.  Spec: FastCGI 1.0, section 3.3 (record header). */
static int
worker_head_ready(const unsigned char *buf, size_t n)
{
    size_t off = 0, clen;

    while (off + 8 <= n) {
        if (buf[off] != 1) {
            return 1;
        }
        clen = ((size_t) buf[off + 4] << 8) | buf[off + 5];
        if (buf[off + 1] == 5 && clen == 0) {     /* FCGI_STDIN, empty */
            return 1;
        }
        off += 8 + clen + buf[off + 6];
    }
    return n >= WORKER_PEEK_MAX;
}

/* Thread side, slot i (BUSY, ours) holds a whole request head: serve it,
 * then re-arm the connection (kept: IDLE; not kept: CLOSING) or free its
 * slot (libfcgi closed it after garbage or a stream error).  Can't fail. */
static void
worker_serve(struct worker *w, struct fcgi_request *req, struct handler *h,
             size_t i)
{
    struct conn *c = &w->conns[i];
    long         n;
    int          kept, closing;

    c->fresh = 0;
    metrics_busy_add(1);
    if (fcgi_request_read(req, c->fd) != 0) {
        /* peer closed or sent garbage; libfcgi closed the fd */
        metrics_busy_add(-1);
        worker_release(w, i, 1);
        return;
    }
    handler_serve(h, req);
    kept = fcgi_request_finish(req, &closing);
    metrics_busy_add(-1);
    n = atomic_fetch_add(&w->served, 1) + 1;
    if (w->cfg->app_max_requests > 0 && n >= w->cfg->app_max_requests
        && atomic_exchange(&w->recycle_sent, 1) == 0)
    {
        LOG_INFO("worker: served %ld requests, asking for a "
                 "replacement", n);
        worker_tell(w, WORKER_MSG_RECYCLE);
    }
    if (kept < 0 && closing < 0) {
        worker_release(w, i, 1);
        return;
    }
    c->kind = kept >= 0 ? CONN_IDLE : CONN_CLOSING;
    c->partial_ms = 0;
    c->since_ms = worker_now_ms();
    worker_rearm(w, i);
}

/* Thread side: the event events on slot i (BUSY, ours).  Can't fail. */
static void
worker_conn_event(struct worker *w, struct fcgi_request *req,
                  struct handler *h, size_t i, uint32_t events)
{
    unsigned char  buf[WORKER_PEEK_MAX];
    struct conn   *c = &w->conns[i];
    ssize_t        n;

    if (c->kind == CONN_CLOSING) {
        n = recv(c->fd, buf, 1024, MSG_DONTWAIT);
        if (n > 0 || (n == -1 && errno == EAGAIN)) {
            worker_rearm(w, i);
        } else {
            worker_release(w, i, 0);
        }
        return;
    }
    if (events & EPOLLERR) {
        worker_release(w, i, 0);
        return;
    }
    if (c->partial_ms != 0 && (events & (EPOLLRDHUP | EPOLLHUP))) {
        /* the sender is done: libfcgi reads to EOF without blocking and
         * the handler refuses what is missing (400) */
        worker_serve(w, req, h, i);
        return;
    }
    n = recv(c->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
        worker_release(w, i, 0);   /* the peer closed an idle connection */
        return;
    }
    if (n > 0 && worker_head_ready(buf, (size_t) n)) {
        worker_serve(w, req, h, i);
        return;
    }
    if (n > 0 && c->partial_ms == 0) {
        c->partial_ms = worker_now_ms();
        worker_rearm(w, i);
        worker_wake_sweeper(w);    /* re-peek in WORKER_RECHECK_MS */
        return;
    }
    worker_rearm(w, i);
}

/* Thread side: wait until no other thread is in epoll_wait(), then become
 * the one that is (the leader).  Followers queue on a condition variable,
 * served roughly in arrival order, so leadership, and with it the
 * requests, rotates through all threads.  0, or -1 when told to quit. */
static int
worker_lead(struct worker *w)
{
    int rc = 0;

    pthread_mutex_lock(&w->lf_lock);
    while (w->lf_leader && !w->lf_quit) {
        pthread_cond_wait(&w->lf_cond, &w->lf_lock);
    }
    if (w->lf_quit) {
        rc = -1;
    } else {
        w->lf_leader = 1;
    }
    pthread_mutex_unlock(&w->lf_lock);
    return rc;
}

/* Thread side: the leader got an event: hand leadership to the next
 * follower (it waits in epoll_wait() while we handle ours).  Can't
 * fail. */
static void
worker_unlead(struct worker *w)
{
    pthread_mutex_lock(&w->lf_lock);
    w->lf_leader = 0;
    pthread_cond_signal(&w->lf_cond);
    pthread_mutex_unlock(&w->lf_lock);
}

/* One request thread: a follower, then the leader in epoll_wait() until
 * an event arrives, then the one that handles it. */
static void *
worker_thread(void *arg)
{
    struct worker        *w = arg;
    struct fcgi_request  *req;
    struct handler       *h;
    struct epoll_event    ev;
    long                  slot;
    int                   n;
    char                  err[256];

    req = fcgi_request_create();
    h = handler_create(w->cfg, err, sizeof(err));
    if (req == NULL || h == NULL) {
        LOG_ERROR("worker: thread setup failed: %s",
                  h == NULL ? err : "out of memory");
        fcgi_request_destroy(req);
        handler_destroy(h);
        return NULL;
    }
    for (;;) {
        if (worker_lead(w) != 0) {
            break;
        }
        n = epoll_wait(w->epfd, &ev, 1, -1);
        worker_unlead(w);
        if (n != 1) {
            continue;                       /* EINTR */
        }
        if (ev.data.u64 == WORKER_TAG_QUIT) {
            break;
        }
        if (ev.data.u64 == WORKER_TAG_LISTEN) {
            worker_accept(w);
            continue;
        }
        slot = worker_claim(w, ev.data.u64);
        if (slot >= 0) {
            worker_conn_event(w, req, h, (size_t) slot, ev.events);
        }
    }
    handler_destroy(h);
    fcgi_request_destroy(req);
    return NULL;
}

/* Main thread: close connections idle, lingering or sending a head too
 * long; have threads re-peek partial heads; bring the listening socket
 * back after a pause.  Returns the ms until the next such deadline
 * (capped at 1000). */
static int
worker_sweep(struct worker *w, int64_t now)
{
    struct epoll_event  ev;
    struct conn        *c;
    int64_t             next = 1000, left, limit;
    size_t              i;

    pthread_mutex_lock(&w->lock);
    for (i = 0; i < w->high; i++) {
        c = &w->conns[i];
        if (c->state != CONN_ARMED) {
            continue;
        }
        if (c->kind == CONN_IDLE && c->partial_ms != 0) {
            if (now - c->partial_ms >= WORKER_HEAD_MS) {
                LOG_WARN("worker: request head incomplete after %d ms, "
                         "closing", WORKER_HEAD_MS);
                worker_slot_free(w, i, 0);
                continue;
            }
            /* EPOLLIN fires at once for the bytes there: a thread peeks */
            worker_slot_arm(w, i, EPOLL_CTL_MOD, 1);
            next = WORKER_RECHECK_MS;
            continue;
        }
        limit = c->kind == CONN_IDLE ? WORKER_IDLE_MS : WORKER_LINGER_MS;
        left = c->since_ms + limit - now;
        if (left <= 0) {
            worker_slot_free(w, i, 0);
            continue;
        }
        if (left < next) {
            next = left;
        }
    }
    if (w->listen_state == LISTEN_PAUSED && !w->stopping && w->nfree > 0) {
        left = w->accept_pause_until - now;
        if (left <= 0) {
            ev.events = EPOLLIN | EPOLLONESHOT;
            ev.data.u64 = WORKER_TAG_LISTEN;
            if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, w->listen_fd, &ev) == 0) {
                w->listen_state = LISTEN_ARMED;
            }
        } else if (left < next) {
            next = left;
        }
    }
    pthread_mutex_unlock(&w->lock);
    return (int) next;
}

/* Main thread: begin draining. */
static void
worker_begin_stop(struct worker *w)
{
    size_t i;

    LOG_INFO("worker: stopping, draining in-flight requests");
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    /* a thread in the middle of accepting closes it when done */
    if (w->listen_state == LISTEN_ARMED || w->listen_state == LISTEN_PAUSED) {
        close(w->listen_fd);
        w->listen_fd = -1;
        w->listen_state = LISTEN_CLOSED;
    }
    for (i = 0; i < w->high; i++) {
        /* A connection we accepted but have not read from yet carries a
         * request the web server already sent or is sending: serve it.
         * Kept connections between requests are closed (nginx notices an
         * idle upstream connection closing and opens a new one); those in
         * a thread are closed by it after their response. */
        if (w->conns[i].state == CONN_ARMED
            && w->conns[i].kind == CONN_IDLE && !w->conns[i].fresh)
        {
            worker_slot_free(w, i, 0);
        }
    }
    pthread_mutex_unlock(&w->lock);
}

/* Main thread: 1 when no thread serves or accepts and no accepted
 * connection still owes us its first request: one that is sending it
 * (bounded by WORKER_HEAD_MS), has bytes no thread picked up yet, or was
 * accepted less than WORKER_FRESH_MS ago (nginx sends at once; a silent
 * client does not hold the exit). */
static int
worker_drained(struct worker *w, int64_t now)
{
    struct conn *c;
    size_t       i;
    int          done;
    char         b;

    pthread_mutex_lock(&w->lock);
    done = w->busy == 0 && w->listen_state != LISTEN_BUSY;
    for (i = 0; done && i < w->high; i++) {
        c = &w->conns[i];
        if (c->state == CONN_ARMED && c->kind == CONN_IDLE && c->fresh
            && (c->partial_ms != 0 || now - c->since_ms < WORKER_FRESH_MS
                || recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0))
        {
            done = 0;
        }
    }
    pthread_mutex_unlock(&w->lock);
    return done;
}

/* The main thread's loop: signals, sweeps, drain.  Returns when drained
 * or past the drain deadline (then *late = 1). */
static void
worker_main_loop(struct worker *w, const sigset_t *waitmask, int *late)
{
    struct timespec  ts;
    struct pollfd    pfd;
    uint64_t         drain;
    int64_t          now, deadline = 0;
    int              stopping = 0, timeout;
    char             err[256];

    for (;;) {
        if (worker_reopen_flag) {
            worker_reopen_flag = 0;
            if (log_reopen(err, sizeof(err)) != 0) {
                LOG_ERROR("worker: log reopen: %s", err);
            }
        }
        if (worker_stop_flag && !stopping) {
            stopping = 1;
            deadline = worker_now_ms() + w->cfg->app_drain_timeout_ms;
            worker_begin_stop(w);
        }
        now = worker_now_ms();
        if (stopping) {
            if (worker_drained(w, now)) {
                break;
            }
            if (now >= deadline) {
                *late = 1;
                break;
            }
        }
        timeout = worker_sweep(w, now);
        if (stopping && timeout > WORKER_DRAIN_TICK_MS) {
            timeout = WORKER_DRAIN_TICK_MS;
        }
        if (stopping && deadline - now < timeout) {
            timeout = (int) (deadline - now);
        }
        ts.tv_sec = timeout / 1000;
        ts.tv_nsec = (long) (timeout % 1000) * 1000000L;
        pfd.fd = w->wake_fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        /* a thread's wake-up, a timeout or a signal (EINTR) */
        if (ppoll(&pfd, 1, &ts, waitmask) == 1
            && read(w->wake_fd, &drain, sizeof(drain)) == -1
            && errno != EAGAIN)
        {
            LOG_WARN("worker: eventfd read failed: %s", strerror(errno));
        }
    }
}

/* Install handlers and masks; fill waitmask for the
 * main thread's ppoll().  0 or -1. */
static int
worker_signals(sigset_t *waitmask)
{
    struct sigaction sa;
    sigset_t         block;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = worker_on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = worker_on_reopen;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, NULL);

    /* Threads inherit a mask with everything blocked; only the main
     * thread's ppoll() opens the window for our signals. */
    sigfillset(&block);
    sigdelset(&block, SIGSEGV);
    sigdelset(&block, SIGBUS);
    sigdelset(&block, SIGFPE);
    sigdelset(&block, SIGILL);
    sigdelset(&block, SIGABRT);
    if (pthread_sigmask(SIG_SETMASK, &block, NULL) != 0) {
        return -1;
    }
    *waitmask = block;
    sigdelset(waitmask, SIGTERM);
    sigdelset(waitmask, SIGINT);
    sigdelset(waitmask, SIGUSR1);
    /* If the master dies, stop like on SIGTERM. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    return 0;
}

int
worker_run(const struct config *cfg, int listen_fd, int msg_fd, pid_t master)
{
    struct worker       w;
    struct epoll_event  ev;
    pthread_t          *threads = NULL;
    sigset_t            waitmask;
    uint64_t            one = 1;
    long                i, started = 0;
    int                 late = 0, rc = 1;
    char                err[256];

    memset(&w, 0, sizeof(w));
    w.cfg = cfg;
    w.listen_fd = listen_fd;
    w.msg_fd = msg_fd;
    w.epfd = w.quit_fd = w.wake_fd = -1;
    w.listen_state = LISTEN_ARMED;
    pthread_mutex_init(&w.lock, NULL);
    pthread_mutex_init(&w.lf_lock, NULL);
    pthread_cond_init(&w.lf_cond, NULL);
    atomic_init(&w.served, 0);
    atomic_init(&w.recycle_sent, 0);

    if (worker_signals(&waitmask) != 0) {
        LOG_ERROR("worker: signal setup failed");
        goto error;
    }
    if (getppid() != master) {
        goto error;               /* the master died before prctl() */
    }
    if (fcgi_library_init(err, sizeof(err)) != 0) {
        LOG_ERROR("worker: %s", err);
        goto error;
    }
    w.conns = calloc(WORKER_MAX_CONNS, sizeof(*w.conns));
    w.free_slots = calloc(WORKER_MAX_CONNS, sizeof(*w.free_slots));
    threads = calloc((size_t) cfg->app_threads, sizeof(*threads));
    if (w.conns == NULL || w.free_slots == NULL || threads == NULL) {
        LOG_ERROR("worker: out of memory");
        goto error;
    }
    /* lowest slots on top of the stack, so the sweep stays short */
    for (i = 0; i < WORKER_MAX_CONNS; i++) {
        w.conns[i].fd = -1;
        w.free_slots[i] = (int) (WORKER_MAX_CONNS - 1 - i);
    }
    w.nfree = WORKER_MAX_CONNS;

    w.epfd = epoll_create1(EPOLL_CLOEXEC);
    w.quit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    w.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w.epfd == -1 || w.quit_fd == -1 || w.wake_fd == -1) {
        LOG_ERROR("worker: epoll_create1()/eventfd() failed: %s",
                  strerror(errno));
        goto error;
    }
    /* Level-triggered, not one-shot: once written, every waiting thread
     * sees it and exits. */
    ev.events = EPOLLIN;
    ev.data.u64 = WORKER_TAG_QUIT;
    if (epoll_ctl(w.epfd, EPOLL_CTL_ADD, w.quit_fd, &ev) != 0) {
        LOG_ERROR("worker: epoll_ctl(quit) failed: %s", strerror(errno));
        goto error;
    }
    /* One-shot: one thread accepts, then re-arms.  Not EPOLLEXCLUSIVE
     * (which epoll_ctl(2) refuses together with EPOLLONESHOT); the other
     * worker processes may wake for the same connection and get EAGAIN. */
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.u64 = WORKER_TAG_LISTEN;
    if (epoll_ctl(w.epfd, EPOLL_CTL_ADD, w.listen_fd, &ev) != 0) {
        LOG_ERROR("worker: epoll_ctl(listen) failed: %s", strerror(errno));
        goto error;
    }

    for (i = 0; i < cfg->app_threads; i++) {
        if (pthread_create(&threads[i], NULL, worker_thread, &w) != 0) {
            LOG_ERROR("worker: pthread_create() failed");
            goto error;
        }
        started++;
    }
    LOG_INFO("worker: up with %ld threads", started);
    worker_tell(&w, WORKER_MSG_READY);

    worker_main_loop(&w, &waitmask, &late);
    if (late) {
        LOG_WARN("worker: drain deadline (%lld ms) passed, exiting with "
                 "requests in flight", cfg->app_drain_timeout_ms);
        _exit(0);
    }
    rc = 0;

error:
    pthread_mutex_lock(&w.lf_lock);
    w.lf_quit = 1;
    pthread_cond_broadcast(&w.lf_cond);
    pthread_mutex_unlock(&w.lf_lock);
    if (started > 0 && write(w.quit_fd, &one, sizeof(one)) == -1) {
        LOG_ERROR("worker: eventfd write failed: %s", strerror(errno));
    }
    for (i = 0; i < started; i++) {
        pthread_join(threads[i], NULL);
    }
    for (i = 0; w.conns != NULL && i < WORKER_MAX_CONNS; i++) {
        if (w.conns[i].state != CONN_FREE) {
            close(w.conns[i].fd);
        }
    }
    if (w.quit_fd >= 0) {
        close(w.quit_fd);
    }
    if (w.wake_fd >= 0) {
        close(w.wake_fd);
    }
    if (w.epfd >= 0) {
        close(w.epfd);
    }
    if (w.listen_fd >= 0) {
        close(w.listen_fd);
    }
    free(threads);
    free(w.conns);
    free(w.free_slots);
    pthread_mutex_destroy(&w.lock);
    pthread_mutex_destroy(&w.lf_lock);
    pthread_cond_destroy(&w.lf_cond);
    if (rc == 0) {
        LOG_INFO("worker: drained, exiting");
    }
    return rc;
}
