/* fcgi.c -- the libfcgi seam: one FastCGI request on a given connection
 *
 * libfcgi 2.4.2 (Debian 2.4.2-2+deb12u1, libfcgi/fcgiapp.c and
 * libfcgi/os_unix.c, read for this design) has traps for an event-driven
 * server behind nginx with `fastcgi_keep_conn on`:
 *
 * 1. FCGX_Accept_r() blocks in accept() on req->listen_sock, and on a kept
 *    connection it blocks reading the next request: one idle connection
 *    would pin the loop.  So we never let it accept: worker.c does
 *    accept() and epoll, and hands us a non-blocking fd whose socket
 *    already holds the whole request (worker.c frames the records with
 *    MSG_PEEK), so libfcgi's read()s (OS_Read is a plain read(2)) find
 *    their bytes and never wait.  We set
 *    req.ipcFd = fd; Accept_r skips OS_Accept() when ipcFd >= 0 ("If a
 *    connection isn't open, accept a new connection") and reads from it.
 *    listen_sock is -1, so if libfcgi ever falls back to OS_Accept() (it
 *    does after a protocol error: TryAgain frees the request, sets ipcFd
 *    to -1 and loops), accept(-1) fails with EBADF and Accept_r returns
 *    instead of blocking.
 * 2. Accept_r starts with FCGX_Finish_r(), which calls FCGX_Free(req,
 *    close = !keepConnection): with keepConnection == 0 it would close our
 *    fresh fd before reading it.  We set keepConnection = 1 first; the
 *    BEGIN_REQUEST record then overwrites it with the web server's flag.
 * 3. FCGX_Free(req, 1) calls OS_IpcClose(fd, !detached), and OS_Close()
 *    with shutdown does shutdown(SHUT_WR) then poll()s up to 2 s
 *    (libfcgiOsClosePollTimeout) for the peer to close: a thread lingers 2 s
 *    per closed connection.  We set detached = 1 so libfcgi's closes are a
 *    plain close(), and for connections the web server does not keep we
 *    lie keepConnection = 1 to FCGX_Finish_r(): it then only flushes and
 *    writes END_REQUEST, and we shutdown(SHUT_WR) ourselves and hand the fd
 *    back to worker.c's loop, which closes it when the peer does (or
 *    after a deadline), without waiting for it.
 * 4. OS_LibInit() installs handlers for SIGPIPE, SIGUSR1 and SIGTERM that
 *    set libfcgi's shutdownPending, but only where the disposition is still
 *    SIG_DFL; the app installs its own first (fcgi_library_init's
 *    contract).
 * 5. ReadParams() trusts the 31-bit lengths in a params record: with
 *    nameLen + valueLen + 2 overflowing int, Malloc() fails and ASSERTs
 *    (CVE-2025-23016; the Debian patch only rejects lengths == INT_MAX).
 *    That aborts the whole worker process, with the requests in flight in
 *    it; the master respawns it, which is the containment
 *    (tests/pool/test_event_loop.py crafts such a record:
 *    crafted_params_record_costs_one_worker_and_its_in_flight_only).
 * 6. The response is buffered by libfcgi (8 KiB stream buffer) and written
 *    by FCGX_Finish_r() with write(2) on the non-blocking socket.  A write
 *    that finds the socket's send buffer full fails with EAGAIN, which
 *    libfcgi treats as a stream error: the connection is closed.  nginx
 *    reads its upstream at once and the largest response (/metrics) is a
 *    few KiB, far below a socket buffer, so only a peer that stops reading
 *    its responses meets it, and it loses its connection, not the loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "fcgi.h"

struct fcgi_request {
    FCGX_Request req;
    int          open;          /* a request is being served */
    int          keep;          /* web server wants the connection kept */
    int          force_close;
};

int
fcgi_library_init(char *err, size_t errlen)
{
    int rc = FCGX_Init();

    if (rc != 0) {
        snprintf(err, errlen, "FCGX_Init() failed: %d", rc);
        return -1;
    }
    return 0;
}

struct fcgi_request *
fcgi_request_create(void)
{
    struct fcgi_request *r;

    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return NULL;
    }
    if (FCGX_InitRequest(&r->req, -1, 0) != 0) {
        free(r);
        return NULL;
    }
    return r;
}

void
fcgi_request_destroy(struct fcgi_request *r)
{
    if (r == NULL) {
        return;
    }
    /* With ipcFd -1 and no streams, Free only releases memory. */
    r->req.detached = 1;
    FCGX_Free(&r->req, 1);
    free(r);
}

int
fcgi_request_read(struct fcgi_request *r, int fd)
{
    int rc;

    r->req.ipcFd = fd;
    r->req.keepConnection = 1;     /* trap 2 */
    r->req.detached = 1;           /* trap 3 */
    r->force_close = 0;
    rc = FCGX_Accept_r(&r->req);
    if (rc < 0) {
        /* libfcgi closed fd (plain close, detached) and hit accept(-1). */
        if (r->req.ipcFd >= 0 && r->req.ipcFd != fd) {
            close(r->req.ipcFd);   /* cannot happen with listen_sock -1 */
        }
        r->req.ipcFd = -1;
        r->open = 0;
        return -1;
    }
    r->open = 1;
    r->keep = r->req.keepConnection;
    return 0;
}

const char *
fcgi_request_param(struct fcgi_request *r, const char *name)
{
    return FCGX_GetParam(name, r->req.envp);
}

int
fcgi_request_write(struct fcgi_request *r, const char *p, size_t len)
{
    if (len == 0) {
        return 0;
    }
    if (len > 0x7fffffff
        || FCGX_PutStr(p, (int) len, r->req.out) != (int) len)
    {
        return -1;
    }
    return 0;
}

long
fcgi_request_discard_body(struct fcgi_request *r, long max)
{
    char  buf[4096];
    long  total = 0;
    int   n;

    if (r->force_close) {
        return -1;      /* the connection closes: leave the body unread */
    }
    for (;;) {
        n = FCGX_GetStr(buf, (int) sizeof(buf), r->req.in);
        if (n <= 0) {
            break;                 /* 0: the empty STDIN record was read */
        }
        total += n;
        if (total > max) {
            return -1;
        }
    }
    if (FCGX_GetError(r->req.in) != 0) {
        return -1;
    }
    return total;
}

void
fcgi_request_close_after(struct fcgi_request *r)
{
    r->force_close = 1;
}

int
fcgi_request_finish(struct fcgi_request *r, int *closing_fd)
{
    int fd;

    *closing_fd = -1;
    if (!r->open) {
        return -1;
    }
    r->open = 0;
    fd = r->req.ipcFd;
    r->req.keepConnection = 1;     /* trap 3: never let Finish_r linger */
    r->req.detached = 1;
    FCGX_Finish_r(&r->req);
    if (r->req.ipcFd < 0) {
        /* a stream error: libfcgi closed it (plainly) */
        return -1;
    }
    r->req.ipcFd = -1;             /* the fd is ours again */
    if (r->keep && !r->force_close) {
        return fd;
    }
    shutdown(fd, SHUT_WR);
    *closing_fd = fd;
    return -1;
}
