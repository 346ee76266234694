/* resolve.c -- host name lookups that never block the loop
 *
 * getaddrinfo_a(GAI_NOWAIT) with SIGEV_NONE: no signal, no callback
 * thread of ours; a loop timer asks gai_error() every RESOLVE_POLL_MS
 * until the answer is in or the caller's deadline passes.  A lookup the
 * caller gave up on may not be cancellable (gai_cancel() answers
 * EAI_NOTCANCELED once the helper thread runs it): then it keeps being
 * polled, unseen by the caller, until it ends, and r cannot start another
 * meanwhile.  Since glibc 2.34 getaddrinfo_a() is in libc itself.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "resolve.h"

/* Deliver the outcome of r's lookup to its caller, if it still waits. */
static void
resolve_finish(struct resolve *r, int rc, const char *ip, const char *err)
{
    resolve_fn *fn = r->fn;

    if (!r->wanted) {
        return;
    }
    r->wanted = 0;
    fn(r->arg, rc, ip, err);
}

/* The poll timer: done yet? */
static void
resolve_on_timer(struct loop *l, struct loop_timer *t)
{
    struct resolve *r = t->data;
    char            ip[INET6_ADDRSTRLEN], err[320];
    const void     *a;
    int             rc;

    if (!r->running) {
        /* a numeric host: answered on this turn */
        resolve_finish(r, 0, r->host, NULL);
        return;
    }
    rc = gai_error(&r->cb);
    if (rc == EAI_INPROGRESS) {
        if (r->wanted && loop_now_ms(l) >= r->deadline_ms) {
            snprintf(err, sizeof(err), "looking up \"%s\" timed out",
                     r->host);
            resolve_finish(r, -1, NULL, err);
            (void) gai_cancel(&r->cb);
        }
        (void) loop_timer_at(l, t, loop_now_ms(l) + RESOLVE_POLL_MS);
        return;
    }
    r->running = 0;
    if (rc != 0 || r->cb.ar_result == NULL) {
        snprintf(err, sizeof(err), "looking up \"%s\": %s", r->host,
                 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        resolve_finish(r, -1, NULL, err);
    } else {
        if (r->cb.ar_result->ai_family == AF_INET6) {
            a = &((struct sockaddr_in6 *) (void *)
                  r->cb.ar_result->ai_addr)->sin6_addr;
        } else {
            a = &((struct sockaddr_in *) (void *)
                  r->cb.ar_result->ai_addr)->sin_addr;
        }
        inet_ntop(r->cb.ar_result->ai_family, a, ip, sizeof(ip));
        resolve_finish(r, 0, ip, NULL);
    }
    if (r->cb.ar_result != NULL) {
        freeaddrinfo(r->cb.ar_result);
        r->cb.ar_result = NULL;
    }
}

void
resolve_init(struct resolve *r, struct loop *l)
{
    memset(r, 0, sizeof(*r));
    r->loop = l;
    loop_timer_init(&r->timer, resolve_on_timer, r);
}

int
resolve_start(struct resolve *r, const char *host, int timeout_ms,
              resolve_fn *fn, void *arg, char *err, size_t errlen)
{
    unsigned char  tmp[sizeof(struct in6_addr)];
    struct sigevent sev;
    size_t         len;
    int            rc;

    if (r->running) {
        snprintf(err, errlen, "an earlier lookup of \"%s\" is still "
                 "running", r->host);
        return -1;
    }
    len = strlen(host);
    if (len >= sizeof(r->host)) {
        snprintf(err, errlen, "host name too long");
        return -1;
    }
    memcpy(r->host, host, len + 1);
    r->fn = fn;
    r->arg = arg;
    r->wanted = 1;
    r->deadline_ms = loop_now_ms(r->loop) + timeout_ms;
    if (inet_pton(AF_INET, host, tmp) == 1
        || inet_pton(AF_INET6, host, tmp) == 1)
    {
        return loop_timer_at(r->loop, &r->timer, loop_now_ms(r->loop));
    }
    memset(&r->hints, 0, sizeof(r->hints));
    r->hints.ai_family = AF_UNSPEC;
    r->hints.ai_socktype = SOCK_STREAM;
    memset(&r->cb, 0, sizeof(r->cb));
    r->cb.ar_name = r->host;
    r->cb.ar_request = &r->hints;
    r->list[0] = &r->cb;
    memset(&sev, 0, sizeof(sev));
    sev.sigev_notify = SIGEV_NONE;
    rc = getaddrinfo_a(GAI_NOWAIT, r->list, 1, &sev);
    if (rc != 0) {
        r->wanted = 0;
        snprintf(err, errlen, "looking up \"%s\": %s", host,
                 gai_strerror(rc));
        return -1;
    }
    r->running = 1;
    return loop_timer_at(r->loop, &r->timer,
                         loop_now_ms(r->loop) + RESOLVE_POLL_MS);
}

void
resolve_cancel(struct resolve *r)
{
    r->wanted = 0;
    if (!r->running) {
        loop_timer_stop(r->loop, &r->timer);
        return;
    }
    if (gai_cancel(&r->cb) == EAI_CANCELED) {
        r->running = 0;
        loop_timer_stop(r->loop, &r->timer);
    }
    /* else the timer polls it to its end */
}

void
resolve_destroy(struct resolve *r)
{
    const struct gaicb *list[1];

    r->wanted = 0;
    loop_timer_stop(r->loop, &r->timer);
    if (r->running) {
        list[0] = &r->cb;
        (void) gai_cancel(&r->cb);
        while (gai_error(&r->cb) == EAI_INPROGRESS) {
            (void) gai_suspend(list, 1, NULL);
        }
        r->running = 0;
    }
    if (r->cb.ar_result != NULL) {
        freeaddrinfo(r->cb.ar_result);
        r->cb.ar_result = NULL;
    }
}
