/* event.h -- encode one log line as one Logstash json_lines event
 *
 * Owns the output contract: the keys, their order, the timestamp format,
 * the "truncated" marker and the "parsed" object.  It is the only file
 * that includes jansson.  It does not know about files, offsets or where
 * the bytes go.
 */
#ifndef EVENT_H
#define EVENT_H

#include <stddef.h>

struct event_encoder;

struct event_line {
    const char *msg;            /* raw bytes of the line, no newline */
    size_t      len;
    const char *path;           /* NUL-terminated, valid UTF-8 or not */
    const char *type;
    int         truncated;      /* 1: the line was cut at the line cap */
    long long   ts_ms;          /* read time, ms since the epoch (UTC) */
};

struct event_encoder *event_encoder_create(const char *host, int parse,
    size_t line_max, char *err, size_t errlen);
void event_encoder_destroy(struct event_encoder *enc);
int event_encode(struct event_encoder *enc, const struct event_line *line,
    const char **out, size_t *outlen, char *err, size_t errlen);
int event_format_time(long long ts_ms, char *buf, size_t buflen);

#endif
