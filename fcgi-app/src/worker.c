/* worker.c -- one worker process: a poller thread and a request pool
 *
 * Design (why: see the libfcgi traps in fcgi.c):
 *
 *   master's listening socket (non-blocking, shared by all workers)
 *          |
 *   poller (the process's main thread, ppoll())
 *     - accept4()s new connections; they join the IDLE set;
 *     - polls IDLE connections (new or kept by nginx between requests) for
 *       POLLIN and peeks (MSG_PEEK): once a whole request (BEGIN_REQUEST,
 *       PARAMS, STDIN up to its empty end record; or 16 KB of it) is in the
 *       socket the connection goes to the READY queue; one at EOF is closed
 *       right here; a request still incomplete after WORKER_HEAD_MS is
 *       closed, so a slow or stalled sender never holds a thread inside
 *       libfcgi's blocking reads;
 *     - polls CLOSING connections (we shut down our side after a response
 *       on a connection nginx does not keep) and closes them when the peer
 *       closes or after WORKER_LINGER_MS, so no thread ever lingers;
 *     - wakes on a self-pipe when a thread gives a connection back, and on
 *       the signals it alone leaves unblocked during ppoll().
 *   request threads (APP_THREADS), all signals blocked:
 *     - pop a READY fd, fcgi_request_read() it (libfcgi reads the request
 *       from that fd instead of accepting), handler_serve(), then
 *       fcgi_request_finish(): a kept connection goes back to the poller as
 *       IDLE, a finished one as CLOSING.
 *
 * So an idle kept connection costs a pollfd, not a thread, and stopping
 * never waits on a thread blocked in accept().  SIGTERM/SIGINT: the poller
 * stops accepting (closes its copy of the listening socket: the master
 * keeps it open, other workers keep serving), closes idle connections,
 * lets queued and in-flight requests finish, closes their connections
 * instead of keeping them, and exits; past APP_DRAIN_TIMEOUT_MS it exits
 * anyway.  Signal handlers only set flags.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fcgi.h"
#include "handler.h"
#include "log.h"
#include "metrics.h"
#include "worker.h"

#define WORKER_MAX_CONNS   4096    /* idle + closing connections polled */
#define WORKER_IDLE_MS     300000  /* close a kept connection idle this long
                                    * (nginx's keepalive_timeout is 60 s) */
#define WORKER_LINGER_MS   2000    /* wait for the peer's close at most */
#define WORKER_IO_TIMEOUT_S 10     /* SO_RCVTIMEO/SNDTIMEO per socket */
#define WORKER_PEEK_MAX    16384   /* bytes of a request head we inspect */
#define WORKER_HEAD_MS     5000    /* a request head must arrive by then */
#define WORKER_RECHECK_MS  5       /* re-peek a partial head this often */
#define WORKER_FRESH_MS    1000    /* draining: wait this long for the first
                                    * bytes of a just-accepted connection */

enum conn_kind { CONN_IDLE, CONN_CLOSING };

struct conn {
    int      fd;
    int      kind;
    int      fresh;        /* accepted, no request read yet */
    int64_t  since_ms;
    int64_t  partial_ms;   /* a request head started arriving; 0: none */
};

struct worker_ret {
    int fd;
    int kind;
};

struct worker {
    const struct config  *cfg;
    int                   listen_fd;
    int                   msg_fd;
    int                   wake[2];       /* threads -> poller */

    pthread_mutex_t       lock;
    pthread_cond_t        cond;
    int                  *ready;         /* ring of READY fds */
    size_t                ready_head, ready_len;
    struct worker_ret    *rets;          /* ring of given-back fds */
    size_t                rets_head, rets_len;
    int                   quit;          /* threads exit when set */
    long                  inflight;      /* popped, not given back */

    atomic_long           served;
    atomic_int            recycle_sent;

    struct conn          *conns;
    size_t                nconns;
    int64_t               accept_pause_until;   /* after EMFILE etc. */
    int64_t               accept_warned_at;     /* log it once a while */
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

/* SIGUSR1: the poller reopens the log. */
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

/* Thread side: give fd back to the poller as kind.  Can't fail (the rings
 * are sized for every connection the poller can own). */
static void
worker_give_back(struct worker *w, int fd, int kind)
{
    char c = 1;
    size_t cap = WORKER_MAX_CONNS;

    pthread_mutex_lock(&w->lock);
    w->rets[(w->rets_head + w->rets_len) % cap].fd = fd;
    w->rets[(w->rets_head + w->rets_len) % cap].kind = kind;
    w->rets_len++;
    w->inflight--;
    pthread_mutex_unlock(&w->lock);
    if (write(w->wake[1], &c, 1) == -1 && errno != EAGAIN) {
        LOG_WARN("worker: wake write failed: %s", strerror(errno));
    }
}

/* Thread side: the next READY fd, or -1 when told to quit. */
static int
worker_take(struct worker *w)
{
    int fd = -1;

    pthread_mutex_lock(&w->lock);
    while (w->ready_len == 0 && !w->quit) {
        pthread_cond_wait(&w->cond, &w->lock);
    }
    if (w->ready_len > 0) {
        fd = w->ready[w->ready_head];
        w->ready_head = (w->ready_head + 1) % WORKER_MAX_CONNS;
        w->ready_len--;
        w->inflight++;
    }
    pthread_mutex_unlock(&w->lock);
    return fd;
}

/* One request thread. */
static void *
worker_thread(void *arg)
{
    struct worker        *w = arg;
    struct fcgi_request  *req;
    struct handler       *h;
    long                  n;
    int                   fd, kept, closing;
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
        fd = worker_take(w);
        if (fd < 0) {
            break;
        }
        metrics_busy_add(1);
        if (fcgi_request_read(req, fd) != 0) {
            /* peer closed or sent garbage; libfcgi closed the fd */
            metrics_busy_add(-1);
            pthread_mutex_lock(&w->lock);
            w->inflight--;
            pthread_mutex_unlock(&w->lock);
            continue;
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
        if (kept >= 0) {
            worker_give_back(w, kept, CONN_IDLE);
        } else if (closing >= 0) {
            worker_give_back(w, closing, CONN_CLOSING);
        } else {
            pthread_mutex_lock(&w->lock);
            w->inflight--;
            pthread_mutex_unlock(&w->lock);
        }
    }
    handler_destroy(h);
    fcgi_request_destroy(req);
    return NULL;
}

/* Poller: remember fd in the conn table, or close it if full. */
static void
worker_conn_add(struct worker *w, int fd, int kind)
{
    if (w->nconns >= WORKER_MAX_CONNS) {
        close(fd);
        return;
    }
    w->conns[w->nconns].fd = fd;
    w->conns[w->nconns].kind = kind;
    w->conns[w->nconns].fresh = 0;
    w->conns[w->nconns].partial_ms = 0;
    w->conns[w->nconns].since_ms = worker_now_ms();
    w->nconns++;
}

/* Poller: forget conns[i] (swap with the last). */
static void
worker_conn_del(struct worker *w, size_t i)
{
    w->conns[i] = w->conns[--w->nconns];
}

/* Poller: queue fd for a thread.  Can't fail: the ring holds every
 * connection the process may own. */
static void
worker_enqueue(struct worker *w, int fd)
{
    pthread_mutex_lock(&w->lock);
    w->ready[(w->ready_head + w->ready_len) % WORKER_MAX_CONNS] = fd;
    w->ready_len++;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* Poller: set the per-socket options libfcgi's blocking I/O relies on. */
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

/* Poller: connections this process holds anywhere (polled, queued, in
 * a thread, being given back); bounded by WORKER_MAX_CONNS so the rings
 * never overflow. */
static size_t
worker_owned(struct worker *w)
{
    size_t n;

    pthread_mutex_lock(&w->lock);
    n = w->nconns + w->ready_len + (size_t) w->inflight + w->rets_len;
    pthread_mutex_unlock(&w->lock);
    return n;
}

/* Poller: accept what is pending (the socket is non-blocking and shared
 * with the other workers, so EAGAIN is normal). */
static void
worker_accept(struct worker *w)
{
    int fd, i;

    for (i = 0; i < 64 && worker_owned(w) < WORKER_MAX_CONNS; i++) {
        fd = accept4(w->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd == -1) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR
                && errno != ECONNABORTED)
            {
                /* e.g. EMFILE: the pending connection stays readable, so
                 * stop polling the socket for a while instead of spinning
                 * (other workers may still have room) */
                int64_t now = worker_now_ms();

                if (w->accept_warned_at == 0
                    || now - w->accept_warned_at >= 10000)
                {
                    LOG_WARN("worker: accept4() failed: %s; pausing "
                             "accepts for 100 ms (logged once per 10 s)",
                             strerror(errno));
                    w->accept_warned_at = now;
                }
                w->accept_pause_until = now + 100;
            }
            return;
        }
        worker_sockopts(fd);
        worker_conn_add(w, fd, CONN_IDLE);
        if (w->nconns > 0 && w->conns[w->nconns - 1].fd == fd) {
            w->conns[w->nconns - 1].fresh = 1;
        }
    }
}

/* Poller: take back what threads returned. */
static void
worker_collect(struct worker *w, int stopping)
{
    char   drain[64];
    struct worker_ret r;

    while (read(w->wake[0], drain, sizeof(drain)) > 0) {
    }
    pthread_mutex_lock(&w->lock);
    while (w->rets_len > 0) {
        r = w->rets[w->rets_head];
        w->rets_head = (w->rets_head + 1) % WORKER_MAX_CONNS;
        w->rets_len--;
        pthread_mutex_unlock(&w->lock);
        if (stopping && r.kind == CONN_IDLE) {
            close(r.fd);      /* draining: no further requests */
        } else {
            worker_conn_add(w, r.fd, r.kind);
        }
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
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

/* Poller: look at what conns[i] (idle) has received.  A whole request
 * head goes to a thread, so a thread never waits on a slow or stalled
 * sender; EOF or an error closes; a partial head is re-checked every
 * WORKER_RECHECK_MS (poll() cannot wait for "more") until WORKER_HEAD_MS.
 * Returns 1 if conns[i] was removed. */
static int
worker_peek(struct worker *w, size_t i)
{
    unsigned char buf[WORKER_PEEK_MAX];
    ssize_t       n;
    int           fd = w->conns[i].fd;

    n = recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
        close(fd);             /* the peer closed an idle connection */
        worker_conn_del(w, i);
        return 1;
    }
    if (n > 0 && worker_head_ready(buf, (size_t) n)) {
        worker_conn_del(w, i);
        worker_enqueue(w, fd);
        return 1;
    }
    if (n > 0 && w->conns[i].partial_ms == 0) {
        w->conns[i].partial_ms = worker_now_ms();
    }
    return 0;
}

/* Poller: handle events on conns[i].  Returns 1 if conns[i] was removed. */
static int
worker_conn_event(struct worker *w, size_t i, short revents)
{
    char    buf[1024];
    ssize_t n;
    int     fd = w->conns[i].fd;

    if (w->conns[i].kind == CONN_CLOSING) {
        n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0 || (n == -1 && errno == EAGAIN)) {
            return 0;
        }
        close(fd);
        worker_conn_del(w, i);
        return 1;
    }
    if (revents & (POLLERR | POLLNVAL)) {
        close(fd);
        worker_conn_del(w, i);
        return 1;
    }
    if (w->conns[i].partial_ms != 0 && (revents & (POLLRDHUP | POLLHUP))) {
        /* the sender is done: libfcgi reads to EOF without blocking and
         * the handler refuses what is missing (400) */
        worker_conn_del(w, i);
        worker_enqueue(w, fd);
        return 1;
    }
    return worker_peek(w, i);
}

/* Poller: close connections idle or lingering too long; returns the ms
 * until the next such deadline (capped at 1000). */
static int
worker_expire(struct worker *w, int64_t now)
{
    int64_t next = 1000, left, limit;
    size_t  i = 0;

    while (i < w->nconns) {
        if (w->conns[i].partial_ms != 0) {
            if (now - w->conns[i].partial_ms >= WORKER_HEAD_MS) {
                LOG_WARN("worker: request head incomplete after %d ms, "
                         "closing", WORKER_HEAD_MS);
                close(w->conns[i].fd);
                worker_conn_del(w, i);
                continue;
            }
            if (worker_peek(w, i)) {
                continue;
            }
            if (w->conns[i].partial_ms != 0) {
                next = WORKER_RECHECK_MS;
                i++;
                continue;
            }
        }
        limit = w->conns[i].kind == CONN_IDLE ? WORKER_IDLE_MS
                                              : WORKER_LINGER_MS;
        left = w->conns[i].since_ms + limit - now;
        if (left <= 0) {
            close(w->conns[i].fd);
            worker_conn_del(w, i);
            continue;
        }
        if (left < next) {
            next = left;
        }
        i++;
    }
    return (int) next;
}

/* Poller: begin draining. */
static void
worker_begin_stop(struct worker *w)
{
    size_t i = 0;

    LOG_INFO("worker: stopping, draining in-flight requests");
    if (w->listen_fd >= 0) {
        close(w->listen_fd);
        w->listen_fd = -1;
    }
    while (i < w->nconns) {
        /* A connection we accepted but have not read from yet carries a
         * request the web server already sent or is sending: serve it.
         * Kept connections between requests are closed (nginx notices an
         * idle upstream connection closing and opens a new one). */
        if (w->conns[i].kind == CONN_IDLE && !w->conns[i].fresh) {
            close(w->conns[i].fd);
            worker_conn_del(w, i);
            continue;
        }
        i++;
    }
}

/* Poller: 1 when nothing is queued or in flight and no accepted
 * connection still owes us its first request: one that is sending it
 * (bounded by WORKER_HEAD_MS) or was accepted less than WORKER_FRESH_MS
 * ago (nginx sends at once; a silent client does not hold the exit). */
static int
worker_drained(struct worker *w, int64_t now)
{
    size_t i;
    int    done;

    for (i = 0; i < w->nconns; i++) {
        if (w->conns[i].kind == CONN_IDLE && w->conns[i].fresh
            && (w->conns[i].partial_ms != 0
                || now - w->conns[i].since_ms < WORKER_FRESH_MS))
        {
            return 0;
        }
    }
    pthread_mutex_lock(&w->lock);
    done = w->ready_len == 0 && w->inflight == 0 && w->rets_len == 0;
    pthread_mutex_unlock(&w->lock);
    return done;
}

/* The poller loop; returns when drained or past the drain deadline (then
 * *late = 1). */
static void
worker_poll_loop(struct worker *w, const sigset_t *waitmask, int *late)
{
    struct pollfd   *pfds;
    struct timespec  ts;
    int64_t          now, deadline = 0;
    size_t           i, n, base;
    int              stopping = 0, timeout, rc;
    char             err[256];

    pfds = calloc(WORKER_MAX_CONNS + 2, sizeof(*pfds));
    if (pfds == NULL) {
        LOG_ERROR("worker: out of memory");
        return;
    }
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
        worker_collect(w, stopping);
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
        timeout = worker_expire(w, now);
        if (w->accept_pause_until > now
            && w->accept_pause_until - now < timeout)
        {
            timeout = (int) (w->accept_pause_until - now);
        }
        if (stopping && deadline - now < timeout) {
            timeout = (int) (deadline - now);
        }

        n = 0;
        pfds[n].fd = w->wake[0];
        pfds[n++].events = POLLIN;
        if (!stopping && worker_owned(w) < WORKER_MAX_CONNS
            && now >= w->accept_pause_until)
        {
            pfds[n].fd = w->listen_fd;
            pfds[n++].events = POLLIN;
        }
        base = n;
        for (i = 0; i < w->nconns; i++) {
            pfds[n].fd = w->conns[i].fd;
            /* a partial head is re-peeked on a timer, not on POLLIN,
             * which would fire again at once for the unread bytes; only
             * the sender's end of stream (POLLRDHUP) is watched */
            pfds[n].events = w->conns[i].partial_ms ? POLLRDHUP : POLLIN;
            pfds[n++].revents = 0;
        }
        ts.tv_sec = timeout / 1000;
        ts.tv_nsec = (long) (timeout % 1000) * 1000000L;
        rc = ppoll(pfds, n, &ts, waitmask);
        if (rc <= 0) {
            continue;             /* timeout or a signal (EINTR) */
        }
        if (base == 2 && (pfds[1].revents & POLLIN)) {
            worker_accept(w);
        }
        /* Walk backwards: worker_conn_del() swaps in the last entry, which
         * was already visited, so no event is skipped or seen twice.
         * Entries added by worker_accept() sit past base+count and are
         * not indexed here. */
        for (i = n - base; i-- > 0;) {
            if (pfds[base + i].revents != 0 && i < w->nconns
                && w->conns[i].fd == pfds[base + i].fd)
            {
                worker_conn_event(w, i, pfds[base + i].revents);
            }
        }
    }
    free(pfds);
}

/* Install handlers and masks; fill waitmask for ppoll().  0 or -1. */
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

    /* Threads inherit a mask with everything blocked; only the poller's
     * ppoll() opens the window for our signals. */
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
    struct worker   w;
    pthread_t      *threads = NULL;
    sigset_t        waitmask;
    long            i, started = 0;
    int             late = 0, rc = 1;
    char            err[256];

    memset(&w, 0, sizeof(w));
    w.cfg = cfg;
    w.listen_fd = listen_fd;
    w.msg_fd = msg_fd;
    w.wake[0] = w.wake[1] = -1;
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
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
    if (pipe2(w.wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        LOG_ERROR("worker: pipe2() failed: %s", strerror(errno));
        goto error;
    }
    w.ready = calloc(WORKER_MAX_CONNS, sizeof(*w.ready));
    w.rets = calloc(WORKER_MAX_CONNS, sizeof(*w.rets));
    w.conns = calloc(WORKER_MAX_CONNS, sizeof(*w.conns));
    threads = calloc((size_t) cfg->app_threads, sizeof(*threads));
    if (w.ready == NULL || w.rets == NULL || w.conns == NULL
        || threads == NULL)
    {
        LOG_ERROR("worker: out of memory");
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

    worker_poll_loop(&w, &waitmask, &late);
    if (late) {
        LOG_WARN("worker: drain deadline (%lld ms) passed, exiting with "
                 "requests in flight", cfg->app_drain_timeout_ms);
        _exit(0);
    }
    rc = 0;

error:
    pthread_mutex_lock(&w.lock);
    w.quit = 1;
    pthread_cond_broadcast(&w.cond);
    pthread_mutex_unlock(&w.lock);
    for (i = 0; i < started; i++) {
        pthread_join(threads[i], NULL);
    }
    for (i = 0; i < (long) w.nconns; i++) {
        close(w.conns[i].fd);
    }
    while (w.ready_len > 0) {
        close(w.ready[w.ready_head]);
        w.ready_head = (w.ready_head + 1) % WORKER_MAX_CONNS;
        w.ready_len--;
    }
    if (w.wake[0] >= 0) {
        close(w.wake[0]);
        close(w.wake[1]);
    }
    if (w.listen_fd >= 0) {
        close(w.listen_fd);
    }
    free(threads);
    free(w.ready);
    free(w.rets);
    free(w.conns);
    pthread_mutex_destroy(&w.lock);
    pthread_cond_destroy(&w.cond);
    if (rc == 0) {
        LOG_INFO("worker: drained, exiting");
    }
    return rc;
}
