/* event.c -- Logstash json_lines encoding of a log line (jansson seam)
 *
 * One event is one compact JSON object and '\n':
 *   {"@timestamp":"2026-11-26T03:01:02.345Z","@version":"1",
 *    "message":"...","host":"...","path":"...","type":"..."}
 * plus "truncated":true when the line was cut at the line cap, and
 * "parsed":{"format":...,...} when parsing is on and parse.c recognised
 * the line.  The only file that includes jansson.
 *
 * Two encoders, one output:
 * - event_encode(), the one the collector uses, writes the event straight
 *   into a buffer.  Host, path and type are encoded by jansson once and
 *   cached; the message and parsed values go through lib/wsjson.c with
 *   EVENT_JSON_POLICY, which applies utf8.c's replacement policy and
 *   escapes exactly as jansson does.  jansson per line cost 4-5x the
 *   throughput (measured with tests/bench/collector/run: 54 MB/s against
 *   275 MB/s).
 * - event_encode_reference() builds the same event as a jansson object
 *   (a template whose string values are replaced per line with
 *   json_string_setn_nocheck() after sanitising, since json_string()
 *   refuses invalid UTF-8 and a log line is outside input) and dumps it
 *   with json_dumpb(JSON_COMPACT); jansson >= 2.8 keeps insertion order.
 *   The unit tests and the fuzz harness require both to produce the same
 *   bytes for every input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "event.h"
#include "parse.h"
#include "utf8.h"
#include "wsjson.h"

/*
 * How the fast path escapes a string: what jansson's json_dumpb() does
 * ('"', '\\', \b \f \n \r \t, other controls as \u00XX with upper-case
 * hex; '/' and DEL not escaped), with utf8.c's policy applied on the way
 * (ill-formed bytes and NUL become U+FFFD), so both encoders produce
 * identical bytes.  The output needs len * WSJSON_MAX_GROWTH bytes.
 */
#define EVENT_JSON_POLICY (WSJSON_HEX_UPPER | WSJSON_REPLACE_BAD)

struct event_encoder {
    json_t  *obj;               /* the template event */
    json_t  *ts;                /* borrowed string values inside obj */
    json_t  *msg;
    json_t  *path;
    json_t  *type;
    int      parse;
    char    *san;               /* sanitised message, line_max * 3 bytes */
    size_t   san_cap;
    char    *path_buf;          /* sanitised path or type */
    size_t   path_cap;
    char    *out;               /* encoded event */
    size_t   out_cap;
    char    *last_path;         /* cache: copies of the path/type last set */
    char    *last_type;
    long long last_sec;         /* cache: formatted second */
    char     sec_buf[32];
    /* fast path */
    size_t   line_max;
    char    *fast;              /* encoded event */
    size_t   fast_cap;
    char    *host_json;         /* "host" value as JSON text, quotes incl. */
    size_t   host_json_len;
    char    *path_key;          /* raw path whose JSON is in path_json */
    char    *path_json;
    size_t   path_json_len;
    char    *type_key;
    char    *type_json;
    size_t   type_json_len;
};

/*
 * Format ts_ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC) into buf.  Returns 0, or
 * -1 if buf is too small or the time cannot be represented.
 */
int
event_format_time(long long ts_ms, char *buf, size_t buflen)
{
    time_t sec = (time_t) (ts_ms / 1000);
    struct tm tm;
    int n;

    if (ts_ms < 0 || gmtime_r(&sec, &tm) == NULL) {
        return -1;
    }
    n = snprintf(buf, buflen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
        tm.tm_sec, (int) (ts_ms % 1000));
    if (n < 0 || (size_t) n >= buflen) {
        return -1;
    }
    return 0;
}

/* Set a jansson string value to the sanitised form of s[0..len). */
static int
event_set_str(struct event_encoder *enc, json_t *val, const char *s,
    size_t len)
{
    size_t need = len * UTF8_MAX_GROWTH + 1, n;

    if (need > enc->path_cap) {
        char *p = realloc(enc->path_buf, need);

        if (p == NULL) {
            return -1;
        }
        enc->path_buf = p;
        enc->path_cap = need;
    }
    n = utf8_sanitize(s, len, enc->path_buf);
    return json_string_setn_nocheck(val, enc->path_buf, n);
}

/*
 * Encode s (NUL-terminated, any bytes) as a JSON string, quotes included,
 * with jansson after sanitising it.  *out is malloc()ed.  Returns 0, or
 * -1 if out of memory.
 */
static int
event_fragment(struct event_encoder *enc, const char *s, char **out,
    size_t *outlen)
{
    json_t *v = json_string("");
    size_t n;
    char *buf;

    if (v == NULL || event_set_str(enc, v, s, strlen(s)) != 0) {
        json_decref(v);
        return -1;
    }
    n = json_dumpb(v, NULL, 0, JSON_ENCODE_ANY | JSON_COMPACT);
    buf = n > 0 ? malloc(n) : NULL;
    if (buf == NULL
        || json_dumpb(v, buf, n, JSON_ENCODE_ANY | JSON_COMPACT) != n)
    {
        free(buf);
        json_decref(v);
        return -1;
    }
    json_decref(v);
    free(*out);
    *out = buf;
    *outlen = n;
    return 0;
}

/*
 * Create an encoder that stamps events with host and, if parse is 1, adds
 * parsed fields for known formats.  line_max bounds the message length the
 * caller will pass.  Returns NULL and fills err on failure.
 */
struct event_encoder *
event_encoder_create(const char *host, int parse, size_t line_max,
    char *err, size_t errlen)
{
    struct event_encoder *enc = calloc(1, sizeof(*enc));

    if (enc == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    enc->parse = parse;
    enc->last_sec = -1;
    enc->line_max = line_max;
    enc->san_cap = line_max * UTF8_MAX_GROWTH + 1;
    enc->san = malloc(enc->san_cap);
    enc->out_cap = 4096;
    enc->out = malloc(enc->out_cap);
    enc->obj = json_object();
    enc->ts = json_string("");
    enc->msg = json_string("");
    enc->path = json_string("");
    enc->type = json_string("");
    if (enc->san == NULL || enc->out == NULL || enc->obj == NULL
        || enc->ts == NULL || enc->msg == NULL || enc->path == NULL
        || enc->type == NULL)
    {
        snprintf(err, errlen, "out of memory");
        goto error;
    }
    /* json_object_set() takes its own reference; ours stay borrowed */
    if (json_object_set(enc->obj, "@timestamp", enc->ts) != 0
        || json_object_set_new(enc->obj, "@version", json_string("1")) != 0
        || json_object_set(enc->obj, "message", enc->msg) != 0
        || event_set_str(enc, enc->msg, "", 0) != 0
        || json_object_set_new(enc->obj, "host", json_string("")) != 0
        || event_set_str(enc, json_object_get(enc->obj, "host"), host,
               strlen(host)) != 0
        || json_object_set(enc->obj, "path", enc->path) != 0
        || json_object_set(enc->obj, "type", enc->type) != 0)
    {
        snprintf(err, errlen, "cannot build the event template");
        goto error;
    }
    if (event_fragment(enc, host, &enc->host_json, &enc->host_json_len)) {
        snprintf(err, errlen, "out of memory");
        goto error;
    }
    return enc;

error:
    event_encoder_destroy(enc);
    return NULL;
}

/* Free the encoder.  Accepts NULL and half-built encoders. */
void
event_encoder_destroy(struct event_encoder *enc)
{
    if (enc == NULL) {
        return;
    }
    json_decref(enc->ts);
    json_decref(enc->msg);
    json_decref(enc->path);
    json_decref(enc->type);
    json_decref(enc->obj);
    free(enc->san);
    free(enc->path_buf);
    free(enc->out);
    free(enc->last_path);
    free(enc->last_type);
    free(enc->fast);
    free(enc->host_json);
    free(enc->path_key);
    free(enc->path_json);
    free(enc->type_key);
    free(enc->type_json);
    free(enc);
}

/* Build the "parsed" object from r, or NULL if out of memory. */
static json_t *
event_parsed(const struct parse_result *r)
{
    json_t *o = json_object();
    size_t i;

    if (o == NULL) {
        return NULL;
    }
    if (json_object_set_new(o, "format", json_string(r->format)) != 0) {
        goto error;
    }
    for (i = 0; i < r->n; i++) {
        json_t *v;

        if (r->f[i].is_int) {
            v = json_integer(r->f[i].num);
        } else {
            /* fields point into the sanitised message: valid UTF-8 */
            v = json_stringn_nocheck(r->f[i].val, r->f[i].len);
        }
        if (json_object_set_new(o, r->f[i].name, v) != 0) {
            goto error;
        }
    }
    return o;

error:
    json_decref(o);
    return NULL;
}

/*
 * Set val to s unless *cache already holds s (the common case: many lines
 * in a row come from one file).  Returns 0, or -1 if out of memory.
 */
static int
event_cache_str(struct event_encoder *enc, json_t *val, char **cache,
    const char *s)
{
    char *copy;

    if (*cache != NULL && strcmp(*cache, s) == 0) {
        return 0;
    }
    copy = strdup(s);
    if (copy == NULL || event_set_str(enc, val, s, strlen(s)) != 0) {
        free(copy);
        return -1;
    }
    free(*cache);
    *cache = copy;
    return 0;
}

/*
 * Write the 24 characters of ts_ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" into
 * buf, formatting the seconds only once per second.  Returns 0 or -1.
 */
static int
event_time_text(struct event_encoder *enc, long long ts_ms, char *buf)
{
    long long sec = ts_ms / 1000;

    if (ts_ms < 0) {
        return -1;
    }

    if (sec != enc->last_sec) {
        if (event_format_time(sec * 1000, enc->sec_buf,
                sizeof(enc->sec_buf)) != 0)
        {
            return -1;
        }
        enc->sec_buf[19] = '\0';        /* keep "YYYY-MM-DDTHH:MM:SS" */
        enc->last_sec = sec;
    }
    memcpy(buf, enc->sec_buf, 19);
    buf[19] = '.';
    buf[20] = (char) ('0' + (ts_ms % 1000) / 100);
    buf[21] = (char) ('0' + (ts_ms % 100) / 10);
    buf[22] = (char) ('0' + ts_ms % 10);
    buf[23] = 'Z';
    return 0;
}

/* Set the "@timestamp" value of the reference template. */
static int
event_set_time(struct event_encoder *enc, long long ts_ms)
{
    char buf[24];

    if (event_time_text(enc, ts_ms, buf) != 0) {
        return -1;
    }
    return json_string_setn_nocheck(enc->ts, buf, sizeof(buf));
}

/* Append the literal s at *o. */
static void
event_put(char *buf, size_t *o, const char *s, size_t len)
{
    memcpy(buf + *o, s, len);
    *o += len;
}

#define EVENT_PUT(buf, o, lit) event_put((buf), (o), (lit), sizeof(lit) - 1)

/* Append the decimal form of v (>= 0, as parse.c produces) at *o. */
static void
event_put_int(char *buf, size_t *o, long long v)
{
    char tmp[24];
    size_t n = 0;
    unsigned long long u = (unsigned long long) (v < 0 ? 0 : v);

    do {
        tmp[n++] = (char) ('0' + u % 10);
        u /= 10;
    } while (u > 0);
    while (n > 0) {
        buf[(*o)++] = tmp[--n];
    }
}

/*
 * Keep the JSON text of a path or type string cached: recompute only when
 * s differs from the raw value last seen.  Returns 0, or -1 out of memory.
 */
static int
event_cache_json(struct event_encoder *enc, char **key, char **json,
    size_t *json_len, const char *s)
{
    char *copy;

    if (*key != NULL && strcmp(*key, s) == 0) {
        return 0;
    }
    copy = strdup(s);
    if (copy == NULL || event_fragment(enc, s, json, json_len) != 0) {
        free(copy);
        return -1;
    }
    free(*key);
    *key = copy;
    return 0;
}

/*
 * Encode line as one event followed by '\n'.  On success *out points to
 * the bytes (valid until the next call) and *outlen is their count.
 * Returns 0, or -1 with err filled (line over the cap, out of memory).
 *
 * This is the fast path: the event is written straight into one buffer.
 * The constant strings (host, path, type) are encoded by jansson once
 * and cached; the message and parsed values go through wsjson_escape()
 * with EVENT_JSON_POLICY.
 */
int
event_encode(struct event_encoder *enc, const struct event_line *line,
    const char **out, size_t *outlen, char *err, size_t errlen)
{
    struct parse_result pr;
    size_t need, o = 0, i;
    char ts[24];

    if (line->len > enc->line_max) {
        snprintf(err, errlen, "line of %zu bytes exceeds the line cap",
            line->len);
        return -1;
    }
    if (event_cache_json(enc, &enc->path_key, &enc->path_json,
            &enc->path_json_len, line->path) != 0
        || event_cache_json(enc, &enc->type_key, &enc->type_json,
            &enc->type_json_len, line->type) != 0)
    {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (event_time_text(enc, line->ts_ms, ts) != 0) {
        snprintf(err, errlen, "cannot format time %lld", line->ts_ms);
        return -1;
    }
    /* message and parsed values: at most 6 bytes per input byte each */
    need = line->len * 12 + enc->host_json_len + enc->path_json_len
        + enc->type_json_len + 512;
    if (need > enc->fast_cap) {
        char *p = realloc(enc->fast, need);

        if (p == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        enc->fast = p;
        enc->fast_cap = need;
    }
    EVENT_PUT(enc->fast, &o, "{\"@timestamp\":\"");
    event_put(enc->fast, &o, ts, sizeof(ts));
    EVENT_PUT(enc->fast, &o, "\",\"@version\":\"1\",\"message\":\"");
    o += wsjson_escape(line->msg, line->len, enc->fast + o,
        EVENT_JSON_POLICY);
    EVENT_PUT(enc->fast, &o, "\",\"host\":");
    event_put(enc->fast, &o, enc->host_json, enc->host_json_len);
    EVENT_PUT(enc->fast, &o, ",\"path\":");
    event_put(enc->fast, &o, enc->path_json, enc->path_json_len);
    EVENT_PUT(enc->fast, &o, ",\"type\":");
    event_put(enc->fast, &o, enc->type_json, enc->type_json_len);
    if (line->truncated) {
        EVENT_PUT(enc->fast, &o, ",\"truncated\":true");
    }
    if (enc->parse && parse_line(line->msg, line->len, &pr)) {
        EVENT_PUT(enc->fast, &o, ",\"parsed\":{\"format\":\"");
        event_put(enc->fast, &o, pr.format, strlen(pr.format));
        enc->fast[o++] = '"';
        for (i = 0; i < pr.n; i++) {
            EVENT_PUT(enc->fast, &o, ",\"");
            event_put(enc->fast, &o, pr.f[i].name, strlen(pr.f[i].name));
            EVENT_PUT(enc->fast, &o, "\":");
            if (pr.f[i].is_int) {
                event_put_int(enc->fast, &o, pr.f[i].num);
            } else {
                enc->fast[o++] = '"';
                o += wsjson_escape(pr.f[i].val, pr.f[i].len,
                    enc->fast + o, EVENT_JSON_POLICY);
                enc->fast[o++] = '"';
            }
        }
        enc->fast[o++] = '}';
    }
    EVENT_PUT(enc->fast, &o, "}\n");
    *out = enc->fast;
    *outlen = o;
    return 0;
}

/*
 * The reference encoder: the same event built as a jansson object and
 * dumped with json_dumpb(JSON_COMPACT).  Slow (allocations, per-code-point
 * escaping) but obviously right; the fuzz harness requires event_encode()
 * to produce exactly these bytes.  Same contract as event_encode().
 */
int
event_encode_reference(struct event_encoder *enc,
    const struct event_line *line,
    const char **out, size_t *outlen, char *err, size_t errlen)
{
    struct parse_result pr;
    size_t n, need;

    if (line->len * UTF8_MAX_GROWTH + 1 > enc->san_cap) {
        snprintf(err, errlen, "line of %zu bytes exceeds the line cap",
            line->len);
        return -1;
    }
    n = utf8_sanitize(line->msg, line->len, enc->san);
    if (event_set_time(enc, line->ts_ms) != 0
        || json_string_setn_nocheck(enc->msg, enc->san, n) != 0)
    {
        snprintf(err, errlen, "cannot set event values");
        return -1;
    }
    if (event_cache_str(enc, enc->path, &enc->last_path, line->path) != 0
        || event_cache_str(enc, enc->type, &enc->last_type, line->type) != 0)
    {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (line->truncated) {
        json_object_set_new(enc->obj, "truncated", json_true());
    } else {
        json_object_del(enc->obj, "truncated");
    }
    json_object_del(enc->obj, "parsed");
    if (enc->parse && parse_line(enc->san, n, &pr)) {
        json_t *p = event_parsed(&pr);

        if (p == NULL || json_object_set_new(enc->obj, "parsed", p) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    for (;;) {
        need = json_dumpb(enc->obj, enc->out, enc->out_cap - 1,
            JSON_COMPACT);
        if (need == 0) {
            snprintf(err, errlen, "json_dumpb() failed");
            return -1;
        }
        if (need < enc->out_cap) {
            break;
        }
        {
            char *p = realloc(enc->out, need + 1);

            if (p == NULL) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            enc->out = p;
            enc->out_cap = need + 1;
        }
    }
    enc->out[need] = '\n';
    *out = enc->out;
    *outlen = need + 1;
    return 0;
}
