/* wsnum.c -- strict decimal integers from text
 *
 * strtoll() alone accepts leading white space, a '+', trailing junk and
 * saturates on overflow.  Refused here: any leading white space (a space,
 * a tab, a newline...), a '+', trailing junk and overflow.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#include "wsnum.h"

int
wsnum_parse_ll(const char *s, long long min, long long max,
               long long *out)
{
    char      *end;
    long long  v;

    if (s == NULL || *s == '\0' || isspace((unsigned char) *s)
        || *s == '+')
    {
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
