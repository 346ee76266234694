/* utf8.c -- the app's UTF-8 policy: refuse what is not well-formed
 *
 * The check itself is lib/wsutf8.c's (Unicode Table 3-7, also exactly
 * what JavaScript's decodeURIComponent and jansson accept); this file
 * names the app's use of it, so callers say what they mean and the
 * collector's opposite policy (replace, collector/src/utf8.c) stays there.
 */
#include <stddef.h>

#include "utf8.h"
#include "wsutf8.h"

/* 1 if p[0..len) is well-formed UTF-8, else 0.  Can't fail. */
int
utf8_valid(const char *p, size_t len)
{
    return wsutf8_valid(p, len);
}
