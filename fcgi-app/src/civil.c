/* civil.c -- UTC calendar arithmetic (proleptic Gregorian, years 0..9999)
 *
 * Owns days-from-civil / civil-from-days, after Howard Hinnant's public
 * domain algorithms ("chrono-Compatible Low-Level Date Algorithms",
 * howardhinnant.github.io/date_algorithms.html).  Everything is integer
 * math on int64_t; no libc time functions, no time zone.
 */
#include <stdint.h>

#include "civil.h"

#define CIVIL_MS_PER_DAY 86400000LL

/* Floor division for b > 0. */
static int64_t
civil_floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;

    if (a % b != 0 && a < 0)
        q--;
    return q;
}

char *
civil_digits(char *p, int v, int width)
{
    int i;

    for (i = width - 1; i >= 0; i--) {
        p[i] = (char) ('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

/* 1 if y is a Gregorian leap year. */
static int
civil_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days in month, or 0 for a bad month. */
int
civil_days_in_month(int year, int month)
{
    static const int days[12] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    if (month < 1 || month > 12)
        return 0;
    if (month == 2 && civil_leap(year))
        return 29;
    return days[month - 1];
}

/* Days since 1970-01-01 of y-m-d (valid fields assumed). */
static int64_t
civil_days_from(int64_t y, int64_t m, int64_t d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = civil_floordiv(y, 400);
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Split ms into fields.  0, or -1 out of range. */
int
civil_from_ms(int64_t ms, struct civil_time *t)
{
    int64_t days, rem, z, era, doe, yoe, y, doy, mp, d, m;

    if (ms < CIVIL_MIN_MS || ms > CIVIL_MAX_MS)
        return -1;
    days = civil_floordiv(ms, CIVIL_MS_PER_DAY);
    rem = ms - days * CIVIL_MS_PER_DAY;

    z = days + 719468;
    era = civil_floordiv(z, 146097);
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;

    t->year = (int) y;
    t->month = (int) m;
    t->day = (int) d;
    t->hour = (int) (rem / 3600000);
    t->min = (int) (rem / 60000 % 60);
    t->sec = (int) (rem / 1000 % 60);
    t->ms = (int) (rem % 1000);
    /* 1970-01-01 was a Thursday (4). */
    t->wday = (int) (days + 4 - civil_floordiv(days + 4, 7) * 7);
    return 0;
}

/* Join fields into ms.  0, or -1 if a field is out of range. */
int
civil_to_ms(const struct civil_time *t, int64_t *ms)
{
    int64_t days;

    if (t->year < 0 || t->year > 9999
        || t->month < 1 || t->month > 12
        || t->day < 1 || t->day > civil_days_in_month(t->year, t->month)
        || t->hour < 0 || t->hour > 23
        || t->min < 0 || t->min > 59
        || t->sec < 0 || t->sec > 59
        || t->ms < 0 || t->ms > 999)
        return -1;
    days = civil_days_from(t->year, t->month, t->day);
    *ms = days * CIVIL_MS_PER_DAY + t->hour * 3600000LL + t->min * 60000LL
          + t->sec * 1000LL + t->ms;
    return 0;
}
