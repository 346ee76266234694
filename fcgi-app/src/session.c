/* session.c -- connect-redis compatible session document
 *
 * Owns the JSON that express-session + connect-redis store for a session:
 * JSON.stringify(req.session), i.e. a "cookie" object (originalMaxAge,
 * expires as toISOString(), httpOnly, path, and maybe secure, domain,
 * sameSite) beside the app's fields.  Ours are "views" and "createdAt";
 * every other field is kept where it was.  The only app file that
 * includes jansson.
 *
 * jansson 2.14 keeps object keys in insertion order (JSON_PRESERVE_ORDER
 * has been a no-op since 2.8), and json_object_set() on an existing key
 * replaces the value in place, so key order survives parse -> touch ->
 * dump, as with JSON.parse + JSON.stringify (duplicate keys too: first
 * position, last value).  Numbers are loaded as doubles
 * (JSON_DECODE_INT_AS_REAL), which is what JavaScript holds, and the
 * document is written by our own JSON.stringify-compatible writer rather
 * than json_dump(): json_dump prints 0.1 as 0.10000000000000001 and
 * controls as \u001F, JSON.stringify as 0.1 and \u001f.  So a document
 * Express wrote comes back byte for byte, apart from the fields we change.
 * Documents jansson cannot load are rejected whole: escaped lone
 * surrogates, nesting deeper than 2048, numbers beyond double range.
 * Number formatting uses snprintf/strtod, so the process must stay in the
 * "C" locale (it never calls setlocale()).
 *
 * Two forms hold a document.  The one session_new() writes, and every
 * touch of it, is the canonical form (sessflat.h): four values in a fixed
 * template, parsed and written without jansson.  Every other document is
 * a jansson tree.  Each accessor below answers for both, the same way.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "civil.h"
#include "jsonw.h"
#include "sessflat.h"
#include "session.h"

struct session {
    json_t          *root;   /* a JSON object holding a "cookie" object,
                              * or NULL: the document is in flat */
    struct sessflat  flat;   /* the canonical form, when root is NULL */
};

/* Box root (owned from here on).  NULL on OOM, root then released. */
static struct session *
session_wrap(json_t *root)
{
    struct session *s = malloc(sizeof(*s));

    if (s == NULL) {
        json_decref(root);
        return NULL;
    }
    s->root = root;
    return s;
}

/* Box a canonical document.  NULL on OOM. */
static struct session *
session_wrap_flat(const struct sessflat *flat)
{
    struct session *s = malloc(sizeof(*s));

    if (s == NULL)
        return NULL;
    s->root = NULL;
    s->flat = *flat;
    return s;
}

/* A JSON number holding an integer (Number.isInteger) that fits int64:
 * 0 and *out set, else -1.  Loaded numbers are reals, ours integers. */
static int
session_int(const json_t *v, int64_t *out)
{
    double d;

    if (json_is_integer(v)) {
        *out = (int64_t) json_integer_value(v);
        return 0;
    }
    if (!json_is_real(v))
        return -1;
    d = json_real_value(v);
    /* -2^63 <= d < 2^63, both exactly representable as doubles. */
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)
        || d != floor(d))
        return -1;
    *out = (int64_t) d;
    return 0;
}

/* See session.h.  The new document is canonical: no tree is built. */
struct session *
session_new(int64_t now_ms, int64_t max_age_ms)
{
    struct sessflat flat;

    if (max_age_ms < 0 || now_ms > INT64_MAX - max_age_ms
        || session_iso8601(now_ms, flat.created, sizeof(flat.created)) != 0
        || session_iso8601(now_ms + max_age_ms, flat.expires,
                           sizeof(flat.expires)) != 0)
        return NULL;
    flat.max_age = max_age_ms;
    flat.views = 0;
    return session_wrap_flat(&flat);
}

/* See session.h: the canonical form when the bytes are exactly that,
 * else the tree. */
struct session *
session_parse(const char *json, size_t len, char *err, size_t errlen)
{
    struct sessflat flat;

    if (sessflat_parse(json, len, &flat) == 0)
        return session_wrap_flat(&flat);
    return session_parse_tree(json, len, err, errlen);
}

/* See session.h.  JSON_ALLOW_NUL: Express may store "\u0000" in a field
 * we do not own; it must survive.  JSON_DECODE_INT_AS_REAL: every number
 * is a double, as in JavaScript (so 2^63 and beyond still load). */
struct session *
session_parse_tree(const char *json, size_t len, char *err, size_t errlen)
{
    json_error_t  jerr;
    json_t       *root;

    if (json == NULL) {
        snprintf(err, errlen, "session: no document");
        return NULL;
    }
    root = json_loadb(json, len, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL,
                      &jerr);
    if (root == NULL) {
        snprintf(err, errlen, "session: %s (line %d, column %d)",
                 jerr.text, jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "session: document is not a JSON object");
        goto error;
    }
    if (!json_is_object(json_object_get(root, "cookie"))) {
        snprintf(err, errlen, "session: no \"cookie\" object");
        goto error;
    }
    return session_wrap(root);

error:
    json_decref(root);
    return NULL;
}

/* See session.h. */
int
session_touch(struct session *s, int64_t now_ms)
{
    char     exp[SESSION_ISO_LEN + 1];
    json_t  *cookie;
    int64_t  views, max_age;

    if (s == NULL)
        return -1;
    /* The new expiry first, so that a date out of range changes nothing
     * (in either form). */
    max_age = session_max_age_ms(s);
    if (max_age >= 0
        && (now_ms > INT64_MAX - max_age
            || session_iso8601(now_ms + max_age, exp, sizeof(exp)) != 0))
        return -1;
    if (s->root == NULL) {
        /* Canonical: views <= 10^15 - 1 before, max_age >= 0 (sessflat.h). */
        s->flat.views++;
        memcpy(s->flat.expires, exp, sizeof(exp));
        return 0;
    }
    views = session_views(s);
    if (views < INT64_MAX)         /* saturate rather than overflow */
        views++;
    /* Stored as a double, as JavaScript's views + 1 would be: above 2^53
     * it rounds the same way, so dump -> parse gives the same count. */
    if (json_object_set_new(s->root, "views",
                            json_real((double) views)) != 0)
        return -1;
    if (max_age < 0)
        return 0;                   /* a browser-session cookie: no expiry */
    cookie = json_object_get(s->root, "cookie");
    if (json_object_set_new(cookie, "expires", json_string(exp)) != 0)
        return -1;
    return 0;
}

/* See session.h. */
int64_t
session_views(const struct session *s)
{
    json_t  *v;
    int64_t  n;

    if (s == NULL)
        return 0;
    if (s->root == NULL)
        return s->flat.views;
    v = json_object_get(s->root, "views");
    if (session_int(v, &n) != 0)
        return 0;
    return n;
}

/* See session.h. */
int64_t
session_expires_ms(const struct session *s)
{
    json_t *v;

    if (s == NULL)
        return -1;
    if (s->root == NULL)
        return session_parse_iso8601(s->flat.expires);
    v = json_object_get(json_object_get(s->root, "cookie"), "expires");
    if (!json_is_string(v))
        return -1;
    return session_parse_iso8601(json_string_value(v));
}

/* See session.h.  A negative originalMaxAge also reads as -1. */
int64_t
session_max_age_ms(const struct session *s)
{
    json_t  *v;
    int64_t  n;

    if (s == NULL)
        return -1;
    if (s->root == NULL)
        return s->flat.max_age;
    v = json_object_get(json_object_get(s->root, "cookie"),
                        "originalMaxAge");
    if (session_int(v, &n) != 0)
        return -1;
    return n < 0 ? -1 : n;
}

/* See session.h. */
const char *
session_created(const struct session *s)
{
    if (s == NULL)
        return NULL;
    if (s->root == NULL)
        return s->flat.created;
    return json_string_value(json_object_get(s->root, "createdAt"));
}

/* Append p[0..len) as JSON.stringify's QuoteJSONString does: '"', '\\',
 * \b \t \n \f \r, other C0 controls as \u00xx (lower-case hex), all else
 * raw (lib/wsjson.h with no flags).  0 / -1 (OOM). */
static int
session_write_string(struct buf *out, const char *p, size_t len)
{
    buf_append(out, "\"", 1);
    jsonw_escaped(out, p, len, 0);
    return buf_append(out, "\"", 1);
}

/* Append a double as ECMA-262 Number::toString (radix 10) does: the
 * shortest digits that read back as d (tried with %.*e, 1..17 digits),
 * then plain notation for exponents -6 < n <= 21, else d.ddde+N.
 * Non-finite numbers cannot come from JSON; they are written as null,
 * as JSON.stringify does. */
static int
session_write_number(struct buf *out, double d)
{
    char    sci[40];
    char    digits[32];     /* <= 17 used; sized so digits + n stays in
                             * bounds for every n <= 21 */
    char   *e, *end;
    int     prec, k, n, i;
    long    exp10;

    if (!isfinite(d))
        return buf_appends(out, "null");
    if (d == 0)
        return buf_appends(out, "0");            /* also -0 */
    if (d < 0) {
        buf_append(out, "-", 1);
        d = -d;
    }
    /* An integer below 2^53 (a counter, a time in ms: every number a
     * session holds) is exact as a long long, and its shortest digits
     * are its decimal digits, which plain notation writes as they are.
     * This skips up to 17 snprintf/strtod rounds per number (perf had
     * them at 3 % of a worker's time on kept-cookie requests). */
    if (d < 9007199254740992.0 && d == (double) (long long) d)
        return buf_append_ll(out, (long long) d);
    for (prec = 1; prec <= 17; prec++) {
        snprintf(sci, sizeof(sci), "%.*e", prec - 1, d);
        if (strtod(sci, NULL) == d)
            break;
    }
    /* sci is "D[.DDD]e[+-]XX": collect the digits and the exponent. */
    k = 0;
    for (i = 0; sci[i] != 'e' && sci[i] != '\0'; i++) {
        if (sci[i] >= '0' && sci[i] <= '9' && k < (int) sizeof(digits) - 1)
            digits[k++] = sci[i];
    }
    e = strchr(sci, 'e');
    if (e == NULL)
        return -1;
    exp10 = strtol(e + 1, &end, 10);
    while (k > 1 && digits[k - 1] == '0')
        k--;
    digits[k] = '\0';
    n = (int) exp10 + 1;           /* value = 0.digits * 10^n */

    if (k <= n && n <= 21) {
        buf_append(out, digits, (size_t) k);
        for (i = k; i < n; i++)
            buf_append(out, "0", 1);
    } else if (0 < n && n <= 21) {
        buf_append(out, digits, (size_t) n);
        buf_append(out, ".", 1);
        buf_append(out, digits + n, (size_t) (k - n));
    } else if (-6 < n && n <= 0) {
        buf_append(out, "0.", 2);
        for (i = n; i < 0; i++)
            buf_append(out, "0", 1);
        buf_append(out, digits, (size_t) k);
    } else {
        buf_append(out, digits, 1);
        if (k > 1) {
            buf_append(out, ".", 1);
            buf_append(out, digits + 1, (size_t) (k - 1));
        }
        buf_printf(out, "e%c%d", n - 1 < 0 ? '-' : '+',
                   n - 1 < 0 ? 1 - n : n - 1);
    }
    return out->oom ? -1 : 0;
}

/* Append v the way JSON.stringify would.  Recursion depth is bounded by
 * jansson's parser limit (2048); our own additions are shallow. */
static int
session_write(struct buf *out, const json_t *v)
{
    const char *key;
    json_t     *item;
    size_t      keylen, i;
    int         first;

    switch (json_typeof(v)) {
    case JSON_OBJECT:
        buf_append(out, "{", 1);
        first = 1;
        /* The iteration macro wants a non-const object; we only read. */
        json_object_keylen_foreach((json_t *) (uintptr_t) v, key, keylen,
                                   item) {
            if (!first)
                buf_append(out, ",", 1);
            first = 0;
            session_write_string(out, key, keylen);
            buf_append(out, ":", 1);
            if (session_write(out, item) != 0)
                return -1;
        }
        return buf_append(out, "}", 1);
    case JSON_ARRAY:
        buf_append(out, "[", 1);
        for (i = 0; i < json_array_size(v); i++) {
            if (i > 0)
                buf_append(out, ",", 1);
            if (session_write(out, json_array_get(v, i)) != 0)
                return -1;
        }
        return buf_append(out, "]", 1);
    case JSON_STRING:
        return session_write_string(out, json_string_value(v),
                                    json_string_length(v));
    case JSON_INTEGER:
        return buf_append_ll(out, (long long) json_integer_value(v));
    case JSON_REAL:
        return session_write_number(out, json_real_value(v));
    case JSON_TRUE:
        return buf_appends(out, "true");
    case JSON_FALSE:
        return buf_appends(out, "false");
    case JSON_NULL:
        return buf_appends(out, "null");
    }
    return -1;
}

/* See session.h.  Appends are checked once through the sticky oom. */
int
session_dump(const struct session *s, struct buf *out)
{
    if (s == NULL || out->oom)
        return -1;
    if (s->root == NULL)
        return sessflat_write(&s->flat, out);
    if (session_write(out, s->root) != 0)
        return -1;
    return out->oom ? -1 : 0;
}

/* See session.h. */
void
session_destroy(struct session *s)
{
    if (s == NULL)
        return;
    json_decref(s->root);
    free(s);
}

/* See session.h: Date.prototype.toISOString() for years 0..9999. */
int
session_iso8601(int64_t ms, char *out, size_t outlen)
{
    struct civil_time t;
    char *p = out;

    if (out == NULL || outlen < SESSION_ISO_LEN + 1
        || civil_from_ms(ms, &t) != 0)
        return -1;
    /* YYYY-MM-DDTHH:MM:SS.mmmZ */
    p = civil_digits(p, t.year, 4);
    *p++ = '-';
    p = civil_digits(p, t.month, 2);
    *p++ = '-';
    p = civil_digits(p, t.day, 2);
    *p++ = 'T';
    p = civil_digits(p, t.hour, 2);
    *p++ = ':';
    p = civil_digits(p, t.min, 2);
    *p++ = ':';
    p = civil_digits(p, t.sec, 2);
    *p++ = '.';
    p = civil_digits(p, t.ms, 3);
    *p++ = 'Z';
    *p = '\0';
    return p - out == SESSION_ISO_LEN ? 0 : -1;
}

/* Parse exactly n decimal digits at p.  -1 if any is not a digit. */
static int
session_digits(const char *p, int n)
{
    int i, v = 0;

    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* See session.h.  Accepts only "YYYY-MM-DDTHH:MM:SS.mmmZ". */
int64_t
session_parse_iso8601(const char *s)
{
    struct civil_time t;
    int64_t ms;

    if (s == NULL || strlen(s) != SESSION_ISO_LEN
        || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':'
        || s[16] != ':' || s[19] != '.' || s[23] != 'Z')
        return -1;
    t.year = session_digits(s, 4);
    t.month = session_digits(s + 5, 2);
    t.day = session_digits(s + 8, 2);
    t.hour = session_digits(s + 11, 2);
    t.min = session_digits(s + 14, 2);
    t.sec = session_digits(s + 17, 2);
    t.ms = session_digits(s + 20, 3);
    t.wday = 0;
    /* civil_to_ms rejects the -1 a bad digit leaves. */
    if (civil_to_ms(&t, &ms) != 0)
        return -1;
    return ms;
}
