/* fuzz_router.c -- libFuzzer harness for router_match
 *
 * Input "METHOD|URI": the part before the first '|' is the method (at
 * most 15 bytes, NUL-terminated as the FastCGI layer gives it), the rest
 * the raw REQUEST_URI.  Every answer must be a defined route, and a
 * /hello name must be NUL-free valid UTF-8 that jsonw can write.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsonw.h"
#include "router.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(x) do { if (!(x)) abort(); } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *) data;
    const char *bar = memchr(in, '|', size);
    char        method[16];
    size_t      mlen = bar ? (size_t) (bar - in) : 0;
    const char *uri = bar ? bar + 1 : in;
    size_t      urilen = bar ? size - mlen - 1 : size;
    struct route_match m;
    struct buf  b;

    if (mlen >= sizeof(method))
        mlen = sizeof(method) - 1;
    memcpy(method, in, mlen);
    method[mlen] = '\0';
    if (bar == NULL)
        memcpy(method, "GET", 4);

    router_match(method, uri, urilen, &m);
    FUZZ_CHECK((unsigned) m.id < ROUTE__COUNT);
    FUZZ_CHECK(router_name(m.id) != NULL);
    FUZZ_CHECK((m.id == ROUTE_METHOD_NOT_ALLOWED) == (m.allow != NULL));
    if (m.id == ROUTE_HELLO) {
        FUZZ_CHECK(m.name == m.storage);
        FUZZ_CHECK(m.name_len > 0 && m.name_len < sizeof(m.storage));
        FUZZ_CHECK(m.name[m.name_len] == '\0');
        FUZZ_CHECK(memchr(m.name, '\0', m.name_len) == NULL);
        FUZZ_CHECK(utf8_valid(m.name, m.name_len));
        buf_init(&b);
        FUZZ_CHECK(jsonw_string(&b, m.name, m.name_len) == 0);
        buf_free(&b);
    } else {
        FUZZ_CHECK(m.name == NULL && m.name_len == 0);
    }
    return 0;
}
