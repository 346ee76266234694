/* tcpout.c -- best-effort json_lines over TCP with reconnect
 *
 * Events are queued whole; when the queue is full a new event is dropped
 * (and counted) rather than an old one, so the stream the endpoint sees
 * is always a sequence of whole lines.  If the connection breaks in the
 * middle of an event, the event is sent again from its start on the next
 * connection, so the endpoint may see that one event twice (once cut
 * short); Logstash's json_lines codec reports the cut line as a parse
 * failure and goes on.  Reconnects back off from 100 ms to 5 s.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcpout.h"
#include "wsaddr.h"

#define TCPOUT_BACKOFF_MIN 100
#define TCPOUT_BACKOFF_MAX 5000

struct tcpout {
    char       host[256];
    char       port[16];
    int        fd;
    int        connecting;
    char      *buf;
    size_t     cap;
    size_t     head;            /* next byte to send */
    size_t     line_start;      /* start of the event being sent */
    size_t     tail;
    long long  retry_ms;        /* next connect attempt */
    long long  backoff;
    uint64_t   dropped;
};

/*
 * Create the output for "host:port" or "[v6]:port" (lib/wsaddr.h) with a
 * queue of cap bytes.  The first connection attempt happens in
 * tcpout_service().  Returns NULL with err.
 */
struct tcpout *
tcpout_create(const char *hostport, size_t cap, char *err, size_t errlen)
{
    struct tcpout *t;
    char perr[160];
    int port;

    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        snprintf(err, errlen, "out of memory");
        goto error;
    }
    if (wsaddr_parse(hostport, strlen(hostport), t->host, sizeof(t->host),
            &port, perr, sizeof(perr)) != 0)
    {
        snprintf(err, errlen, "tcp: \"%s\" is not HOST:PORT: %s", hostport,
            perr);
        goto error;
    }
    t->buf = malloc(cap);
    if (t->buf == NULL) {
        snprintf(err, errlen, "out of memory");
        goto error;
    }
    snprintf(t->port, sizeof(t->port), "%d", port);
    t->cap = cap;
    t->fd = -1;
    t->backoff = TCPOUT_BACKOFF_MIN;
    return t;

error:
    tcpout_destroy(t);
    return NULL;
}

/* Close and free.  Accepts NULL. */
void
tcpout_destroy(struct tcpout *t)
{
    if (t == NULL) {
        return;
    }
    if (t->fd >= 0) {
        close(t->fd);
    }
    free(t->buf);
    free(t);
}

/* Queue one whole event, or drop it if the queue is full. */
void
tcpout_append(struct tcpout *t, const char *buf, size_t len)
{
    if (t->tail + len > t->cap && t->line_start > 0) {
        memmove(t->buf, t->buf + t->line_start, t->tail - t->line_start);
        t->head -= t->line_start;
        t->tail -= t->line_start;
        t->line_start = 0;
    }
    if (t->tail + len > t->cap) {
        t->dropped++;
        return;
    }
    memcpy(t->buf + t->tail, buf, len);
    t->tail += len;
}

/*
 * The descriptor to poll and the events wanted, or -1 when there is none
 * (not connected: wait until tcpout_next_ms()).
 */
int
tcpout_poll_fd(const struct tcpout *t, short *events)
{
    if (t->fd < 0) {
        return -1;
    }
    *events = (short) (t->connecting || t->tail > t->head ? POLLOUT : 0);
    return t->fd;
}

/* When tcpout_service() wants to run next, or -1 for "on poll events". */
long long
tcpout_next_ms(const struct tcpout *t)
{
    return t->fd < 0 ? t->retry_ms : -1;
}

/* Events dropped because the queue was full.  This can't fail. */
uint64_t
tcpout_dropped(const struct tcpout *t)
{
    return t->dropped;
}

/* Drop the connection, rewind to the cut event, schedule a retry. */
static void
tcpout_fail(struct tcpout *t, long long now_ms)
{
    if (t->fd >= 0) {
        close(t->fd);
    }
    t->fd = -1;
    t->connecting = 0;
    t->head = t->line_start;            /* resend the cut event whole */
    t->retry_ms = now_ms + t->backoff;
    t->backoff = t->backoff * 2 > TCPOUT_BACKOFF_MAX ? TCPOUT_BACKOFF_MAX
                                                     : t->backoff * 2;
}

/* Start a non-blocking connect.  Returns 0, or -1 with err. */
static int
tcpout_connect(struct tcpout *t, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    int rc, fd;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(t->host, t->port, &hints, &res);
    if (rc != 0 || res == NULL) {
        snprintf(err, errlen, "tcp: getaddrinfo(%s): %s", t->host,
            gai_strerror(rc));
        return -1;
    }
    fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK
        | SOCK_CLOEXEC, res->ai_protocol);
    if (fd < 0) {
        snprintf(err, errlen, "tcp: socket(): %s", strerror(errno));
        freeaddrinfo(res);
        return -1;
    }
    rc = connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc != 0 && errno != EINPROGRESS) {
        snprintf(err, errlen, "tcp: connect(%s:%s): %s", t->host, t->port,
            strerror(errno));
        close(fd);
        return -1;
    }
    t->fd = fd;
    t->connecting = 1;
    return 0;
}

/*
 * Make progress: connect when due, finish a pending connect, send queued
 * bytes.  Returns TCPOUT_IDLE, TCPOUT_CONNECTED, or TCPOUT_LOST with err
 * filled.
 */
int
tcpout_service(struct tcpout *t, long long now_ms, char *err, size_t errlen)
{
    int result = TCPOUT_IDLE;

    if (t->fd < 0) {
        if (now_ms < t->retry_ms) {
            return TCPOUT_IDLE;
        }
        if (tcpout_connect(t, err, errlen) != 0) {
            tcpout_fail(t, now_ms);
            return TCPOUT_LOST;
        }
    }
    if (t->connecting) {
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        struct pollfd pfd = { t->fd, POLLOUT, 0 };

        if (poll(&pfd, 1, 0) == 0) {
            return TCPOUT_IDLE;
        }
        if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0
            || soerr != 0)
        {
            snprintf(err, errlen, "tcp: connect(%s:%s): %s", t->host,
                t->port, strerror(soerr ? soerr : errno));
            tcpout_fail(t, now_ms);
            return TCPOUT_LOST;
        }
        t->connecting = 0;
        t->backoff = TCPOUT_BACKOFF_MIN;
        result = TCPOUT_CONNECTED;
    }
    while (t->tail > t->head) {
        ssize_t n = send(t->fd, t->buf + t->head, t->tail - t->head,
            MSG_NOSIGNAL);
        const char *nl;

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN) {
                break;
            }
            snprintf(err, errlen, "tcp: send(%s:%s): %s", t->host, t->port,
                strerror(errno));
            tcpout_fail(t, now_ms);
            return TCPOUT_LOST;
        }
        t->head += (size_t) n;
        /* the event being sent starts after the last newline sent */
        nl = memrchr(t->buf + t->line_start, '\n', t->head - t->line_start);
        if (nl != NULL) {
            t->line_start = (size_t) (nl - t->buf) + 1;
        }
    }
    if (t->head == t->tail) {
        t->head = t->tail = t->line_start = 0;
    }
    return result;
}
