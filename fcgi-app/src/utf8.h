/* utf8.h -- the app's UTF-8 policy: refuse what is not well-formed
 *
 * Owns: the app's rule that text it takes apart (cookies, percent-decoded
 * paths, JSON it writes) must be well-formed UTF-8 per RFC 3629 (no
 * overlong forms, no surrogates U+D800..U+DFFF, nothing above U+10FFFF),
 * or the request is refused.  NUL bytes are valid UTF-8; callers that
 * forbid them check separately.  Does not own: the decoder, which is
 * lib/wsutf8.c, shared with the collector (whose policy is to replace).
 */
#ifndef APP_UTF8_H
#define APP_UTF8_H

#include <stddef.h>

/* 1 if p[0..len) is valid UTF-8 (no overlongs/surrogates), else 0. */
int utf8_valid(const char *p, size_t len);

#endif
