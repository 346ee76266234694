/* test_tcpout.c -- unit tests for tcpout.c's endpoint parsing
 *
 * Covers: HOST:PORT and [V6]:PORT accepted (lib/wsaddr.h), a bare IPv6
 * address, a bad port and a missing host refused with a message naming
 * the value, and a [::1]:port endpoint actually connected to and sent an
 * event over loopback.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcpout.h"
#include "unit.h"

static void
test_accepts_host_and_v6(void)
{
    char           err[256] = "";
    struct tcpout *t;

    t = tcpout_create("127.0.0.1:5000", 4096, err, sizeof(err));
    UNIT_CHECK(t != NULL);
    tcpout_destroy(t);
    t = tcpout_create("[::1]:5000", 4096, err, sizeof(err));
    UNIT_CHECK(t != NULL);
    tcpout_destroy(t);
}

static void
test_refuses_bad_endpoints(void)
{
    static const char *bad[] = { "::1:5000", "logstash", "host:0",
                                 "host:65536", ":5000", "[::1]x:5000" };
    char               err[256];
    size_t             i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        UNIT_CHECK(tcpout_create(bad[i], 4096, err, sizeof(err)) == NULL);
        UNIT_CHECK(strstr(err, bad[i]) != NULL);
    }
}

/* A listener on [::1]:<ephemeral>; its fd, or -1 (port in *port). */
static int
listen_v6(int *port)
{
    struct sockaddr_in6 a;
    socklen_t           len = sizeof(a);
    int                 fd = socket(AF_INET6, SOCK_STREAM, 0);

    memset(&a, 0, sizeof(a));
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    if (fd < 0 || bind(fd, (struct sockaddr *) &a, sizeof(a)) != 0
        || listen(fd, 1) != 0
        || getsockname(fd, (struct sockaddr *) &a, &len) != 0)
    {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(a.sin6_port);
    return fd;
}

static void
test_v6_endpoint_connects(void)
{
    char           spec[64], err[256] = "", got[16] = "";
    struct tcpout *t;
    struct pollfd  p;
    int            lfd, cfd = -1, port = 0, i, rc = TCPOUT_IDLE;
    long long      now = 0;

    lfd = listen_v6(&port);
    UNIT_CHECK(lfd >= 0);                  /* needs IPv6 loopback */
    if (lfd < 0)
        return;
    snprintf(spec, sizeof(spec), "[::1]:%d", port);
    t = tcpout_create(spec, 4096, err, sizeof(err));
    UNIT_CHECK(t != NULL);
    if (t == NULL) {
        close(lfd);
        return;
    }
    tcpout_append(t, "{\"a\":1}\n", 8);
    for (i = 0; i < 200 && rc != TCPOUT_CONNECTED; i++, now += 10) {
        rc = tcpout_service(t, now, err, sizeof(err));
        if (rc == TCPOUT_IDLE && tcpout_poll_fd(t, &p.events) >= 0) {
            p.fd = tcpout_poll_fd(t, &p.events);
            poll(&p, 1, 10);
        }
    }
    UNIT_CHECK(rc == TCPOUT_CONNECTED);
    for (i = 0; i < 20; i++)
        tcpout_service(t, now, err, sizeof(err));   /* send the event */
    cfd = accept(lfd, NULL, NULL);
    UNIT_CHECK(cfd >= 0);
    if (cfd >= 0) {
        p.fd = cfd;                        /* never block the suite */
        p.events = POLLIN;
        UNIT_CHECK(poll(&p, 1, 5000) == 1);
        UNIT_CHECK(read(cfd, got, sizeof(got) - 1) == 8);
        UNIT_CHECK(strcmp(got, "{\"a\":1}\n") == 0);
        close(cfd);
    }
    tcpout_destroy(t);
    close(lfd);
}

int
main(void)
{
    UNIT_RUN(test_accepts_host_and_v6);
    UNIT_RUN(test_refuses_bad_endpoints);
    UNIT_RUN(test_v6_endpoint_connects);
    return unit_done();
}
