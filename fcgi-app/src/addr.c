/* addr.c -- host:port lists (REDIS_SENTINELS, Sentinel's answers)
 *
 * Grammar: a list is tokens separated by spaces, tabs or commas; a token
 * is host:port, the port the text after the LAST colon; a host holding a
 * colon must be bracketed ([::1]:26379) so "::1:26379" is refused rather
 * than guessed.
 */
#include <stdio.h>
#include <string.h>

#include "addr.h"

/* Parse a whole decimal port 1..65535 from (p, len).  Returns it, or -1.
 * Can't fail otherwise. */
int
addr_parse_port(const char *p, size_t len)
{
    long   v = 0;
    size_t i;

    if (len == 0 || len > 5) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }
        v = v * 10 + (p[i] - '0');
    }
    return v >= 1 && v <= 65535 ? (int) v : -1;
}

/* Parse one "host:port" or "[v6]:port" token (p, len) into a.  Returns 0,
 * or -1 with err filled. */
static int
addr_parse_one(const char *p, size_t len, struct addr_hp *a, char *err,
                 size_t errlen)
{
    const char *colon, *host;
    size_t      hostlen;
    int         shown = len > 64 ? 64 : (int) len;   /* echoed in err */

    colon = NULL;
    for (hostlen = len; hostlen > 0; hostlen--) {
        if (p[hostlen - 1] == ':') {
            colon = p + hostlen - 1;
            break;
        }
    }
    if (colon == NULL) {
        snprintf(err, errlen, "\"%.*s\": not host:port", shown, p);
        return -1;
    }
    a->port = addr_parse_port(colon + 1, (size_t) (p + len - colon - 1));
    if (a->port < 0) {
        snprintf(err, errlen, "\"%.*s\": port not a number in 1..65535",
                 shown, p);
        return -1;
    }
    host = p;
    hostlen = (size_t) (colon - p);
    if (hostlen >= 2 && host[0] == '[' && host[hostlen - 1] == ']') {
        host++;
        hostlen -= 2;
        if (memchr(host, '[', hostlen) != NULL
            || memchr(host, ']', hostlen) != NULL)
        {
            snprintf(err, errlen, "\"%.*s\": stray bracket in the host",
                     shown, p);
            return -1;
        }
    } else if (memchr(host, ':', hostlen) != NULL
               || memchr(host, '[', hostlen) != NULL
               || memchr(host, ']', hostlen) != NULL)
    {
        snprintf(err, errlen, "\"%.*s\": write an IPv6 address as "
                 "[addr]:port", shown, p);
        return -1;
    }
    if (hostlen == 0 || hostlen >= sizeof(a->host)) {
        snprintf(err, errlen, "host empty or longer than %d in \"%.*s\"",
                 ADDR_HOST_MAX - 1, shown, p);
        return -1;
    }
    memcpy(a->host, host, hostlen);
    a->host[hostlen] = '\0';
    return 0;
}

int
addr_parse_list(const char *list, struct addr_hp *out, size_t max,
                  char *err, size_t errlen)
{
    const char *p = list, *start;
    size_t      n = 0;

    for (;;) {
        while (*p == ' ' || *p == ',' || *p == '\t') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        start = p;
        while (*p != '\0' && *p != ' ' && *p != ',' && *p != '\t') {
            p++;
        }
        if (n == max) {
            snprintf(err, errlen, "more than %zu addresses", max);
            return -1;
        }
        if (addr_parse_one(start, (size_t) (p - start), &out[n], err,
                             errlen) != 0)
        {
            return -1;
        }
        n++;
    }
    if (n == 0) {
        snprintf(err, errlen, "no host:port in the list");
        return -1;
    }
    return (int) n;
}
