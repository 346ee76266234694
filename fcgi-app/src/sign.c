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
#include <openssl/core_names.h>
#include <openssl/params.h>

#include "sign.h"

#define SIGN_ID_BYTES 24

/* Keyed HMAC-SHA256 contexts, one per secret seen (the current and the
 * previous SESSION_SECRET, and whatever the unit tests use).  OpenSSL 3's
 * one-shot HMAC() fetches the digest and builds a keyed context on every
 * call: 3.6 us per signature here, against 0.3 us for re-initialising a
 * context keyed once (EVP_MAC_init with a NULL key keeps the key,
 * EVP_MAC_init(3)).  Measured with a 36-byte key and a 34-byte message on
 * this project's 2-core VM.  Not thread-safe: each fcgi-app worker process
 * runs one thread (worker.c). */
#define SIGN_KEYS_MAX 8

struct sign_key {
    unsigned char *secret;      /* a copy, to find the context again */
    size_t         len;
    EVP_MAC_CTX   *ctx;
};

static struct sign_key sign_keys[SIGN_KEYS_MAX];
static size_t          sign_nkeys;
static size_t          sign_next_evict;

/* The context keyed with secret, made (or recycled) on first use.  NULL
 * on a libcrypto failure or OOM. */
static EVP_MAC_CTX *
sign_key_ctx(const char *secret, size_t len)
{
    struct sign_key *k;
    EVP_MAC         *mac;
    OSSL_PARAM       params[2];
    size_t           i;

    for (i = 0; i < sign_nkeys; i++) {
        k = &sign_keys[i];
        if (k->len == len && memcmp(k->secret, secret, len) == 0) {
            return EVP_MAC_init(k->ctx, NULL, 0, NULL) == 1 ? k->ctx : NULL;
        }
    }
    if (sign_nkeys < SIGN_KEYS_MAX) {
        k = &sign_keys[sign_nkeys++];
    } else {
        k = &sign_keys[sign_next_evict++ % SIGN_KEYS_MAX];
        OPENSSL_clear_free(k->secret, k->len);
        EVP_MAC_CTX_free(k->ctx);
    }
    k->secret = OPENSSL_malloc(len ? len : 1);
    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    k->ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    EVP_MAC_free(mac);
    k->len = len;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (k->secret == NULL || k->ctx == NULL
        || EVP_MAC_init(k->ctx, (const unsigned char *) secret, len, params)
           != 1)
    {
        OPENSSL_free(k->secret);
        EVP_MAC_CTX_free(k->ctx);
        *k = sign_keys[--sign_nkeys];   /* drop it (k may be the last) */
        memset(&sign_keys[sign_nkeys], 0, sizeof(sign_keys[0]));
        return NULL;
    }
    memcpy(k->secret, secret, len);
    return k->ctx;
}

/* See sign.h. */
int
sign_hmac_b64(const char *secret, size_t secretlen, const char *msg,
              size_t len, char *out, size_t outlen)
{
    unsigned char  md[EVP_MAX_MD_SIZE];
    unsigned char  b64[64];
    EVP_MAC_CTX   *ctx;
    size_t         mdlen = 0;
    int            n;

    if (out == NULL || outlen < SIGN_B64_LEN + 1 || secretlen > INT32_MAX)
        return -1;
    if (secret == NULL || secretlen == 0) {
        secret = "";
        secretlen = 0;
    }
    if (msg == NULL)
        msg = "";
    ctx = sign_key_ctx(secret, secretlen);
    if (ctx == NULL
        || EVP_MAC_update(ctx, (const unsigned char *) msg, len) != 1
        || EVP_MAC_final(ctx, md, &mdlen, sizeof(md)) != 1 || mdlen != 32)
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
