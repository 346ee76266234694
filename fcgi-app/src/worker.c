/* worker.c -- one worker process: one thread, one event loop
 *
 * Design (libfcgi's traps, and why its blocking reads never block here:
 * fcgi.c):
 *
 *   master's listening socket (non-blocking, shared by all workers,
 *   EPOLLEXCLUSIVE so one process wakes per connection)
 *          |
 *   one loop per process (loop.c), one thread.  Every FastCGI connection
 *   is edge-triggered (EPOLLIN | EPOLLRDHUP | EPOLLET) and is in one state:
 *     IDLE     waiting for a request (just accepted: `fresh`; or kept by
 *              nginx between requests).  On each arrival the loop peeks
 *              (MSG_PEEK) at what the socket holds and frames it
 *              (frame.c): a whole request, up to its empty STDIN
 *              record, is served at once; a part of one waits (PARTIAL);
 *     PARTIAL  a request head is arriving; more arrivals re-peek (edge-
 *              triggered: a peek that leaves bytes behind fires no event,
 *              the next arrival does); by WORKER_HEAD_MS it is closed;
 *     SERVING  libfcgi has read the request from the socket (all of it was
 *              there, so nothing blocks) and handler.c is answering it,
 *              possibly over several loop turns while Redis answers;
 *     CLOSING  answered on a connection nginx does not keep: our side is
 *              shut down and whatever the peer still sends is read and
 *              dropped until it closes (no RST that could eat the
 *              response), at most WORKER_LINGER_MS.
 *   A request whose body does not fit the peek window (64 KiB; bodies
 *   are refused by every route anyway, APP_BODY_LIMIT bounds them) is
 *   served from its head, its body left unread, and the connection closed
 *   after the answer.  A head larger than the window is refused (closed).
 *
 * Per connection the loop keeps one timer (idle, head or linger deadline,
 * by state) in the loop's heap, so thousands of idle kept connections cost
 * memory only.  Nothing a request does blocks the loop: sockets are
 * non-blocking, Redis is hiredis's async API (store.c), host names are
 * looked up by resolve.c, and the log is written once per loop turn
 * (log.c).
 *
 * Stopping (SIGTERM/SIGINT): close this process's copy of the listening
 * socket (the master keeps it; the other workers keep serving), close idle
 * kept connections, serve the requests already accepted or arriving on a
 * fresh connection within WORKER_FRESH_MS, close their connections
 * instead of keeping them, and exit; past APP_DRAIN_TIMEOUT_MS exit
 * anyway.  Signal handlers only set flags; the loop lets the signals in
 * only inside epoll_pwait(), so a flag is never missed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fcgi.h"
#include "frame.h"
#include "handler.h"
#include "log.h"
#include "loop.h"
#include "worker.h"
#include "wssig.h"

#define WORKER_MAX_CONNS   65536   /* connections one process holds */
#define WORKER_IDLE_MS     300000  /* close a kept connection idle this long
                                    * (nginx closes its own after 30 s: the
                                    * upstream block's keepalive_timeout,
                                    * written by nginx/upstream-watch.sh) */
#define WORKER_LINGER_MS   2000    /* wait for the peer's close at most */
#define WORKER_PEEK_MAX    65536   /* bytes of a request we frame */
#define WORKER_HEAD_MS     5000    /* a request head must arrive by then */
#define WORKER_FRESH_MS    1000    /* draining: wait this long for the first
                                    * bytes of a just-accepted connection */
#define WORKER_ACCEPT_BATCH 64
#define WORKER_ACCEPT_PAUSE_MS 100 /* after EMFILE and the like */

enum conn_state { CONN_IDLE, CONN_PARTIAL, CONN_SERVING, CONN_CLOSING };


struct worker;

struct conn {
    struct loop_io       io;        /* io.fd: the socket */
    struct worker       *w;
    struct conn         *prev, *next;      /* open connections */
    struct fcgi_request *req;       /* while SERVING */
    struct loop_timer    timer;     /* deadline of the state */
    int                  state;
    int                  fresh;     /* accepted, no request read yet */
    int                  pending;   /* an arrival while SERVING */
    int64_t              since_ms;  /* accepted / state entered */
};

struct worker {
    const struct config  *cfg;
    struct loop          *loop;
    struct handler       *handler;
    struct loop_io        listen_io;      /* fd -1 while paused */
    int                   listen_fd;
    struct loop_timer     accept_timer;   /* accept pause */
    int                   msg_fd;
    struct conn          *open;           /* list of open connections */
    struct conn          *free_conns;     /* kept, never freed: a stale
                                           * event may still name one */
    struct fcgi_request  *free_reqs[64];
    size_t                nfree_reqs;
    long                  nconns;
    long                  busy;           /* PARTIAL, SERVING, fresh */
    long                  served;
    int                   recycle_sent;
    int                   stopping;
    int64_t               accept_warned_at;
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

static void
worker_on_reopen(int signo)
{
    (void) signo;
    worker_reopen_flag = 1;
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

/* 1 if c counts against "drained": a request on its way or in service. */
static int
worker_conn_busy(const struct conn *c)
{
    return c->state == CONN_PARTIAL || c->state == CONN_SERVING
           || (c->state == CONN_IDLE && c->fresh);
}

/* Move c to state, keeping the busy count.  Can't fail. */
static void
worker_conn_state(struct conn *c, int state)
{
    int was = worker_conn_busy(c);

    c->state = state;
    c->w->busy += worker_conn_busy(c) - was;
}

/* Close c (unless libfcgi closed its fd already) and keep the struct for
 * reuse.  Can't fail. */
static void
worker_conn_close(struct conn *c, int closed)
{
    struct worker *w = c->w;
    int            fd = c->io.fd;

    worker_conn_state(c, CONN_CLOSING);
    loop_timer_stop(w->loop, &c->timer);
    loop_io_del(w->loop, &c->io);
    if (!closed && fd >= 0) {
        close(fd);
    }
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        w->open = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    c->prev = NULL;
    c->next = w->free_conns;
    w->free_conns = c;
    w->nconns--;
}

/* Arm c's deadline for ms from now. */
static void
worker_conn_deadline(struct conn *c, int64_t ms)
{
    (void) loop_timer_at(c->w->loop, &c->timer, loop_now_ms(c->w->loop) + ms);
}

static void worker_conn_readable(struct conn *c, uint32_t events);

/* Keep a finished request object for the next request.  Can't fail. */
static void
worker_req_put(struct worker *w, struct fcgi_request *req)
{
    if (w->nfree_reqs < sizeof(w->free_reqs) / sizeof(w->free_reqs[0])) {
        w->free_reqs[w->nfree_reqs++] = req;
    } else {
        fcgi_request_destroy(req);
    }
}

/* handler.c answered c's request: finish it, then keep, close or linger
 * the connection. */
static void
worker_request_done(void *arg)
{
    struct conn   *c = arg;
    struct worker *w = c->w;
    int            kept, closing;

    kept = fcgi_request_finish(c->req, &closing);
    worker_req_put(w, c->req);
    c->req = NULL;
    w->served++;
    if (w->cfg->app_max_requests > 0 && w->served >= w->cfg->app_max_requests
        && !w->recycle_sent)
    {
        w->recycle_sent = 1;
        LOG_INFO("worker: served %ld requests, asking for a replacement",
                 w->served);
        worker_tell(w, WORKER_MSG_RECYCLE);
    }
    if (kept < 0 && closing < 0) {
        worker_conn_close(c, 1);             /* libfcgi closed it */
        return;
    }
    c->since_ms = loop_now_ms(w->loop);
    if (kept < 0) {
        worker_conn_state(c, CONN_CLOSING);
        worker_conn_deadline(c, WORKER_LINGER_MS);
        worker_conn_readable(c, EPOLLIN);    /* drop what is there */
        return;
    }
    if (w->stopping) {
        worker_conn_close(c, 0);             /* draining: no more */
        return;
    }
    worker_conn_state(c, CONN_IDLE);
    worker_conn_deadline(c, c->pending ? 0 : WORKER_IDLE_MS);
}

/* c holds a request (frame says how much of it): let libfcgi read it and
 * handler.c answer it.  c may be closed or idle again on return. */
static void
worker_serve(struct conn *c, enum frame frame)
{
    struct worker *w = c->w;

    if (w->nfree_reqs > 0) {
        c->req = w->free_reqs[--w->nfree_reqs];
    } else {
        c->req = fcgi_request_create();
        if (c->req == NULL) {
            LOG_ERROR("worker: out of memory for a request");
            worker_conn_close(c, 0);
            return;
        }
    }
    loop_timer_stop(w->loop, &c->timer);
    worker_conn_state(c, CONN_SERVING);
    c->fresh = 0;
    c->pending = 0;
    if (fcgi_request_read(c->req, c->io.fd) != 0) {
        /* garbage or EOF: libfcgi closed the fd */
        worker_req_put(w, c->req);
        c->req = NULL;
        worker_conn_close(c, 1);
        return;
    }
    if (frame == FRAME_HEAD) {
        fcgi_request_close_after(c->req);    /* body stays unread */
    }
    handler_serve(w->handler, c->req, worker_request_done, c);
}

/* An arrival (or the peer's end) on c. */
static void
worker_conn_readable(struct conn *c, uint32_t events)
{
    static unsigned char buf[WORKER_PEEK_MAX];
    ssize_t              n;
    enum frame           f;

    if (c->state == CONN_SERVING) {
        c->pending = 1;             /* looked at once the answer is out */
        return;
    }
    if (c->state == CONN_CLOSING) {
        do {
            n = recv(c->io.fd, buf, sizeof(buf), MSG_DONTWAIT);
        } while (n > 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            worker_conn_close(c, 0);
        }
        return;
    }
    n = recv(c->io.fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        worker_conn_close(c, 0);    /* the peer closed an idle connection */
        return;
    }
    if (n < 0) {
        return;                     /* nothing there after all */
    }
    f = frame_scan(buf, (size_t) n, WORKER_PEEK_MAX);
    if (f == FRAME_MORE && (events & (EPOLLRDHUP | EPOLLHUP))) {
        f = FRAME_WHOLE;            /* the sender is done: libfcgi reads to
                                     * EOF and the handler refuses what is
                                     * missing (400) */
    }
    if (f == FRAME_REJECT && (size_t) n >= WORKER_PEEK_MAX) {
        LOG_WARN("worker: request head larger than %d bytes, closing",
                 WORKER_PEEK_MAX);
        worker_conn_close(c, 0);
        return;
    }
    if (f != FRAME_MORE) {
        worker_serve(c, f);
        return;
    }
    if (c->state != CONN_PARTIAL) {
        worker_conn_state(c, CONN_PARTIAL);
        worker_conn_deadline(c, WORKER_HEAD_MS);
    }
}

/* The connection's events. */
static void
worker_conn_on_io(struct loop *l, struct loop_io *io, uint32_t events)
{
    struct conn *c = io->data;

    (void) l;
    if ((events & EPOLLERR) && c->state != CONN_SERVING) {
        worker_conn_close(c, 0);
        return;
    }
    worker_conn_readable(c, events);
}

/* c's deadline. */
static void
worker_conn_on_timer(struct loop *l, struct loop_timer *t)
{
    struct conn *c = t->data;

    (void) l;
    if (c->state == CONN_IDLE && c->pending) {
        c->pending = 0;             /* bytes came while it was SERVING */
        worker_conn_readable(c, EPOLLIN);
        return;
    }
    if (c->state == CONN_PARTIAL) {
        LOG_WARN("worker: request head incomplete after %d ms, closing",
                 WORKER_HEAD_MS);
    }
    if (c->state != CONN_SERVING) {
        worker_conn_close(c, 0);
    }
}

/* Add an accepted fd.  Closes it when out of memory or slots. */
static void
worker_conn_add(struct worker *w, int fd)
{
    struct conn *c = w->free_conns;
    int          one = 1;

    if (c != NULL) {
        w->free_conns = c->next;
    } else if (w->nconns < WORKER_MAX_CONNS) {
        c = calloc(1, sizeof(*c));
    }
    if (c == NULL) {
        close(fd);
        return;
    }
    /* libfcgi's OS_Accept sets TCP_NODELAY; we bypass it.  Fails
     * harmlessly (EOPNOTSUPP) on unix sockets. */
    (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->w = w;
    c->io.fn = worker_conn_on_io;
    c->io.data = c;
    c->req = NULL;
    c->state = CONN_CLOSING;        /* counts nothing yet */
    c->fresh = 1;
    c->pending = 0;
    c->since_ms = loop_now_ms(w->loop);
    loop_timer_init(&c->timer, worker_conn_on_timer, c);
    c->prev = NULL;
    c->next = w->open;
    if (w->open != NULL) {
        w->open->prev = c;
    }
    w->open = c;
    w->nconns++;
    if (loop_io_add(w->loop, &c->io, fd,
                    EPOLLIN | EPOLLRDHUP | EPOLLET) != 0)
    {
        c->io.fd = fd;
        worker_conn_close(c, 0);
        return;
    }
    worker_conn_state(c, CONN_IDLE);
    worker_conn_deadline(c, w->stopping ? WORKER_FRESH_MS : WORKER_IDLE_MS);
}

/* The listening socket is readable: accept what is pending (shared with
 * the other workers, so EAGAIN is normal). */
static void
worker_on_listen(struct loop *l, struct loop_io *io, uint32_t events)
{
    struct worker *w = io->data;
    int64_t        now;
    int            fd, i;

    (void) events;
    for (i = 0; i < WORKER_ACCEPT_BATCH; i++) {
        fd = accept4(io->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0) {
            worker_conn_add(w, fd);
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
            || errno == ECONNABORTED)
        {
            return;
        }
        /* e.g. EMFILE: the connection stays pending, so stop watching the
         * socket for a while instead of spinning (other workers may have
         * room) */
        now = loop_now_ms(l);
        if (w->accept_warned_at == 0 || now - w->accept_warned_at >= 10000) {
            LOG_WARN("worker: accept4() failed: %s; pausing accepts for "
                     "%d ms (logged once per 10 s)", strerror(errno),
                     WORKER_ACCEPT_PAUSE_MS);
            w->accept_warned_at = now;
        }
        loop_io_del(l, io);
        (void) loop_timer_at(l, &w->accept_timer,
                             now + WORKER_ACCEPT_PAUSE_MS);
        return;
    }
}

/* The accept pause is over. */
static void
worker_on_accept_timer(struct loop *l, struct loop_timer *t)
{
    struct worker *w = t->data;

    /* EPOLLEXCLUSIVE cannot be modified in, only added (epoll_ctl(2)) */
    if (!w->stopping && w->listen_io.fd < 0
        && loop_io_add(l, &w->listen_io, w->listen_fd,
                       EPOLLIN | EPOLLEXCLUSIVE) != 0)
    {
        LOG_ERROR("worker: epoll_ctl(listen) failed: %s", strerror(errno));
    }
}

/* Begin draining: stop accepting, close idle kept connections, give
 * fresh ones WORKER_FRESH_MS to send their request. */
static void
worker_begin_stop(struct worker *w)
{
    struct conn *c, *next;

    LOG_INFO("worker: stopping, draining in-flight requests");
    w->stopping = 1;
    loop_timer_stop(w->loop, &w->accept_timer);
    loop_io_del(w->loop, &w->listen_io);
    close(w->listen_fd);
    w->listen_fd = -1;
    for (c = w->open; c != NULL; c = next) {
        next = c->next;
        if (c->state == CONN_IDLE && !c->fresh && !c->pending) {
            worker_conn_close(c, 0);
        } else if (c->state == CONN_IDLE && c->fresh) {
            (void) loop_timer_at(w->loop, &c->timer,
                                 c->since_ms + WORKER_FRESH_MS);
        }
    }
}

/* Before the loop sleeps: the log's batched lines go out. */
static void
worker_flush_log(struct loop *l, void *arg)
{
    (void) l;
    (void) arg;
    log_flush();
}

/* The loop until stopped and drained, or past the drain deadline (then
 * returns 1). */
static int
worker_loop(struct worker *w, const sigset_t *waitmask)
{
    int64_t deadline = 0, now;
    char    err[256];

    for (;;) {
        if (worker_reopen_flag) {
            worker_reopen_flag = 0;
            log_flush();
            if (log_reopen(err, sizeof(err)) != 0) {
                LOG_ERROR("worker: log reopen: %s", err);
            }
        }
        if (worker_stop_flag && !w->stopping) {
            deadline = loop_clock_ms() + w->cfg->app_drain_timeout_ms;
            worker_begin_stop(w);
        }
        now = loop_clock_ms();
        if (w->stopping) {
            if (w->busy == 0) {
                return 0;
            }
            if (now >= deadline) {
                return 1;
            }
        }
        (void) loop_turn(w->loop, w->stopping ? (int) (deadline - now) : -1,
                         waitmask);
    }
}

/* Install handlers; block our signals everywhere but inside the loop's
 * epoll_pwait() (waitmask).  0 or -1. */
static int
worker_signals(sigset_t *waitmask)
{
    static const int sigs[] = { SIGTERM, SIGINT, SIGUSR1 };

    wssig_handle(SIGTERM, worker_on_stop);
    wssig_handle(SIGINT, worker_on_stop);
    wssig_handle(SIGUSR1, worker_on_reopen);
    wssig_handle(SIGHUP, SIG_IGN);
    wssig_handle(SIGPIPE, SIG_IGN);
    wssig_handle(SIGCHLD, SIG_DFL);
    if (wssig_block(sigs, sizeof(sigs) / sizeof(sigs[0]), waitmask) != 0) {
        return -1;
    }
    /* If the master dies, stop like on SIGTERM. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    return 0;
}

/* Set up w's loop, handler and listening socket.  0 or -1 (logged). */
static int
worker_setup(struct worker *w, int listen_fd)
{
    char err[256];

    if (fcgi_library_init(err, sizeof(err)) != 0) {
        LOG_ERROR("worker: %s", err);
        return -1;
    }
    w->loop = loop_create(err, sizeof(err));
    if (w->loop == NULL) {
        LOG_ERROR("worker: %s", err);
        return -1;
    }
    w->handler = handler_create(w->cfg, w->loop, err, sizeof(err));
    if (w->handler == NULL) {
        LOG_ERROR("worker: %s", err);
        return -1;
    }
    if (loop_before_sleep(w->loop, worker_flush_log, w) != 0) {
        LOG_ERROR("worker: loop hooks full");
        return -1;
    }
    log_batch(1);
    w->listen_fd = listen_fd;
    loop_timer_init(&w->accept_timer, worker_on_accept_timer, w);
    w->listen_io.fn = worker_on_listen;
    w->listen_io.data = w;
    /* EPOLLEXCLUSIVE: one of the workers waiting on the shared socket is
     * woken per connection, not all (epoll_ctl(2)). */
    if (loop_io_add(w->loop, &w->listen_io, listen_fd,
                    EPOLLIN | EPOLLEXCLUSIVE) != 0)
    {
        LOG_ERROR("worker: epoll_ctl(listen) failed: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int
worker_run(const struct config *cfg, int listen_fd, int msg_fd, pid_t master)
{
    struct worker  w;
    struct conn   *c;
    sigset_t       waitmask;
    int            late = 0, rc = 1;

    memset(&w, 0, sizeof(w));
    w.cfg = cfg;
    w.msg_fd = msg_fd;
    w.listen_io.fd = -1;
    w.listen_fd = -1;
    if (worker_signals(&waitmask) != 0) {
        LOG_ERROR("worker: signal setup failed");
        close(listen_fd);
        return 1;
    }
    if (getppid() != master) {
        close(listen_fd);
        return 1;                  /* the master died before prctl() */
    }
    if (worker_setup(&w, listen_fd) != 0) {
        if (w.listen_fd < 0) {
            close(listen_fd);
        }
        goto done;
    }
    LOG_INFO("worker: up (one event loop)");
    worker_tell(&w, WORKER_MSG_READY);
    late = worker_loop(&w, &waitmask);
    if (late) {
        LOG_WARN("worker: drain deadline (%lld ms) passed, exiting with "
                 "requests in flight", cfg->app_drain_timeout_ms);
        log_flush();
        _exit(0);
    }
    rc = 0;

done:
    while (w.open != NULL) {
        worker_conn_close(w.open, 0);
    }
    handler_destroy(w.handler);
    if (w.listen_fd >= 0) {
        close(w.listen_fd);
    }
    while ((c = w.free_conns) != NULL) {
        w.free_conns = c->next;
        free(c);
    }
    while (w.nfree_reqs > 0) {
        fcgi_request_destroy(w.free_reqs[--w.nfree_reqs]);
    }
    loop_destroy(w.loop);
    if (rc == 0) {
        LOG_INFO("worker: drained, exiting");
    }
    log_flush();
    log_batch(0);
    return rc;
}
