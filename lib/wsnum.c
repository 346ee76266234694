/* wsnum.c -- strict decimal integers from text
 *
 * strtoll() alone accepts leading white space, a '+', trailing junk and
 * saturates on overflow.  Refused here: a leading space, a '+', trailing
 * junk and overflow.  Other leading white space (a tab, a newline) is
 * not checked for, so strtoll() still skips it: "\t5" reads as 5.
 */
#include <errno.h>
#include <stdlib.h>

#include "wsnum.h"

int
wsnum_parse_ll(const char *s, long long min, long long max,
               long long *out)
{
    char      *end;
    long long  v;

    if (s == NULL || *s == '\0' || *s == ' ' || *s == '+') {
        return -1;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}
