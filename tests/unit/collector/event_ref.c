/* event_ref.c -- the jansson reference encoder, for tests only
 *
 * The event is a template jansson object whose string values are replaced
 * per line with json_string_setn_nocheck() after sanitising with
 * utf8_sanitize() (json_string() refuses invalid UTF-8, and a log line is
 * outside input), then dumped with json_dumpb(JSON_COMPACT); jansson >=
 * 2.8 keeps insertion order, so the keys come out in the order set here.
 * Slow (allocations, per-code-point escaping) but obviously right.  It
 * shares only event_format_time(), utf8_sanitize() and parse_line() with
 * the production encoder, not its escaper.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "event_ref.h"
#include "parse.h"
#include "utf8.h"

struct event_ref {
    json_t  *obj;               /* the template event */
    json_t  *ts;                /* borrowed string values inside obj */
    json_t  *msg;
    json_t  *path;
    json_t  *type;
    int      parse;
    char    *san;               /* sanitised message, line_max * 3 bytes */
    size_t   san_cap;
    char    *buf;               /* sanitised path, type or host */
    size_t   buf_cap;
    char    *out;               /* encoded event */
    size_t   out_cap;
};

/* Set a jansson string value to the sanitised form of s.  0 or -1. */
static int
event_ref_set_str(struct event_ref *r, json_t *val, const char *s)
{
    size_t len = strlen(s), need = len * UTF8_MAX_GROWTH + 1, n;

    if (need > r->buf_cap) {
        char *p = realloc(r->buf, need);

        if (p == NULL) {
            return -1;
        }
        r->buf = p;
        r->buf_cap = need;
    }
    n = utf8_sanitize(s, len, r->buf);
    return json_string_setn_nocheck(val, r->buf, n);
}

/* Build the "parsed" object from pr, or NULL if out of memory. */
static json_t *
event_ref_parsed(const struct parse_result *pr)
{
    json_t *o = json_object();
    size_t i;

    if (o == NULL
        || json_object_set_new(o, "format", json_string(pr->format)) != 0)
    {
        json_decref(o);
        return NULL;
    }
    for (i = 0; i < pr->n; i++) {
        json_t *v;

        if (pr->f[i].is_int) {
            v = json_integer(pr->f[i].num);
        } else {
            /* fields point into the sanitised message: valid UTF-8 */
            v = json_stringn_nocheck(pr->f[i].val, pr->f[i].len);
        }
        if (json_object_set_new(o, pr->f[i].name, v) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/*
 * Create a reference encoder with the arguments of event_encoder_create().
 * Returns NULL and fills err on failure.
 */
struct event_ref *
event_ref_create(const char *host, int parse, size_t line_max, char *err,
    size_t errlen)
{
    struct event_ref *r = calloc(1, sizeof(*r));

    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->parse = parse;
    r->san_cap = line_max * UTF8_MAX_GROWTH + 1;
    r->san = malloc(r->san_cap);
    r->out_cap = 4096;
    r->out = malloc(r->out_cap);
    r->obj = json_object();
    r->ts = json_string("");
    r->msg = json_string("");
    r->path = json_string("");
    r->type = json_string("");
    if (r->san == NULL || r->out == NULL || r->obj == NULL || r->ts == NULL
        || r->msg == NULL || r->path == NULL || r->type == NULL)
    {
        snprintf(err, errlen, "out of memory");
        goto error;
    }
    /* json_object_set() takes its own reference; ours stay borrowed */
    if (json_object_set(r->obj, "@timestamp", r->ts) != 0
        || json_object_set_new(r->obj, "@version", json_string("1")) != 0
        || json_object_set(r->obj, "message", r->msg) != 0
        || json_object_set_new(r->obj, "host", json_string("")) != 0
        || event_ref_set_str(r, json_object_get(r->obj, "host"), host) != 0
        || json_object_set(r->obj, "path", r->path) != 0
        || json_object_set(r->obj, "type", r->type) != 0)
    {
        snprintf(err, errlen, "cannot build the event template");
        goto error;
    }
    return r;

error:
    event_ref_destroy(r);
    return NULL;
}

/* Free the encoder.  Accepts NULL and half-built encoders. */
void
event_ref_destroy(struct event_ref *r)
{
    if (r == NULL) {
        return;
    }
    json_decref(r->ts);
    json_decref(r->msg);
    json_decref(r->path);
    json_decref(r->type);
    json_decref(r->obj);
    free(r->san);
    free(r->buf);
    free(r->out);
    free(r);
}

/* Dump the template into r->out followed by '\n'.  0 or -1 with err. */
static int
event_ref_dump(struct event_ref *r, const char **out, size_t *outlen,
    char *err, size_t errlen)
{
    size_t need;

    for (;;) {
        need = json_dumpb(r->obj, r->out, r->out_cap - 1, JSON_COMPACT);
        if (need == 0) {
            snprintf(err, errlen, "json_dumpb() failed");
            return -1;
        }
        if (need < r->out_cap) {
            break;
        }
        {
            char *p = realloc(r->out, need + 1);

            if (p == NULL) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            r->out = p;
            r->out_cap = need + 1;
        }
    }
    r->out[need] = '\n';
    *out = r->out;
    *outlen = need + 1;
    return 0;
}

/*
 * Encode line as one event followed by '\n'; the contract of
 * event_encode(): *out is valid until the next call.  Returns 0, or -1
 * with err filled (line over the cap, out of memory).
 */
int
event_ref_encode(struct event_ref *r, const struct event_line *line,
    const char **out, size_t *outlen, char *err, size_t errlen)
{
    struct parse_result pr;
    char ts[32];
    size_t n;

    if (line->len * UTF8_MAX_GROWTH + 1 > r->san_cap) {
        snprintf(err, errlen, "line of %zu bytes exceeds the line cap",
            line->len);
        return -1;
    }
    n = utf8_sanitize(line->msg, line->len, r->san);
    if (event_format_time(line->ts_ms, ts, sizeof(ts)) != 0
        || json_string_set(r->ts, ts) != 0
        || json_string_setn_nocheck(r->msg, r->san, n) != 0
        || event_ref_set_str(r, r->path, line->path) != 0
        || event_ref_set_str(r, r->type, line->type) != 0)
    {
        snprintf(err, errlen, "cannot set event values");
        return -1;
    }
    if (line->truncated) {
        json_object_set_new(r->obj, "truncated", json_true());
    } else {
        json_object_del(r->obj, "truncated");
    }
    json_object_del(r->obj, "parsed");
    if (r->parse && parse_line(r->san, n, &pr)) {
        json_t *p = event_ref_parsed(&pr);

        if (p == NULL || json_object_set_new(r->obj, "parsed", p) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return event_ref_dump(r, out, outlen, err, errlen);
}
