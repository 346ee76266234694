/* fuzz_collector_line.c -- libFuzzer harness for the line-to-JSON path
 *
 * Feeds arbitrary bytes as one log line through utf8.c, parse.c and
 * event.c exactly as the collector does, then checks the contract: the
 * result is one line ending in '\n', it parses as a JSON object, its
 * "message" is the sanitised line, and it is byte for byte what the
 * jansson reference encoder (tests/unit/collector/event_ref.c, never in
 * the collector) produces for the same line.  Any violation aborts.  The first byte
 * selects options (parse on/off, truncated flag) so both paths are
 * explored.  Seeds: tests/fuzz/corpus/fuzz_collector_line/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "event.h"
#include "event_ref.h"
#include "utf8.h"

#define FUZZ_LINE_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct event_encoder *enc[2];
    static struct event_ref *ref[2];
    static char san[FUZZ_LINE_MAX * UTF8_MAX_GROWTH];
    struct event_line ev;
    const char *out;
    size_t outlen, n;
    char err[256];
    json_error_t jerr;
    json_t *o;
    unsigned opt;

    if (size == 0) {
        return 0;
    }
    opt = data[0];
    data++;
    size--;
    if (size > FUZZ_LINE_MAX) {
        size = FUZZ_LINE_MAX;
    }
    if (enc[opt & 1] == NULL) {
        enc[opt & 1] = event_encoder_create("fuzz\xff", (int) (opt & 1),
            FUZZ_LINE_MAX, err, sizeof(err));
        ref[opt & 1] = event_ref_create("fuzz\xff", (int) (opt & 1),
            FUZZ_LINE_MAX, err, sizeof(err));
        if (enc[opt & 1] == NULL || ref[opt & 1] == NULL) {
            abort();
        }
    }
    ev.msg = (const char *) data;
    ev.len = size;
    ev.path = (opt & 4) ? "/var/log/\x80x.log" : "/var/log/a.log";
    ev.type = "t";
    ev.truncated = (opt & 2) != 0;
    ev.ts_ms = 1795662062345LL;
    if (event_encode(enc[opt & 1], &ev, &out, &outlen, err, sizeof(err))) {
        abort();
    }
    {
        const char *refout;
        size_t reflen;

        if (event_ref_encode(ref[opt & 1], &ev, &refout, &reflen, err,
                sizeof(err)) != 0
            || reflen != outlen || memcmp(refout, out, outlen) != 0)
        {
            abort();
        }
    }
    if (outlen < 2 || out[outlen - 1] != '\n'
        || memchr(out, '\n', outlen - 1) != NULL)
    {
        abort();
    }
    o = json_loadb(out, outlen - 1, JSON_REJECT_DUPLICATES, &jerr);
    if (o == NULL || !json_is_object(o)) {
        abort();
    }
    n = utf8_sanitize((const char *) data, size, san);
    {
        json_t *m = json_object_get(o, "message");

        if (m == NULL || json_string_length(m) != n
            || memcmp(json_string_value(m), san, n) != 0)
        {
            abort();
        }
    }
    if (ev.truncated != json_is_true(json_object_get(o, "truncated"))) {
        abort();
    }
    json_decref(o);
    return 0;
}
