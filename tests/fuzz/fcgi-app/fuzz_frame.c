/* fuzz_frame.c -- libFuzzer harness for frame_scan (frame.c)
 *
 * The input is the bytes a worker peeked at on a FastCGI connection;
 * byte 0 picks the window (64 + byte * 64, so windows shorter and longer
 * than the input both occur).  frame_scan is checked against a second,
 * plainly written walk over the same records: FRAME_WHOLE exactly when an
 * empty STDIN record's header lies inside the bytes, every header before
 * it being version 1; never a read past n (ASan).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(x) do { if (!(x)) abort(); } while (0)

/* The reference walk: the outcome frame_scan must give. */
static enum frame
fuzz_reference(const unsigned char *b, size_t n, size_t window)
{
    size_t off = 0, len;
    int    params_end = 0;

    for (;;) {
        if (n - off < 8 || off > n) {
            break;
        }
        if (b[off] != 1) {
            return FRAME_REJECT;
        }
        len = (size_t) b[off + 4] * 256 + b[off + 5];
        if (len == 0 && b[off + 1] == 4) {
            params_end = 1;
        }
        if (len == 0 && b[off + 1] == 5) {
            return FRAME_WHOLE;
        }
        off = off + 8 + len + b[off + 6];
    }
    if (n < window) {
        return FRAME_MORE;
    }
    return params_end ? FRAME_HEAD : FRAME_REJECT;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *copy;
    size_t         window;
    enum frame     f;

    if (size == 0) {
        return 0;
    }
    window = 64 + (size_t) data[0] * 64;
    /* an exact-size heap copy, so ASan sees any read past the end */
    copy = malloc(size - 1 ? size - 1 : 1);
    FUZZ_CHECK(copy != NULL);
    memcpy(copy, data + 1, size - 1);
    f = frame_scan(copy, size - 1, window);
    FUZZ_CHECK(f == FRAME_MORE || f == FRAME_WHOLE || f == FRAME_HEAD
               || f == FRAME_REJECT);
    FUZZ_CHECK(f == fuzz_reference(copy, size - 1, window));
    free(copy);
    return 0;
}
