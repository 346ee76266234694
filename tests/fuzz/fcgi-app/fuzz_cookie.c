/* fuzz_cookie.c -- libFuzzer harness for cookie_session_id/cookie_format
 *
 * The input is a raw Cookie header.  Whatever it is, parsing must not
 * crash, and an id it yields must be a valid base64url id that survives
 * cookie_format -> cookie_session_id.  The input is also tried as an id
 * and as an expiry for cookie_format, whose output must parse back.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cookie.h"
#include "sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const secrets[] = { "new secret", "keyboard cat" };

#define FUZZ_CHECK(x) do { if (!(x)) abort(); } while (0)

/* Format id with secret, read the Set-Cookie's "name=value" part back as
 * a Cookie header: must give id. */
static void
roundtrip(const char *id, int64_t expires, int secure)
{
    struct buf  b;
    char        got[SIGN_ID_MAX + 1];
    const char *semi;

    buf_init(&b);
    if (cookie_format(&b, "connect.sid", id, "keyboard cat", expires,
                      secure) == 0) {
        semi = strchr(b.data, ';');
        FUZZ_CHECK(semi != NULL);
        FUZZ_CHECK(cookie_session_id(b.data, (size_t) (semi - b.data),
                                     "connect.sid", secrets, 2, got,
                                     sizeof(got)) == 0);
        FUZZ_CHECK(strcmp(got, id) == 0);
    }
    buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *h = (const char *) data;
    char        id[SIGN_ID_MAX + 1], small[8];
    int64_t     expires = 0;
    size_t      i;

    if (cookie_session_id(h, size, "connect.sid", secrets, 2, id,
                          sizeof(id)) == 0) {
        FUZZ_CHECK(sign_id_valid(id, strlen(id)));
        roundtrip(id, 0, 0);
    }
    /* Small id buffer: may only fail, never overflow. */
    (void) cookie_session_id(h, size, "connect.sid", secrets, 2, small,
                             sizeof(small));
    /* The input as an id and as expiry ms. */
    if (size <= SIGN_ID_MAX && sign_id_valid(h, size)) {
        memcpy(id, h, size);
        id[size] = '\0';
        for (i = 0; i < size && i < 8; i++)
            expires = (int64_t) ((uint64_t) expires << 8 | data[i]);
        roundtrip(id, expires, (int) (size & 1));
    }
    return 0;
}
