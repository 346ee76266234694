/* wsaddr.c -- one host:port or [v6]:port, and a port number
 *
 * Grammar: the port is the text after the LAST colon; a host holding a
 * colon must be bracketed, and brackets may appear only as that one
 * enclosing pair.  Error messages quote at most 64 bytes of the token.
 */
#include <stdio.h>
#include <string.h>

#include "wsaddr.h"

int
wsaddr_parse_port(const char *p, size_t len)
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

/* Check and strip the host part (*h, *hl) of the token p (shown bytes
 * echoed in err).  0, or -1 with err filled. */
static int
wsaddr_host(const char **h, size_t *hl, const char *p, int shown,
            char *err, size_t errlen)
{
    const char *host = *h;
    size_t      len = *hl;

    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
        if (memchr(host, '[', len) != NULL
            || memchr(host, ']', len) != NULL)
        {
            snprintf(err, errlen, "\"%.*s\": stray bracket in the host",
                     shown, p);
            return -1;
        }
    } else if (memchr(host, ':', len) != NULL
               || memchr(host, '[', len) != NULL
               || memchr(host, ']', len) != NULL)
    {
        snprintf(err, errlen, "\"%.*s\": write an IPv6 address as "
                 "[addr]:port", shown, p);
        return -1;
    }
    *h = host;
    *hl = len;
    return 0;
}

int
wsaddr_parse(const char *p, size_t len, char *host, size_t hostcap,
             int *port, char *err, size_t errlen)
{
    const char *colon = NULL, *h;
    size_t      hl;
    int         shown = len > 64 ? 64 : (int) len;

    for (hl = len; hl > 0; hl--) {
        if (p[hl - 1] == ':') {
            colon = p + hl - 1;
            break;
        }
    }
    if (colon == NULL) {
        snprintf(err, errlen, "\"%.*s\": not host:port", shown, p);
        return -1;
    }
    *port = wsaddr_parse_port(colon + 1, (size_t) (p + len - colon - 1));
    if (*port < 0) {
        snprintf(err, errlen, "\"%.*s\": port not a number in 1..65535",
                 shown, p);
        return -1;
    }
    h = p;
    hl = (size_t) (colon - p);
    if (wsaddr_host(&h, &hl, p, shown, err, errlen) != 0) {
        return -1;
    }
    if (hl == 0 || hl >= hostcap) {
        snprintf(err, errlen, "host empty or longer than %zu in \"%.*s\"",
                 hostcap > 0 ? hostcap - 1 : 0, shown, p);
        return -1;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    return 0;
}
