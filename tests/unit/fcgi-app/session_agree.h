/* session_agree.h -- do a document's two session forms answer alike?
 *
 * session_parse() holds the canonical document (fcgi-app/src/sessflat.h)
 * without a tree and every other one in a jansson tree;
 * session_parse_tree() always builds the tree.  session_agree() parses
 * doc both ways and compares everything a caller can see: whether it
 * loads, views, expires, originalMaxAge, createdAt and the dumped bytes,
 * then the same after session_touch(now).  Included by test_session.c
 * and by the fuzz_session harness, so the unit cases and the fuzzer
 * check one rule.
 */
#ifndef SESSION_AGREE_H
#define SESSION_AGREE_H

#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "session.h"

/* Compare every accessor of a and b; NULL if all agree, else what does
 * not.  out_a/out_b are scratch buffers. */
static const char *
session_agree_state(const struct session *a, const struct session *b,
                    struct buf *out_a, struct buf *out_b)
{
    const char *ca = session_created(a), *cb = session_created(b);

    if (session_views(a) != session_views(b))
        return "views";
    if (session_expires_ms(a) != session_expires_ms(b))
        return "expires";
    if (session_max_age_ms(a) != session_max_age_ms(b))
        return "originalMaxAge";
    if ((ca == NULL) != (cb == NULL) || (ca != NULL && strcmp(ca, cb) != 0))
        return "createdAt";
    buf_reset(out_a);
    buf_reset(out_b);
    if (session_dump(a, out_a) != session_dump(b, out_b))
        return "dump result";
    if (out_a->len != out_b->len
        || (out_a->len > 0 && memcmp(out_a->data, out_b->data,
                                     out_a->len) != 0))
        return "dumped bytes";
    return NULL;
}

/* NULL if doc[0..len) gives the same answers through session_parse()
 * and session_parse_tree(), before and after a touch at now; else the
 * first thing that differs. */
static const char *
session_agree(const char *doc, size_t len, int64_t now)
{
    struct session *a, *b;
    struct buf      out_a, out_b;
    const char     *why;
    char            err[256];

    a = session_parse(doc, len, err, sizeof(err));
    b = session_parse_tree(doc, len, err, sizeof(err));
    buf_init(&out_a);
    buf_init(&out_b);
    if ((a == NULL) != (b == NULL))
        why = "one parsed, the other did not";
    else if (a == NULL)
        why = NULL;
    else if ((why = session_agree_state(a, b, &out_a, &out_b)) == NULL) {
        if (session_touch(a, now) != session_touch(b, now))
            why = "touch result";
        else
            why = session_agree_state(a, b, &out_a, &out_b);
    }
    session_destroy(a);
    session_destroy(b);
    buf_free(&out_a);
    buf_free(&out_b);
    return why;
}

#endif
