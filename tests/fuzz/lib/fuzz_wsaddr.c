/* fuzz_wsaddr.c -- libFuzzer harness for wsaddr_parse (lib/wsaddr.c)
 *
 * The input, up to its first NUL (callers pass text), is one token.  On
 * success the host must be non-empty, shorter than the buffer, free of
 * brackets, and re-written as host:port
 * ([host]:port when it holds a colon) must parse to the same host and
 * port; the port must be 1..65535.  On failure err must be non-empty.
 * wsaddr_parse_port() must agree with a plain decimal reading.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(x) do { if (!(x)) abort(); } while (0)

static void
fuzz_port(const char *p, size_t len)
{
    long   v = 0;
    size_t i;
    int    ok = len >= 1 && len <= 5;

    for (i = 0; ok && i < len; i++) {
        ok = p[i] >= '0' && p[i] <= '9';
        v = v * 10 + (p[i] - '0');
    }
    ok = ok && v >= 1 && v <= 65535;
    FUZZ_CHECK(wsaddr_parse_port(p, len) == (ok ? (int) v : -1));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *) data;
    char        host[64], host2[64], again[128], err[256] = "";
    int         port = 0, port2 = 0, n;

    size = strnlen(p, size);
    fuzz_port(p, size);
    if (wsaddr_parse(p, size, host, sizeof(host), &port, err,
                     sizeof(err)) != 0)
    {
        FUZZ_CHECK(err[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(port >= 1 && port <= 65535);
    FUZZ_CHECK(strlen(host) >= 1 && strlen(host) < sizeof(host));
    FUZZ_CHECK(strpbrk(host, "[]") == NULL);
    n = snprintf(again, sizeof(again), strchr(host, ':') ? "[%s]:%d"
                 : "%s:%d", host, port);
    FUZZ_CHECK(n > 0 && (size_t) n < sizeof(again));
    FUZZ_CHECK(wsaddr_parse(again, (size_t) n, host2, sizeof(host2),
                            &port2, err, sizeof(err)) == 0);
    FUZZ_CHECK(strcmp(host, host2) == 0 && port == port2);
    return 0;
}
