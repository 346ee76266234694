/* listen.c -- the FastCGI listening socket
 *
 * The master binds the socket itself, before forking, rather than with
 * FCGX_OpenSocket(), which is IPv4-only and exit()s on a bind failure.
 * TCP (v4 or v6, SO_REUSEADDR; a host name binds the first of its
 * addresses that is this host's) or a unix socket (a stale socket file is
 * replaced; anything else at the path is refused), non-blocking and
 * close-on-exec, listen() with SOMAXCONN.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "listen.h"
#include "wsaddr.h"

/* Bind a unix socket at path with mode 0660. */
static int
listen_unix(const char *spec, const char *path, int *bad, char *err,
            size_t errlen)
{
    struct sockaddr_un  sun;
    struct stat         st;
    int                 fd;

    *bad = 0;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (*path != '/' || strlen(path) >= sizeof(sun.sun_path)) {
        snprintf(err, errlen, "APP_LISTEN=\"%s\": unix socket path must be "
                 "absolute and shorter than %zu bytes", spec,
                 sizeof(sun.sun_path));
        *bad = 1;
        return -1;
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "APP_LISTEN=\"%s\": exists and is not a "
                     "socket", spec);
            return -1;
        }
        unlink(path);     /* stale socket from a previous run */
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        snprintf(err, errlen, "APP_LISTEN=\"%s\": socket() failed: %s",
                 spec, strerror(errno));
        return -1;
    }
    if (bind(fd, (struct sockaddr *) &sun, sizeof(sun)) != 0
        || chmod(path, 0660) != 0 || listen(fd, SOMAXCONN) != 0)
    {
        snprintf(err, errlen, "APP_LISTEN=\"%s\": bind/listen failed: %s",
                 spec, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Bind and listen on the first address of ai that this host has: a name
 * with several addresses (a network alias shared by every pool instance,
 * which Docker's DNS answers with one address per instance) binds this
 * instance's own one.  An address that is not local (EADDRNOTAVAIL) is
 * skipped; any other failure stops at once.  The fd, or -1 with err. */
static int
listen_first_local(const char *spec, const struct addrinfo *ai, char *err,
                   size_t errlen)
{
    const struct addrinfo *a;
    int                    fd, e, one = 1;

    for (a = ai; a != NULL; a = a->ai_next) {
        fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);
        if (fd == -1) {
            snprintf(err, errlen, "APP_LISTEN=\"%s\": socket() failed: %s",
                     spec, strerror(errno));
            return -1;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, a->ai_addr, a->ai_addrlen) != 0) {
            e = errno;
            snprintf(err, errlen, "APP_LISTEN=\"%s\": bind() failed: %s%s",
                     spec, strerror(e), e == EADDRNOTAVAIL
                     ? " (none of its addresses is this host's)" : "");
            close(fd);
            if (e == EADDRNOTAVAIL) {
                continue;
            }
            return -1;
        }
        if (listen(fd, SOMAXCONN) != 0) {
            snprintf(err, errlen, "APP_LISTEN=\"%s\": listen() failed: %s",
                     spec, strerror(errno));
            close(fd);
            return -1;
        }
        return fd;
    }
    return -1;
}

int
listen_open(const char *spec, int *bad, char *err, size_t errlen)
{
    struct addrinfo  hints, *ai = NULL;
    char             host[256], port[8], perr[160];
    int              fd, rc, portnum;

    *bad = 0;

    if (strncmp(spec, "unix:", 5) == 0) {
        return listen_unix(spec, spec + 5, bad, err, errlen);
    }
    if (wsaddr_parse(spec, strlen(spec), host, sizeof(host), &portnum,
                     perr, sizeof(perr)) != 0)
    {
        snprintf(err, errlen, "APP_LISTEN=\"%s\": want host:port, "
                 "[v6addr]:port or unix:/path (%s)", spec, perr);
        *bad = 1;
        return -1;
    }
    snprintf(port, sizeof(port), "%d", portnum);

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "APP_LISTEN=\"%s\": %s", spec,
                 gai_strerror(rc));
        return -1;
    }
    fd = listen_first_local(spec, ai, err, errlen);
    freeaddrinfo(ai);
    return fd;
}
