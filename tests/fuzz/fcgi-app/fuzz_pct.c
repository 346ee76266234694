/* fuzz_pct.c -- libFuzzer harness for pct_decode/pct_encode_component
 *
 * Decoding never overruns and never yields NUL; encoding yields only
 * unreserved characters and %XX; decode(encode(x)) == x for NUL-free x.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pct.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(x) do { if (!(x)) abort(); } while (0)

static void
check_encoded(const struct buf *b)
{
    size_t i;
    char   c;

    for (i = 0; i < b->len; i++) {
        c = b->data[i];
        if (c == '%') {
            FUZZ_CHECK(i + 2 < b->len);
            FUZZ_CHECK(memchr("0123456789ABCDEF", b->data[i + 1], 16)
                       && memchr("0123456789ABCDEF", b->data[i + 2], 16));
            i += 2;
            continue;
        }
        FUZZ_CHECK((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                   || (c >= '0' && c <= '9') || memchr("-_.!~*'()", c, 9));
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *src = (const char *) data;
    struct buf  b;
    char       *dec, *dec2;
    size_t      n, n2;
    int         has_nul = memchr(src, '\0', size) != NULL;

    dec = malloc(size + 1);
    dec2 = malloc(3 * size + 1);
    if (dec == NULL || dec2 == NULL)
        goto done;
    buf_init(&b);

    /* Decode the input as given. */
    if (pct_decode(src, size, dec, size + 1, &n) == 0) {
        FUZZ_CHECK(n <= size && dec[n] == '\0');
        FUZZ_CHECK(memchr(dec, '\0', n) == NULL);
        /* And the same with a too-small buffer: fails, no overrun. */
        if (n > 0)
            FUZZ_CHECK(pct_decode(src, size, dec2, n, &n2) == -1);
        /* encode(decoded) decodes back to decoded. */
        FUZZ_CHECK(pct_encode_component(&b, dec, n) == 0);
        check_encoded(&b);
        FUZZ_CHECK(pct_decode(b.data, b.len, dec2, b.len + 1, &n2) == 0);
        FUZZ_CHECK(n2 == n && memcmp(dec2, dec, n) == 0);
    }

    /* encode(input) decodes back to the input unless it holds a NUL. */
    buf_reset(&b);
    FUZZ_CHECK(pct_encode_component(&b, src, size) == 0);
    check_encoded(&b);
    FUZZ_CHECK(b.len >= size && b.len <= 3 * size);
    if (b.len > 0) {
        if (has_nul) {
            FUZZ_CHECK(pct_decode(b.data, b.len, dec2, 3 * size + 1,
                                  &n2) == -1);
        } else {
            FUZZ_CHECK(pct_decode(b.data, b.len, dec2, 3 * size + 1,
                                  &n2) == 0);
            FUZZ_CHECK(n2 == size && memcmp(dec2, src, size) == 0);
        }
    }
    buf_free(&b);
done:
    free(dec);
    free(dec2);
    return 0;
}
