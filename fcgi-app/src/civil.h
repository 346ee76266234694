/* civil.h -- UTC calendar arithmetic (proleptic Gregorian, years 0..9999)
 *
 * Owns the conversion between Unix milliseconds and calendar fields that
 * both cookie.c (IMF-fixdate) and session.c (ISO-8601) format, so neither
 * depends on the process time zone or on gmtime_r's range.  Does not own
 * any text format.
 */
#ifndef CIVIL_H
#define CIVIL_H

#include <stdint.h>

#define CIVIL_MIN_MS (-62167219200000LL)  /* 0000-01-01T00:00:00.000Z */
#define CIVIL_MAX_MS 253402300799999LL    /* 9999-12-31T23:59:59.999Z */

struct civil_time {
    int year;    /* 0..9999 */
    int month;   /* 1..12 */
    int day;     /* 1..31 */
    int hour;    /* 0..23 */
    int min;     /* 0..59 */
    int sec;     /* 0..59 (no leap seconds, as in JavaScript) */
    int ms;      /* 0..999 */
    int wday;    /* 0 = Sunday .. 6 = Saturday (ignored by civil_to_ms) */
};

/* Split Unix ms into fields (ms before 1970 round toward the past, as in
 * JavaScript's Date).  Returns 0, or -1 outside CIVIL_MIN_MS..MAX_MS. */
int civil_from_ms(int64_t ms, struct civil_time *t);

/* Join fields into Unix ms.  Returns 0, or -1 if any field is out of
 * range (including Feb 29 in a non-leap year). */
int civil_to_ms(const struct civil_time *t, int64_t *ms);

/* Days in month (1..12) of year, or 0 for a bad month. */
int civil_days_in_month(int year, int month);

/* Write v (0 <= v < 10^width) as exactly width decimal digits at p,
 * zero-padded, no NUL; returns p + width.  Callers format dates with it
 * instead of snprintf (it runs for every session written). */
char *civil_digits(char *p, int v, int width);

#endif
