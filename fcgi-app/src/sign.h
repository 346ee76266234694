/* sign.h -- HMAC signatures and random ids (the only file with OpenSSL)
 *
 * Owns: HMAC-SHA256 in the npm cookie-signature encoding (standard base64,
 * '=' stripped), constant-time comparison and session ids from the kernel
 * CSPRNG in uid-safe's encoding (base64url, no padding).  Does not own:
 * cookie syntax (cookie.c) or secret storage (config.c).
 */
#ifndef SIGN_H
#define SIGN_H

#include <stddef.h>

#define SIGN_B64_LEN 43   /* base64(SHA-256) with '=' stripped */
#define SIGN_ID_LEN  32   /* 24 random bytes, base64url, no padding */
#define SIGN_ID_MAX  128  /* longest incoming id we accept */

/* out gets NUL-terminated standard base64 (with + and /) of
 * HMAC-SHA256(secret, msg), '=' stripped: SIGN_B64_LEN chars, so outlen
 * must be > SIGN_B64_LEN.  Returns 0, or -1 on a short buffer or a
 * libcrypto failure. */
int sign_hmac_b64(const char *secret, size_t secretlen, const char *msg,
                  size_t len, char *out, size_t outlen);

/* Constant time (in len) comparison of a[0..len) and b[0..len).
 * 1 if equal, else 0. */
int sign_equal(const char *a, const char *b, size_t len);

/* Write SIGN_ID_LEN base64url chars plus NUL (outlen > SIGN_ID_LEN) from
 * 24 bytes of getrandom(2).  Returns 0, or -1 on a short buffer or if the
 * kernel gives no randomness. */
int sign_random_id(char *out, size_t outlen);

/* 1 if id[0..len) is 1..SIGN_ID_MAX chars of the base64url alphabet
 * (A-Z a-z 0-9 - _), the only ids we use as a Redis key suffix; else 0. */
int sign_id_valid(const char *id, size_t len);

#endif
