/* addr.c -- host:port lists (REDIS_SENTINELS, Sentinel's answers)
 *
 * Grammar: a list is tokens separated by spaces, tabs or commas; a token
 * is host:port or [v6]:port as lib/wsaddr.c parses it (the port the text
 * after the LAST colon; a host holding a colon must be bracketed, so
 * "::1:26379" is refused rather than guessed).
 */
#include <stdio.h>

#include "addr.h"
#include "wsaddr.h"

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
        if (wsaddr_parse(start, (size_t) (p - start), out[n].host,
                         sizeof(out[n].host), &out[n].port, err,
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
