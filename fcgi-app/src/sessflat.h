/* sessflat.h -- the canonical session document, held without a JSON tree
 *
 * Owns: recognising and writing the one document nearly every stored
 * session is, the one session_new() writes and session_touch() keeps:
 *
 *   {"cookie":{"originalMaxAge":M,"expires":"E","httpOnly":true,
 *   "path":"/"},"views":V,"createdAt":"C"}
 *
 * on one line, byte for byte: M and V written as JSON.stringify writes an
 * integer of 1..15 digits (no sign, no leading zero), E and C as
 * toISOString() writes a date (digits where the digits go, "-", "T", ":",
 * ".", "Z" where they go).  Anything else, even the same fields in
 * another order, with a space, a 16-digit count or a field more, is not
 * canonical, and session.c keeps it in a jansson tree instead.  Both forms
 * give the same answers and dump the same bytes: test_session.c and the
 * fuzz_session harness compare them on every input.
 * Does not own: what the fields mean (session.c), dates (civil.c).
 */
#ifndef SESSFLAT_H
#define SESSFLAT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "session.h"

#define SESSFLAT_ISO_LEN SESSION_ISO_LEN   /* toISOString()'s 24 chars */
#define SESSFLAT_MAX_DIGITS 15       /* 10^15 - 1 + 1 < 2^53: every count
                                      * and its successor are exact doubles */

struct sessflat {
    int64_t max_age;                 /* originalMaxAge, >= 0 */
    int64_t views;                   /* >= 0 */
    char    expires[SESSFLAT_ISO_LEN + 1];   /* NUL-terminated */
    char    created[SESSFLAT_ISO_LEN + 1];
};

/* Fill *out from p[0..len) if that is exactly the canonical document:
 * 0, else -1 (*out undefined; nothing is said about why: the caller falls
 * back to the general parser, which does). */
int sessflat_parse(const char *p, size_t len, struct sessflat *out);

/* Append f as the canonical document.  f's numbers must be >= 0 and its
 * strings the date shape above (as sessflat_parse() and session.c leave
 * them).  0 / -1 (OOM, through the buffer's sticky flag). */
int sessflat_write(const struct sessflat *f, struct buf *out);

#endif
