/* test_event.c -- unit tests for event.c, the json_lines encoder
 *
 * Encodes lines with event.c, requires the jansson reference encoder
 * (event_ref.c, test-only) to produce the same bytes, and decodes the
 * result with jansson to check the output contract: key order, timestamp
 * format, one '\n', the truncated marker, the parsed object, and valid
 * JSON for hostile bytes.
 */
#include <string.h>

#include <jansson.h>

#include "event.h"
#include "event_ref.h"
#include "unit.h"

/* The reference encoder for the encoder new_encoder() made last. */
static struct event_ref *ref_enc;

/* An encoder and its reference twin (ref_enc), same settings. */
static struct event_encoder *
new_encoder(int parse)
{
    char err[256];

    ref_enc = event_ref_create("web-1", parse, 1024, err, sizeof(err));
    return event_encoder_create("web-1", parse, 1024, err, sizeof(err));
}

static void
free_encoder(struct event_encoder *enc)
{
    event_encoder_destroy(enc);
    event_ref_destroy(ref_enc);
    ref_enc = NULL;
}

static json_t *
encode(struct event_encoder *enc, const char *msg, size_t len, int trunc,
    const char **raw, size_t *rawlen)
{
    struct event_line ev = { msg, len, "/var/log/nginx/access.log",
                             "nginx-access", trunc, 1795662062345LL };
    char err[256];
    json_error_t jerr;

    const char *ref;
    size_t reflen;

    if (event_encode(enc, &ev, raw, rawlen, err, sizeof(err)) != 0) {
        return NULL;
    }
    /* the fast path must match the jansson reference byte for byte */
    if (ref_enc == NULL
        || event_ref_encode(ref_enc, &ev, &ref, &reflen, err, sizeof(err))
        != 0 || reflen != *rawlen || memcmp(ref, *raw, reflen) != 0)
    {
        return NULL;
    }
    return json_loadb(*raw, *rawlen, 0, &jerr);
}

static void
test_event_contract(void)
{
    struct event_encoder *enc = new_encoder(0);
    const char *raw = NULL;
    size_t len = 0;
    json_t *o = encode(enc, "hello", 5, 0, &raw, &len);
    const char *want = "{\"@timestamp\":\"2026-11-26T03:01:02.345Z\","
        "\"@version\":\"1\",\"message\":\"hello\",\"host\":\"web-1\","
        "\"path\":\"/var/log/nginx/access.log\",\"type\":\"nginx-access\"}\n";

    UNIT_CHECK(o != NULL);
    UNIT_CHECK(len == strlen(want));
    UNIT_CHECK(raw != NULL && memcmp(raw, want, len) == 0);
    json_decref(o);
    free_encoder(enc);
}

static void
test_event_hostile_bytes(void)
{
    struct event_encoder *enc = new_encoder(1);
    static const char msg[] = "a\0b\xff\"\\\x01\r\n\t\xed\xa0\x80z";
    const char *raw = NULL;
    size_t len = 0;
    json_t *o = encode(enc, msg, sizeof(msg) - 1, 0, &raw, &len);

    UNIT_CHECK(o != NULL);
    UNIT_CHECK(raw != NULL && memchr(raw, '\n', len) == raw + len - 1);
    UNIT_CHECK_STR(json_string_value(json_object_get(o, "message")),
        "a\xEF\xBF\xBD" "b\xEF\xBF\xBD\"\\\x01\r\n\t"
        "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDz");
    json_decref(o);
    free_encoder(enc);
}

static void
test_event_truncated_and_parsed(void)
{
    struct event_encoder *enc = new_encoder(1);
    const char *raw = NULL, *line = "1:M 26 Nov 2026 03:01:02.345 * Ready";
    size_t len = 0;
    json_t *o, *p;

    o = encode(enc, "cut", 3, 1, &raw, &len);
    UNIT_CHECK(o != NULL && json_is_true(json_object_get(o, "truncated")));
    json_decref(o);
    o = encode(enc, line, strlen(line), 0, &raw, &len);
    UNIT_CHECK(o != NULL && json_object_get(o, "truncated") == NULL);
    p = json_object_get(o, "parsed");
    UNIT_CHECK(p != NULL);
    UNIT_CHECK_STR(json_string_value(json_object_get(p, "format")), "redis");
    UNIT_CHECK(json_integer_value(json_object_get(p, "pid")) == 1);
    UNIT_CHECK_STR(json_string_value(json_object_get(p, "level")), "notice");
    json_decref(o);
    o = encode(enc, "plain", 5, 0, &raw, &len);
    UNIT_CHECK(o != NULL && json_object_get(o, "parsed") == NULL);
    json_decref(o);
    free_encoder(enc);
}

static void
test_event_parse_off(void)
{
    struct event_encoder *enc = new_encoder(0);
    const char *raw = NULL, *line = "1:M 26 Nov 2026 03:01:02.345 * Ready";
    size_t len = 0;
    json_t *o = encode(enc, line, strlen(line), 0, &raw, &len);

    UNIT_CHECK(o != NULL && json_object_get(o, "parsed") == NULL);
    json_decref(o);
    free_encoder(enc);
}

static void
test_event_line_cap_enforced(void)
{
    struct event_encoder *enc = new_encoder(0);
    static char big[2048];
    const char *raw = NULL;
    size_t len = 0;

    memset(big, 'x', sizeof(big));
    UNIT_CHECK(encode(enc, big, sizeof(big), 0, &raw, &len) == NULL);
    free_encoder(enc);
}

static void
test_event_format_time(void)
{
    char buf[32];

    UNIT_CHECK(event_format_time(0, buf, sizeof(buf)) == 0);
    UNIT_CHECK_STR(buf, "1970-01-01T00:00:00.000Z");
    UNIT_CHECK(event_format_time(1795662062999LL, buf, sizeof(buf)) == 0);
    UNIT_CHECK_STR(buf, "2026-11-26T03:01:02.999Z");
    UNIT_CHECK(event_format_time(-1, buf, sizeof(buf)) == -1);
    UNIT_CHECK(event_format_time(0, buf, 10) == -1);
}

int
main(void)
{
    UNIT_RUN(test_event_contract);
    UNIT_RUN(test_event_hostile_bytes);
    UNIT_RUN(test_event_truncated_and_parsed);
    UNIT_RUN(test_event_parse_off);
    UNIT_RUN(test_event_line_cap_enforced);
    UNIT_RUN(test_event_format_time);
    return unit_done();
}
