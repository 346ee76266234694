/* wsnum.h -- strict decimal integers from text
 *
 * Owns: turning a whole C string into a long long within bounds, the one
 * rule both programs use for numeric settings.  Does not own: what a
 * setting means or its error message (each program's config.c).
 */
#ifndef WS_LIB_NUM_H
#define WS_LIB_NUM_H

/* Parse s as a whole decimal integer in [min, max] into *out.  Refused
 * (-1, *out untouched): NULL, empty, leading white space or '+',
 * trailing junk, overflow, out of bounds.  Returns 0 or -1. */
int wsnum_parse_ll(const char *s, long long min, long long max,
                   long long *out);

#endif
