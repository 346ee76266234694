/* addr.h -- host:port lists (REDIS_SENTINELS, Sentinel's answers)
 *
 * Owns: parsing "host:port host:port ..." (spaces, tabs or commas
 * between; an IPv6 address as [addr]:port).  Each token and port is
 * parsed by lib/wsaddr.h, shared with the collector.  Pure functions;
 * config.c checks REDIS_SENTINELS with them, sentinel.c uses the parsed
 * list.
 */
#ifndef APP_ADDR_H
#define APP_ADDR_H

#include <stddef.h>

#define ADDR_LIST_MAX 16    /* longest REDIS_SENTINELS list */
#define ADDR_HOST_MAX 256   /* longest host name, with its NUL */

struct addr_hp {
    char host[ADDR_HOST_MAX];
    int  port;
};

/* Parse list into out[0..max-1].  Returns how many (>= 1), or -1 with err
 * filled (empty list, bad port, too many, host too long). */
int addr_parse_list(const char *list, struct addr_hp *out, size_t max,
                    char *err, size_t errlen);

#endif
