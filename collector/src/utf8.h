/* utf8.h -- make arbitrary log bytes safe to put in a JSON string
 *
 * Owns the replacement policy (docs/COLLECTOR.md, "UTF-8 replacement
 * policy"): a log line is outside input, so before it reaches the JSON
 * encoder every byte that is not part of a well-formed UTF-8 sequence,
 * and every NUL byte, becomes U+FFFD.  It does not escape anything for
 * JSON; the encoder does.
 */
#ifndef COLLECTOR_UTF8_H
#define COLLECTOR_UTF8_H

#include <stddef.h>

/* Worst case growth: one input byte becomes three output bytes (U+FFFD). */
#define UTF8_MAX_GROWTH 3

size_t utf8_sanitize(const char *in, size_t len, char *out);
size_t utf8_sequence(const char *s, size_t len);
int utf8_is_valid(const char *s, size_t len);

#endif
