/* fuzz_addr.c -- libFuzzer harness for addr_parse_list (addr.c)
 *
 * The input is a REDIS_SENTINELS value (NUL-terminated by the harness).
 * On success every entry must hold a non-empty host of printable bytes
 * with no separator in it, brackets only as a whole v6 literal's
 * removed pair (so none left), and a port in 1..65535; re-joined as
 * host:port ([host]:port when it holds a colon) the list must parse to
 * the same entries.  On failure err must be a non-empty message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(x) do { if (!(x)) abort(); } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct addr_hp a[ADDR_LIST_MAX], b[ADDR_LIST_MAX];
    static char           again[ADDR_LIST_MAX * (ADDR_HOST_MAX + 16)];
    char                 *in, err[256] = "";
    size_t                pos = 0, i;
    int                   n, m;

    in = malloc(size + 1);
    FUZZ_CHECK(in != NULL);
    memcpy(in, data, size);
    in[size] = '\0';
    n = addr_parse_list(in, a, ADDR_LIST_MAX, err, sizeof(err));
    if (n < 0) {
        FUZZ_CHECK(err[0] != '\0');
        free(in);
        return 0;
    }
    FUZZ_CHECK(n >= 1 && n <= ADDR_LIST_MAX);
    for (i = 0; i < (size_t) n; i++) {
        FUZZ_CHECK(a[i].port >= 1 && a[i].port <= 65535);
        FUZZ_CHECK(a[i].host[0] != '\0');
        FUZZ_CHECK(strlen(a[i].host) < ADDR_HOST_MAX);
        FUZZ_CHECK(strpbrk(a[i].host, " ,\t[]") == NULL);
        pos += (size_t) snprintf(again + pos, sizeof(again) - pos,
                                 strchr(a[i].host, ':') ? "[%s]:%d "
                                                        : "%s:%d ",
                                 a[i].host, a[i].port);
    }
    m = addr_parse_list(again, b, ADDR_LIST_MAX, err, sizeof(err));
    FUZZ_CHECK(m == n);
    for (i = 0; i < (size_t) n; i++) {
        FUZZ_CHECK(strcmp(a[i].host, b[i].host) == 0);
        FUZZ_CHECK(a[i].port == b[i].port);
    }
    free(in);
    return 0;
}
