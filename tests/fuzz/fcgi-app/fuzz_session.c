/* fuzz_session.c -- libFuzzer harness for session_parse/touch/dump
 *
 * Any input: parse must not crash.  Both forms a document can be held in
 * (the canonical form without a tree, and the jansson tree) must answer
 * alike before and after a touch (session_agree.h).  A parsed document
 * must dump to JSON that parses again and dumps to the same bytes (the
 * writer is stable), and touch must keep it loadable with views counted.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "session.h"
#include "../../unit/fcgi-app/session_agree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(x) do { if (!(x)) abort(); } while (0)
#define FUZZ_NOW 1795662062345LL

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct session *s, *s2;
    struct buf      b1, b2;
    char            err[256];
    int64_t         views;

    FUZZ_CHECK(session_agree((const char *) data, size, FUZZ_NOW) == NULL);
    s = session_parse((const char *) data, size, err, sizeof(err));
    if (s == NULL)
        return 0;
    buf_init(&b1);
    buf_init(&b2);
    (void) session_expires_ms(s);
    (void) session_max_age_ms(s);
    (void) session_created(s);

    FUZZ_CHECK(session_dump(s, &b1) == 0);
    s2 = session_parse(b1.data, b1.len, err, sizeof(err));
    FUZZ_CHECK(s2 != NULL);
    FUZZ_CHECK(session_dump(s2, &b2) == 0);
    FUZZ_CHECK(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
    session_destroy(s2);

    views = session_views(s);
    if (session_touch(s, FUZZ_NOW) == 0) {
        /* Exact while the count fits a double's 53 bits; beyond, it
         * rounds as JavaScript's views + 1 does. */
        if (views > -(INT64_C(1) << 53) && views < (INT64_C(1) << 53))
            FUZZ_CHECK(session_views(s) == views + 1);
        if (session_max_age_ms(s) >= 0)
            FUZZ_CHECK(session_expires_ms(s)
                       == FUZZ_NOW + session_max_age_ms(s));
        buf_reset(&b1);
        FUZZ_CHECK(session_dump(s, &b1) == 0);
        s2 = session_parse(b1.data, b1.len, err, sizeof(err));
        FUZZ_CHECK(s2 != NULL);
        FUZZ_CHECK(session_views(s2) == session_views(s));
        session_destroy(s2);
    }
    session_destroy(s);
    buf_free(&b1);
    buf_free(&b2);
    return 0;
}
