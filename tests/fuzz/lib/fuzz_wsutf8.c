/* fuzz_wsutf8.c -- libFuzzer harness for lib/wsutf8.c
 *
 * wsutf8_valid() must agree with jansson (json_stringn() refuses exactly
 * the ill-formed strings), and walking the input with wsutf8_seq() must
 * never step past the end, must take 1 for every byte below 0x80 and must
 * find a 0 exactly when the input is not valid.
 */
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "wsutf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(x) do { if (!(x)) abort(); } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *) data;
    json_t     *j;
    size_t      i = 0, n;
    int         valid = wsutf8_valid(p, size), walked = 1;

    j = json_stringn(p, size);
    FUZZ_CHECK((j != NULL) == (valid == 1));
    json_decref(j);
    while (i < size) {
        n = wsutf8_seq(p + i, size - i);
        FUZZ_CHECK(n <= 4 && n <= size - i);
        FUZZ_CHECK(data[i] >= 0x80 || n == 1);
        if (n == 0) {
            walked = 0;
            break;
        }
        i += n;
    }
    FUZZ_CHECK(walked == valid);
    return 0;
}
