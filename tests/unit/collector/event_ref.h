/* event_ref.h -- the jansson reference encoder, for tests only
 *
 * Builds the same Logstash json_lines event as collector/src/event.c's
 * event_encode(), but as a jansson object dumped with json_dumpb(): slow
 * and obviously right.  The unit tests (test_event.c) and the fuzz
 * harness (tests/fuzz/collector/fuzz_collector_line.c) require both to
 * give the same bytes for every input.  It is never linked into
 * collector/collector.
 */
#ifndef EVENT_REF_H
#define EVENT_REF_H

#include <stddef.h>

#include "event.h"

struct event_ref;

struct event_ref *event_ref_create(const char *host, int parse,
    size_t line_max, char *err, size_t errlen);
void event_ref_destroy(struct event_ref *r);
int event_ref_encode(struct event_ref *r, const struct event_line *line,
    const char **out, size_t *outlen, char *err, size_t errlen);

#endif
