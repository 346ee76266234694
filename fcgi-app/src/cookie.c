/* cookie.c -- Express-compatible signed session cookie
 *
 * Owns reading the session id from a raw Cookie header and writing the
 * Set-Cookie value, byte-compatible with express-session 1.x, which uses
 * the npm `cookie` module (parse/serialize) and `cookie-signature`
 * (sign/unsign).  The parse rules below mirror cookie@0.5 parse() as
 * shipped in Debian's node-cookie (/usr/share/nodejs/cookie/index.js):
 * pairs split on ';', pairs without '=' skipped, name and value trimmed,
 * a value starting with '"' loses its first and last character, a value
 * containing '%' is decodeURIComponent'd unless that throws, and only the
 * first occurrence of a name counts.
 *
 * One deliberate difference: cookie-signature@1.0.6 unsign() compares only
 * the first strlen(expected) bytes, so "s:<id>.<sig>JUNK" verifies there.
 * We require the signature to be exactly SIGN_B64_LEN chars.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "civil.h"
#include "cookie.h"
#include "pct.h"
#include "sign.h"
#include "utf8.h"

/* "s:" + id + "." + sig: the longest decoded value we can accept. */
#define COOKIE_VALUE_MAX ((size_t) 2 + SIGN_ID_MAX + 1 + SIGN_B64_LEN)
/* Every byte of it could arrive as a %XX escape. */
#define COOKIE_RAW_MAX   (3 * COOKIE_VALUE_MAX)

/* What String.prototype.trim removes from a header Node decoded as latin1:
 * TAB, LF, VT, FF, CR, SP and U+00A0 (NBSP). */
static int
cookie_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || c == 0xa0;
}

/* Narrow h[*start..*end) past leading and trailing cookie_space(). */
static void
cookie_trim(const char *h, size_t *start, size_t *end)
{
    while (*start < *end && cookie_space((unsigned char) h[*start]))
        (*start)++;
    while (*end > *start && cookie_space((unsigned char) h[*end - 1]))
        (*end)--;
}

/* Index of the first c in h[from..n), or n. */
static size_t
cookie_index(const char *h, size_t n, size_t from, char c)
{
    const char *p = memchr(h + from, c, n - from);

    return p ? (size_t) (p - h) : n;
}

/* cookie.parse() for one name: point *val at the raw (trimmed, unquoted,
 * still encoded) value of the first pair called name.  0, or -1 if none. */
static int
cookie_find(const char *h, size_t n, const char *name, size_t namelen,
            const char **val, size_t *vallen)
{
    size_t index, eq, end, ks, ke, vs, ve;

    index = 0;
    while (index < n) {
        eq = cookie_index(h, n, index, '=');
        if (eq == n)
            break;
        end = cookie_index(h, n, index, ';');
        if (end < eq) {
            /* Backtrack to just after the last ';' before the '='. */
            while (h[eq - 1] != ';')
                eq--;
            index = eq;
            continue;
        }
        ks = index;
        ke = eq;
        cookie_trim(h, &ks, &ke);
        if (ke - ks == namelen && memcmp(h + ks, name, namelen) == 0) {
            vs = eq + 1;
            ve = end;
            cookie_trim(h, &vs, &ve);
            if (ve > vs && h[vs] == '"') {
                /* JavaScript's val.slice(1, -1). */
                vs++;
                if (ve > vs)
                    ve--;
            }
            *val = h + vs;
            *vallen = ve - vs;
            return 0;
        }
        index = end + 1;
    }
    return -1;
}

/* See cookie.h. */
int
cookie_session_id(const char *header, size_t len, const char *name,
                  const char *const *secrets, size_t nsecrets,
                  char *id, size_t idlen)
{
    char        dec[COOKIE_RAW_MAX + 1];
    char        want[SIGN_B64_LEN + 1];
    const char *raw, *val, *dot, *sig;
    size_t      rawlen, vallen, declen, idl, i;
    int         match;

    if (header == NULL || name == NULL || secrets == NULL || id == NULL)
        return -1;
    if (cookie_find(header, len, name, strlen(name), &raw, &rawlen) != 0)
        return -1;
    if (rawlen == 0 || rawlen > COOKIE_RAW_MAX)
        return -1;

    /* tryDecode(): decodeURIComponent only if there is a '%', and keep the
     * raw value when it throws (bad escape or invalid UTF-8).  A decoded
     * NUL also keeps the raw value; either way such a value cannot pass
     * the id check below. */
    val = raw;
    vallen = rawlen;
    if (memchr(raw, '%', rawlen) != NULL
        && pct_decode(raw, rawlen, dec, sizeof(dec), &declen) == 0
        && utf8_valid(dec, declen)) {
        val = dec;
        vallen = declen;
    }

    if (vallen < 2 || val[0] != 's' || val[1] != ':')
        return -1;
    val += 2;
    vallen -= 2;
    dot = NULL;
    for (i = vallen; i > 0; i--) {
        if (val[i - 1] == '.') {
            dot = val + i - 1;
            break;
        }
    }
    if (dot == NULL)
        return -1;
    idl = (size_t) (dot - val);
    sig = dot + 1;
    if (vallen - idl - 1 != SIGN_B64_LEN || !sign_id_valid(val, idl)
        || idl + 1 > idlen)
        return -1;

    /* Try every secret (no early exit) so timing says nothing about
     * which one matched. */
    match = 0;
    for (i = 0; i < nsecrets; i++) {
        if (secrets[i] == NULL)
            continue;
        if (sign_hmac_b64(secrets[i], strlen(secrets[i]), val, idl,
                          want, sizeof(want)) != 0)
            continue;
        match |= sign_equal(want, sig, SIGN_B64_LEN);
    }
    if (!match)
        return -1;
    memcpy(id, val, idl);
    id[idl] = '\0';
    return 0;
}

/* 1 if name is an RFC 6265 cookie-name (an RFC 2616 token). */
static int
cookie_name_valid(const char *name, size_t len)
{
    size_t i;
    unsigned char c;

    if (len == 0 || len > COOKIE_NAME_MAX)
        return 0;
    for (i = 0; i < len; i++) {
        c = (unsigned char) name[i];
        if (c <= 0x20 || c >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", c))
            return 0;
    }
    return 1;
}

/* See cookie.h.  Date.prototype.toUTCString() format. */
int
cookie_imf_fixdate(int64_t ms, char *out, size_t outlen)
{
    static const char wdays[7][4] = {
        "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
    };
    static const char months[12][4] = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun",
        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
    };
    struct civil_time t;
    char *p = out;

    if (out == NULL || outlen < 30 || civil_from_ms(ms, &t) != 0)
        return -1;
    /* Www, DD Mmm YYYY HH:MM:SS GMT */
    memcpy(p, wdays[t.wday], 3);
    p += 3;
    *p++ = ',';
    *p++ = ' ';
    p = civil_digits(p, t.day, 2);
    *p++ = ' ';
    memcpy(p, months[t.month - 1], 3);
    p += 3;
    *p++ = ' ';
    p = civil_digits(p, t.year, 4);
    *p++ = ' ';
    p = civil_digits(p, t.hour, 2);
    *p++ = ':';
    p = civil_digits(p, t.min, 2);
    *p++ = ':';
    p = civil_digits(p, t.sec, 2);
    memcpy(p, " GMT", 5);
    return p + 4 - out == 29 ? 0 : -1;
}

/* See cookie.h.  On failure out is left as it was (unless OOM). */
int
cookie_format(struct buf *out, const char *name, const char *id,
              const char *secret, int64_t expires_ms, int secure)
{
    char    value[COOKIE_VALUE_MAX + 1];
    char    date[32];
    size_t  start, idl;

    start = out->len;
    if (name == NULL || id == NULL || secret == NULL)
        return -1;
    idl = strlen(id);
    if (!cookie_name_valid(name, strlen(name)) || !sign_id_valid(id, idl))
        return -1;
    if (cookie_imf_fixdate(expires_ms, date, sizeof(date)) != 0)
        return -1;
    /* value = "s:" + sign(id, secret) as express-session's setcookie(). */
    value[0] = 's';
    value[1] = ':';
    memcpy(value + 2, id, idl);
    value[2 + idl] = '.';
    if (sign_hmac_b64(secret, strlen(secret), id, idl, value + 3 + idl,
                      sizeof(value) - 3 - idl) != 0)
        return -1;

    if (buf_appends(out, name) != 0
        || buf_append(out, "=", 1) != 0
        || pct_encode_component(out, value, strlen(value)) != 0
        || buf_appends(out, "; Path=/; Expires=") != 0
        || buf_appends(out, date) != 0
        || buf_appends(out, "; HttpOnly") != 0
        || (secure && buf_appends(out, "; Secure") != 0)
        || buf_appends(out, "; SameSite=Lax") != 0)
        goto error;
    return 0;

error:
    out->len = start;
    if (out->data != NULL)
        out->data[start] = '\0';
    return -1;
}
