/* session.h -- connect-redis compatible session document
 *
 * Owns: the JSON document express-session + connect-redis keep in Redis
 * (JSON.stringify(req.session)): parsing it, counting a visit, rolling the
 * cookie expiry and dumping it back with every unknown field kept in
 * place.  The only app file that includes jansson.  Does not own: Redis
 * I/O (store.c) or the cookie (cookie.c).
 */
#ifndef SESSION_H
#define SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define SESSION_ISO_LEN 24   /* "2026-11-26T03:01:02.345Z" */

struct session;   /* opaque */

/* New session: {"cookie":{"originalMaxAge":max_age_ms,"expires":"<ISO ms
 * Z>","httpOnly":true,"path":"/"}} plus app fields "views":0 and
 * "createdAt":"<ISO ms Z>".  NULL on OOM or a date out of range. */
struct session *session_new(int64_t now_ms, int64_t max_age_ms);

/* Parse a stored document.  NULL (err filled) if not a JSON object or no
 * "cookie" object.  Unknown fields are kept.  The document session_new()
 * writes (and touches of it) is held in a canonical form without a JSON
 * tree (sessflat.h); every other document in a tree. */
struct session *session_parse(const char *json, size_t len, char *err,
                              size_t errlen);

/* session_parse() that always builds the tree, even for a canonical
 * document: what session_parse() does for every other document.  For the
 * tests and the fuzzer, which check that both forms answer alike. */
struct session *session_parse_tree(const char *json, size_t len, char *err,
                                   size_t errlen);

/* Count a visit: views += 1 and cookie.expires = now + originalMaxAge
 * (rolling, as express-session's touch()).  A missing/non-integer "views"
 * (e.g. written by Express code that never set it) starts at 0.  Without
 * an integer originalMaxAge the expiry is left alone.  Returns 0 / -1; a
 * new expiry out of range (years 0..9999) fails before anything changes. */
int session_touch(struct session *s, int64_t now_ms);

/* "views", or 0 when absent, not an integer or outside int64. */
int64_t session_views(const struct session *s);

/* From cookie.expires; -1 if absent/unparsable. */
int64_t session_expires_ms(const struct session *s);

/* cookie.originalMaxAge; -1 if absent or not an integer. */
int64_t session_max_age_ms(const struct session *s);

/* "createdAt" ISO string or NULL; valid until the next touch/destroy. */
const char *session_created(const struct session *s);

/* Append compact JSON, insertion order kept, numbers and strings written
 * exactly as JavaScript's JSON.stringify writes them.  Returns 0 / -1
 * (OOM). */
int session_dump(const struct session *s, struct buf *out);

/* Free s.  Accepts NULL. */
void session_destroy(struct session *s);

/* ISO-8601 UTC with ms and Z, e.g. 2026-11-26T03:01:02.345Z, from Unix ms
 * (outlen > SESSION_ISO_LEN; years 0..9999, else -1); and parse it back
 * (-1 on error; exactly the 24-char form JavaScript's toISOString
 * writes). */
int session_iso8601(int64_t ms, char *out, size_t outlen);
int64_t session_parse_iso8601(const char *s);

#endif
