/* test_sign.c -- unit tests for sign.c
 *
 * HMAC vectors come from outside this code base: RFC 4231 test case 2
 * (hex digest re-encoded to base64) and the example in the cookie-signature
 * README (sign('hello', 'tobiiscool')).  Node-generated vectors live in
 * test_vectors.c.
 */
#include <string.h>

#include "sign.h"
#include "unit.h"

static void
test_rfc4231_case2(void)
{
    char out[SIGN_B64_LEN + 1];

    /* HMAC-SHA-256("Jefe", "what do ya want for nothing?") = 5bdcc146bf60
     * 754e6a042426089575c75a003f089d2739839dec58b964ec3843 (RFC 4231). */
    UNIT_CHECK(sign_hmac_b64("Jefe", 4, "what do ya want for nothing?", 28,
                             out, sizeof(out)) == 0);
    UNIT_CHECK_STR(out, "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM");
}

static void
test_cookie_signature_readme(void)
{
    char out[SIGN_B64_LEN + 1];

    UNIT_CHECK(sign_hmac_b64("tobiiscool", 10, "hello", 5, out,
                             sizeof(out)) == 0);
    UNIT_CHECK_STR(out, "DGDUkGlIkCzPz+C0B064FNgHdEjox7ch8tOBGslZ5QI");
    UNIT_CHECK(strlen(out) == SIGN_B64_LEN);
}

static void
test_hmac_edges(void)
{
    char out[SIGN_B64_LEN + 1], again[SIGN_B64_LEN + 1];
    char key[200];

    UNIT_CHECK(sign_hmac_b64("", 0, "", 0, out, sizeof(out)) == 0);
    UNIT_CHECK(strlen(out) == SIGN_B64_LEN);
    UNIT_CHECK(sign_hmac_b64(NULL, 0, NULL, 0, again, sizeof(again)) == 0);
    UNIT_CHECK_STR(again, out);
    /* Keys longer than the block size are hashed first: still works. */
    memset(key, 'k', sizeof(key));
    UNIT_CHECK(sign_hmac_b64(key, sizeof(key), "m", 1, out,
                             sizeof(out)) == 0);
    UNIT_CHECK(sign_hmac_b64(key, sizeof(key) - 1, "m", 1, again,
                             sizeof(again)) == 0);
    UNIT_CHECK(strcmp(out, again) != 0);
    /* Short output buffer. */
    UNIT_CHECK(sign_hmac_b64("k", 1, "m", 1, out, SIGN_B64_LEN) == -1);
    UNIT_CHECK(sign_hmac_b64("k", 1, "m", 1, NULL, 100) == -1);
}

static void
test_equal_semantics(void)
{
    UNIT_CHECK(sign_equal("abc", "abc", 3) == 1);
    UNIT_CHECK(sign_equal("abc", "abd", 3) == 0);
    UNIT_CHECK(sign_equal("xbc", "abc", 3) == 0);
    UNIT_CHECK(sign_equal("abc", "abd", 2) == 1);   /* only len bytes */
    UNIT_CHECK(sign_equal("", "", 0) == 1);
    /* Not a string compare: bytes after a NUL count. */
    UNIT_CHECK(sign_equal("a\0b", "a\0c", 3) == 0);
    UNIT_CHECK(sign_equal("a\0b", "a\0b", 3) == 1);
}

static int
b64url(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static void
test_random_id_shape(void)
{
    char   id[SIGN_ID_LEN + 1], prev[SIGN_ID_LEN + 1];
    int    seen[256] = { 0 };
    int    i, j, shape = 1, distinct = 1, all = 1;

    prev[0] = '\0';
    for (i = 0; i < 2000; i++) {
        UNIT_CHECK(sign_random_id(id, sizeof(id)) == 0);
        shape &= strlen(id) == SIGN_ID_LEN;
        for (j = 0; j < SIGN_ID_LEN; j++) {
            shape &= b64url(id[j]);
            seen[(unsigned char) id[j]] = 1;
        }
        distinct &= strcmp(id, prev) != 0;
        shape &= sign_id_valid(id, strlen(id));
        memcpy(prev, id, sizeof(id));
    }
    UNIT_CHECK(shape);
    UNIT_CHECK(distinct);
    /* 64000 draws: every one of the 64 symbols shows up. */
    for (j = 0; j < 256; j++)
        all &= seen[j] == b64url((char) j);
    UNIT_CHECK(all);
}

static void
test_random_id_short_buffer(void)
{
    char id[SIGN_ID_LEN];

    UNIT_CHECK(sign_random_id(id, sizeof(id)) == -1);
    UNIT_CHECK(sign_random_id(NULL, 100) == -1);
}

static void
test_id_valid(void)
{
    char long_id[SIGN_ID_MAX + 2];

    memset(long_id, 'a', sizeof(long_id));
    UNIT_CHECK(sign_id_valid("a", 1) == 1);
    UNIT_CHECK(sign_id_valid("Az09-_", 6) == 1);
    UNIT_CHECK(sign_id_valid(long_id, SIGN_ID_MAX) == 1);
    UNIT_CHECK(sign_id_valid(long_id, SIGN_ID_MAX + 1) == 0);
    UNIT_CHECK(sign_id_valid("", 0) == 0);
    UNIT_CHECK(sign_id_valid(NULL, 1) == 0);
    UNIT_CHECK(sign_id_valid("ab+c", 4) == 0);
    UNIT_CHECK(sign_id_valid("ab/c", 4) == 0);
    UNIT_CHECK(sign_id_valid("abc=", 4) == 0);
    UNIT_CHECK(sign_id_valid("a.b", 3) == 0);
    UNIT_CHECK(sign_id_valid("a b", 3) == 0);
    UNIT_CHECK(sign_id_valid("a:b", 3) == 0);
    UNIT_CHECK(sign_id_valid("a*", 2) == 0);
    UNIT_CHECK(sign_id_valid("a\0", 2) == 0);
    UNIT_CHECK(sign_id_valid("\xc3\xa9", 2) == 0);
}

int
main(void)
{
    UNIT_RUN(test_rfc4231_case2);
    UNIT_RUN(test_cookie_signature_readme);
    UNIT_RUN(test_hmac_edges);
    UNIT_RUN(test_equal_semantics);
    UNIT_RUN(test_random_id_shape);
    UNIT_RUN(test_random_id_short_buffer);
    UNIT_RUN(test_id_valid);
    return unit_done();
}
