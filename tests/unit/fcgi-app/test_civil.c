/* test_civil.c -- unit tests for civil.c
 *
 * glibc's gmtime_r/timegm (64-bit time_t, proleptic Gregorian) are the
 * independent oracle: every day from year 0 to 9999 must agree, and both
 * directions must round-trip.
 */
#include <stdint.h>
#include <time.h>

#include "civil.h"
#include "unit.h"

static void
test_epoch_and_limits(void)
{
    struct civil_time t;
    int64_t ms;

    UNIT_CHECK(civil_from_ms(0, &t) == 0);
    UNIT_CHECK(t.year == 1970 && t.month == 1 && t.day == 1 && t.hour == 0
               && t.min == 0 && t.sec == 0 && t.ms == 0 && t.wday == 4);
    UNIT_CHECK(civil_from_ms(CIVIL_MIN_MS, &t) == 0);
    UNIT_CHECK(t.year == 0 && t.month == 1 && t.day == 1 && t.wday == 6);
    UNIT_CHECK(civil_from_ms(CIVIL_MAX_MS, &t) == 0);
    UNIT_CHECK(t.year == 9999 && t.month == 12 && t.day == 31
               && t.hour == 23 && t.min == 59 && t.sec == 59
               && t.ms == 999 && t.wday == 5);
    UNIT_CHECK(civil_from_ms(CIVIL_MIN_MS - 1, &t) == -1);
    UNIT_CHECK(civil_from_ms(CIVIL_MAX_MS + 1, &t) == -1);
    UNIT_CHECK(civil_from_ms(INT64_MIN, &t) == -1);
    UNIT_CHECK(civil_from_ms(INT64_MAX, &t) == -1);
    t.year = 0; t.month = 1; t.day = 1;
    t.hour = t.min = t.sec = t.ms = 0;
    UNIT_CHECK(civil_to_ms(&t, &ms) == 0 && ms == CIVIL_MIN_MS);
}

static void
test_before_epoch_floors(void)
{
    struct civil_time t;

    UNIT_CHECK(civil_from_ms(-1, &t) == 0);
    UNIT_CHECK(t.year == 1969 && t.month == 12 && t.day == 31
               && t.hour == 23 && t.min == 59 && t.sec == 59
               && t.ms == 999 && t.wday == 3);
    UNIT_CHECK(civil_from_ms(-86400000, &t) == 0);
    UNIT_CHECK(t.year == 1969 && t.month == 12 && t.day == 31
               && t.hour == 0 && t.ms == 0);
}

static void
test_leap_years(void)
{
    UNIT_CHECK(civil_days_in_month(2024, 2) == 29);
    UNIT_CHECK(civil_days_in_month(2023, 2) == 28);
    UNIT_CHECK(civil_days_in_month(2000, 2) == 29);
    UNIT_CHECK(civil_days_in_month(1900, 2) == 28);
    UNIT_CHECK(civil_days_in_month(0, 2) == 29);
    UNIT_CHECK(civil_days_in_month(2023, 4) == 30);
    UNIT_CHECK(civil_days_in_month(2023, 13) == 0);
    UNIT_CHECK(civil_days_in_month(2023, 0) == 0);
}

static void
test_to_ms_rejects(void)
{
    struct civil_time t = { 2023, 2, 29, 0, 0, 0, 0, 0 };
    int64_t ms;

    UNIT_CHECK(civil_to_ms(&t, &ms) == -1);
    t.year = 2024;
    UNIT_CHECK(civil_to_ms(&t, &ms) == 0);
    t.day = 30;
    UNIT_CHECK(civil_to_ms(&t, &ms) == -1);
    t.day = 1; t.hour = 24;
    UNIT_CHECK(civil_to_ms(&t, &ms) == -1);
    t.hour = 0; t.min = 60;
    UNIT_CHECK(civil_to_ms(&t, &ms) == -1);
    t.min = 0; t.sec = 60;
    UNIT_CHECK(civil_to_ms(&t, &ms) == -1);
    t.sec = 0; t.ms = 1000;
    UNIT_CHECK(civil_to_ms(&t, &ms) == -1);
    t.ms = -1;
    UNIT_CHECK(civil_to_ms(&t, &ms) == -1);
    t.ms = 0; t.year = 10000;
    UNIT_CHECK(civil_to_ms(&t, &ms) == -1);
    t.year = -1;
    UNIT_CHECK(civil_to_ms(&t, &ms) == -1);
    t.year = 2024; t.month = 0;
    UNIT_CHECK(civil_to_ms(&t, &ms) == -1);
}

static void
test_every_day_against_gmtime(void)
{
    struct civil_time t;
    struct tm tm;
    int64_t  ms, back;
    time_t   secs;
    long     bad = 0, days = 0;

    /* One probe per day at a varying time of day. */
    for (ms = CIVIL_MIN_MS; ms <= CIVIL_MAX_MS;
         ms += 86400000LL + 1237) {
        days++;
        secs = (time_t) (ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
        if (civil_from_ms(ms, &t) != 0 || gmtime_r(&secs, &tm) == NULL) {
            bad++;
            continue;
        }
        bad += t.year != tm.tm_year + 1900 || t.month != tm.tm_mon + 1
               || t.day != tm.tm_mday || t.hour != tm.tm_hour
               || t.min != tm.tm_min || t.sec != tm.tm_sec
               || t.wday != tm.tm_wday
               || t.ms != (int) (ms - (int64_t) secs * 1000);
        bad += civil_to_ms(&t, &back) != 0 || back != ms;
    }
    UNIT_CHECK(days > 3600000);
    UNIT_CHECK(bad == 0);
}

int
main(void)
{
    UNIT_RUN(test_epoch_and_limits);
    UNIT_RUN(test_before_epoch_floors);
    UNIT_RUN(test_leap_years);
    UNIT_RUN(test_to_ms_rejects);
    UNIT_RUN(test_every_day_against_gmtime);
    return unit_done();
}
