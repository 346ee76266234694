/* cookie.h -- Express-compatible signed session cookie
 *
 * Owns: reading the session id out of a raw Cookie header the way
 * Express's cookie parser + express-session do ("s:<id>.<sig>",
 * encodeURIComponent'd, first occurrence wins, several secrets accepted)
 * and writing the matching Set-Cookie value in cookie.serialize's
 * attribute order.  Does not own: HMAC (sign.c) or session storage.
 */
#ifndef COOKIE_H
#define COOKIE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define COOKIE_NAME_MAX 256   /* longest cookie name cookie_format takes */

/* Find the FIRST cookie called `name` in a raw Cookie header (as Express's
 * cookie module does), percent-decode it, check "s:" prefix, split at the
 * LAST '.', verify the HMAC against each of secrets[0..nsecrets) in
 * constant time.  On success copy the id (NUL-terminated) into id and
 * return 0.  Return -1 when absent/garbage/bad signature/too long, or
 * when the id is not 1..SIGN_ID_MAX base64url chars.  Never adopts an
 * unverified id. */
int cookie_session_id(const char *header, size_t len, const char *name,
                      const char *const *secrets, size_t nsecrets,
                      char *id, size_t idlen);

/* Append a full Set-Cookie header VALUE:
 * "<name>=s%3A<id>.<sig>; Path=/; Expires=<IMF-fixdate>; HttpOnly[;
 * Secure]; SameSite=Lax" signed with secret, exactly as express-session +
 * cookie.serialize would send it.  expires_ms is Unix ms.  Returns 0, or
 * -1 on an invalid name (empty, too long, not an RFC 6265 token), an id
 * that fails sign_id_valid(), a date outside years 0..9999, a signing
 * failure or OOM; out is then left as it was (unless OOM). */
int cookie_format(struct buf *out, const char *name, const char *id,
                  const char *secret, int64_t expires_ms, int secure);

/* Write the IMF-fixdate (RFC 7231 7.1.1.1) for Unix ms, e.g.
 * "Sat, 26 Dec 2026 03:01:02 GMT" (ms truncated toward the earlier
 * second, as JavaScript's Date.toUTCString does).  out needs 30 bytes.
 * Returns 0, or -1 for a short buffer or a year outside 0..9999. */
int cookie_imf_fixdate(int64_t ms, char *out, size_t outlen);

#endif
