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
 * replaces the value in place, so a parse -> touch -> dump round trip
 * keeps the document's key order, like JSON.parse + JSON.stringify.
 * Known value-preserving differences from JSON.stringify: reals are
 * written with up to 17 significant digits (0.1 -> 0.10000000000000001)
 * and control characters as \u001F rather than \u001f.  Documents jansson
 * cannot load are rejected whole: integers beyond int64, escaped lone
 * surrogates, nesting deeper than 2048.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "civil.h"
#include "session.h"

struct session {
    json_t *root;    /* a JSON object holding a "cookie" object */
};

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

/* See session.h. */
struct session *
session_new(int64_t now_ms, int64_t max_age_ms)
{
    char    now[SESSION_ISO_LEN + 1], exp[SESSION_ISO_LEN + 1];
    json_t *root;

    if (max_age_ms < 0 || now_ms > INT64_MAX - max_age_ms
        || session_iso8601(now_ms, now, sizeof(now)) != 0
        || session_iso8601(now_ms + max_age_ms, exp, sizeof(exp)) != 0)
        return NULL;
    /* "I" is json_int_t (long long); %s strings are ASCII. */
    root = json_pack("{s:{s:I,s:s,s:b,s:s},s:I,s:s}",
                     "cookie",
                     "originalMaxAge", (json_int_t) max_age_ms,
                     "expires", exp,
                     "httpOnly", 1,
                     "path", "/",
                     "views", (json_int_t) 0,
                     "createdAt", now);
    if (root == NULL)
        return NULL;
    return session_wrap(root);
}

/* See session.h.  JSON_ALLOW_NUL: Express may store "\u0000" in a field
 * we do not own; it must survive. */
struct session *
session_parse(const char *json, size_t len, char *err, size_t errlen)
{
    json_error_t  jerr;
    json_t       *root;

    if (json == NULL) {
        snprintf(err, errlen, "session: no document");
        return NULL;
    }
    root = json_loadb(json, len, JSON_ALLOW_NUL, &jerr);
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
    views = session_views(s);
    if (views < INT64_MAX)         /* saturate rather than overflow */
        views++;
    if (json_object_set_new(s->root, "views",
                            json_integer((json_int_t) views)) != 0)
        return -1;

    max_age = session_max_age_ms(s);
    if (max_age < 0)
        return 0;                   /* a browser-session cookie: no expiry */
    if (now_ms > INT64_MAX - max_age
        || session_iso8601(now_ms + max_age, exp, sizeof(exp)) != 0)
        return -1;
    cookie = json_object_get(s->root, "cookie");
    if (json_object_set_new(cookie, "expires", json_string(exp)) != 0)
        return -1;
    return 0;
}

/* See session.h. */
int64_t
session_views(const struct session *s)
{
    json_t *v;

    if (s == NULL)
        return 0;
    v = json_object_get(s->root, "views");
    if (!json_is_integer(v))
        return 0;
    return (int64_t) json_integer_value(v);
}

/* See session.h. */
int64_t
session_expires_ms(const struct session *s)
{
    json_t *v;

    if (s == NULL)
        return -1;
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
    v = json_object_get(json_object_get(s->root, "cookie"),
                        "originalMaxAge");
    if (!json_is_integer(v))
        return -1;
    n = (int64_t) json_integer_value(v);
    return n < 0 ? -1 : n;
}

/* See session.h. */
const char *
session_created(const struct session *s)
{
    if (s == NULL)
        return NULL;
    return json_string_value(json_object_get(s->root, "createdAt"));
}

static int
session_dump_cb(const char *p, size_t len, void *data)
{
    return buf_append(data, p, len);
}

/* See session.h. */
int
session_dump(const struct session *s, struct buf *out)
{
    if (s == NULL)
        return -1;
    if (json_dump_callback(s->root, session_dump_cb, out, JSON_COMPACT)
        != 0)
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
    int n;

    if (out == NULL || outlen < SESSION_ISO_LEN + 1
        || civil_from_ms(ms, &t) != 0)
        return -1;
    n = snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                 t.year, t.month, t.day, t.hour, t.min, t.sec, t.ms);
    return n == SESSION_ISO_LEN ? 0 : -1;
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
