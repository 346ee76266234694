/* wsutf8.h -- the UTF-8 decoder both programs share
 *
 * Owns: deciding where a well-formed UTF-8 sequence (RFC 3629, Unicode
 * Table 3-7: no overlong forms, no surrogates U+D800..U+DFFF, nothing
 * above U+10FFFF) starts and ends.  NUL is well-formed UTF-8 here.
 * Does not own: what to do with bytes that are not well-formed; that is
 * each program's policy (fcgi-app's utf8.c refuses them, the collector's
 * utf8.c replaces them and NUL with U+FFFD).
 */
#ifndef WS_LIB_UTF8_H
#define WS_LIB_UTF8_H

#include <stddef.h>

/* Length of the well-formed sequence starting at s (len > 0 bytes
 * available): 1 for any byte below 0x80 (NUL included), 2..4 for a
 * multi-byte character, 0 when none starts at s (a stray continuation
 * byte, C0/C1/F5..FF, an overlong form, a surrogate, a value above
 * U+10FFFF, or a sequence cut short by len).  Can't fail. */
size_t wsutf8_seq(const char *s, size_t len);

/* 1 if p[0..len) is well-formed UTF-8 (NUL allowed), else 0.  Can't
 * fail. */
int wsutf8_valid(const char *p, size_t len);

#endif
