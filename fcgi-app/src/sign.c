/* sign.c -- HMAC signatures and random ids (the only file with OpenSSL)
 *
 * Owns the npm cookie-signature encoding of HMAC-SHA256 (standard base64
 * with the trailing '=' stripped, as in `.digest('base64')
 * .replace(/\=+$/, '')`), constant-time comparison (CRYPTO_memcmp) and
 * uid-safe(24)-style session ids: 24 bytes from getrandom(2), base64url
 * without padding.  Holds no secrets itself.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "sign.h"

#define SIGN_ID_BYTES 24

/* See sign.h.  HMAC() is OpenSSL's one-shot API (not deprecated in 3.0,
 * unlike HMAC_CTX); an empty key is passed as a non-NULL "" so HMAC()
 * never sees a NULL key. */
int
sign_hmac_b64(const char *secret, size_t secretlen, const char *msg,
              size_t len, char *out, size_t outlen)
{
    unsigned char  md[EVP_MAX_MD_SIZE];
    unsigned char  b64[64];
    unsigned int   mdlen = 0;
    int            n;

    if (out == NULL || outlen < SIGN_B64_LEN + 1 || secretlen > INT32_MAX)
        return -1;
    if (secret == NULL || secretlen == 0)
        secret = "";
    if (msg == NULL)
        msg = "";
    if (HMAC(EVP_sha256(), secret, (int) secretlen,
             (const unsigned char *) msg, len, md, &mdlen) == NULL
        || mdlen != 32)
        return -1;
    /* 32 bytes -> 44 chars ending in one '='. */
    n = EVP_EncodeBlock(b64, md, (int) mdlen);
    if (n != SIGN_B64_LEN + 1 || b64[SIGN_B64_LEN] != '=')
        return -1;
    memcpy(out, b64, SIGN_B64_LEN);
    out[SIGN_B64_LEN] = '\0';
    return 0;
}

/* Constant time in len.  1 if equal, else 0. */
int
sign_equal(const char *a, const char *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

/* See sign.h.  getrandom(2) with flags 0 blocks only until the kernel
 * pool is initialised and never returns short for <= 256 bytes, but we
 * loop anyway (EINTR, short reads). */
int
sign_random_id(char *out, size_t outlen)
{
    unsigned char  raw[SIGN_ID_BYTES];
    unsigned char  b64[SIGN_ID_LEN + 1];
    size_t         got, i;
    ssize_t        n;
    int            rc = -1;

    if (out == NULL || outlen < SIGN_ID_LEN + 1)
        return -1;
    got = 0;
    while (got < sizeof(raw)) {
        n = getrandom(raw + got, sizeof(raw) - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            goto error;
        }
        got += (size_t) n;
    }
    /* 24 bytes -> exactly 32 chars, no padding. */
    if (EVP_EncodeBlock(b64, raw, (int) sizeof(raw)) != SIGN_ID_LEN)
        goto error;
    for (i = 0; i < SIGN_ID_LEN; i++) {
        if (b64[i] == '+')
            b64[i] = '-';
        else if (b64[i] == '/')
            b64[i] = '_';
    }
    memcpy(out, b64, SIGN_ID_LEN);
    out[SIGN_ID_LEN] = '\0';
    rc = 0;

error:
    OPENSSL_cleanse(raw, sizeof(raw));
    OPENSSL_cleanse(b64, sizeof(b64));
    return rc;
}

/* 1 if id[0..len) is 1..SIGN_ID_MAX base64url chars, else 0. */
int
sign_id_valid(const char *id, size_t len)
{
    size_t i;
    char   c;

    if (id == NULL || len == 0 || len > SIGN_ID_MAX)
        return 0;
    for (i = 0; i < len; i++) {
        c = id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return 0;
    }
    return 1;
}
