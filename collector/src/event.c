/* event.c -- Logstash json_lines encoding of a log line (jansson seam)
 *
 * One event is one compact JSON object and '\n':
 *   {"@timestamp":"2026-11-26T03:01:02.345Z","@version":"1",
 *    "message":"...","host":"...","path":"...","type":"..."}
 * plus "truncated":true when the line was cut at the line cap, and
 * "parsed":{"format":...,...} when parsing is on and parse.c recognised
 * the line.  The only file of the collector that includes jansson.
 *
 * event_encode() writes the event straight into a buffer.  Host, path and
 * type are encoded by jansson once and cached; the message and parsed
 * values go through lib/wsjson.c with EVENT_JSON_POLICY, which applies
 * utf8.c's replacement policy and escapes exactly as jansson does.
 * jansson per line cost 4-5x the throughput (measured with
 * tests/bench/collector/run: 54 MB/s against 275 MB/s).  The jansson
 * reference encoder that the unit tests and the fuzz harness hold it to,
 * byte for byte, lives with the tests (tests/unit/collector/event_ref.c),
 * not in the collector.
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
 * (ill-formed bytes and NUL become U+FFFD), so the result is the bytes
 * the jansson reference encoder of the tests produces.  The output needs
 * len * WSJSON_MAX_GROWTH bytes.
 */
#define EVENT_JSON_POLICY (WSJSON_HEX_UPPER | WSJSON_REPLACE_BAD)

struct event_encoder {
    int      parse;
    char    *path_buf;          /* sanitised host, path or type */
    size_t   path_cap;
    long long last_sec;         /* cache: formatted second */
    char     sec_buf[32];
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
    free(enc->path_buf);
    free(enc->fast);
    free(enc->host_json);
    free(enc->path_key);
    free(enc->path_json);
    free(enc->type_key);
    free(enc->type_json);
    free(enc);
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
 * The event is written straight into one buffer.
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
