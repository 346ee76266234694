/* fuzz_wsjson.c -- libFuzzer harness for wsjson_escape (lib/wsjson.c)
 *
 * The first input byte picks the flags, the rest is the string.  The
 * output must stay within WSJSON_MAX_GROWTH per byte, and quoted it must
 * be a JSON string jansson loads back: to the input itself when the
 * input is valid UTF-8 without NUL or the flags replace nothing, else to
 * what replacing ill-formed bytes and NUL with U+FFFD gives.  Under the
 * jansson policy (upper-case hex, replacement, DEL kept) the bytes must
 * be json_dumpb()'s for that string.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "wsjson.h"
#include "wsutf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(x) do { if (!(x)) abort(); } while (0)

/* The replacement policy written plainly: what jansson should read. */
static size_t
fuzz_replace(const char *in, size_t len, char *out)
{
    size_t i = 0, o = 0, n;

    while (i < len) {
        n = in[i] == 0 ? 0 : wsutf8_seq(in + i, len - i);
        if (n == 0) {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
            continue;
        }
        memcpy(out + o, in + i, n);
        o += n;
        i += n;
    }
    return o;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char  *in = (const char *) data + 1;
    char        *doc, *want, *dumped;
    size_t       len, n, wl, dl;
    unsigned     flags;
    json_t      *v;
    json_error_t e;

    if (size == 0)
        return 0;
    flags = data[0] & 0x0f;
    len = size - 1;
    doc = malloc(len * WSJSON_MAX_GROWTH + 2);
    want = malloc(len * 3 + 1);
    dumped = malloc(len * WSJSON_MAX_GROWTH + 2);
    FUZZ_CHECK(doc != NULL && want != NULL && dumped != NULL);
    n = wsjson_escape(in, len, doc + 1, flags);
    FUZZ_CHECK(n <= len * WSJSON_MAX_GROWTH);
    doc[0] = '"';
    doc[n + 1] = '"';
    if (flags & WSJSON_REPLACE_BAD) {
        wl = fuzz_replace(in, len, want);
    } else {
        memcpy(want, in, len);
        wl = len;
    }
    v = json_loadb(doc, n + 2, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    /* Copied ill-formed bytes make the document unloadable; else it
     * must load to want. */
    FUZZ_CHECK((v != NULL) == (wsutf8_valid(want, wl) == 1));
    if (v != NULL) {
        FUZZ_CHECK(json_string_length(v) == wl);
        FUZZ_CHECK(memcmp(json_string_value(v), want, wl) == 0);
        if (flags == (WSJSON_HEX_UPPER | WSJSON_REPLACE_BAD)) {
            dl = json_dumpb(v, dumped, len * WSJSON_MAX_GROWTH + 2,
                            JSON_ENCODE_ANY);
            FUZZ_CHECK(dl == n + 2 && memcmp(dumped, doc, dl) == 0);
        }
    }
    json_decref(v);
    free(dumped);
    free(want);
    free(doc);
    return 0;
}
