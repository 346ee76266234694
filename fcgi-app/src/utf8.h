/* utf8.h -- strict UTF-8 validation
 *
 * Owns: deciding whether bytes are well-formed UTF-8 per RFC 3629
 * (no overlong forms, no surrogates U+D800..U+DFFF, nothing above
 * U+10FFFF).  NUL bytes are valid UTF-8; callers that forbid them check
 * separately.  Does not own: decoding to code points for callers.
 */
#ifndef UTF8_H
#define UTF8_H

#include <stddef.h>

/* 1 if p[0..len) is valid UTF-8 (no overlongs/surrogates), else 0. */
int utf8_valid(const char *p, size_t len);

#endif
