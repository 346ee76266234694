/* wsclock.c -- the clocks both programs read
 *
 * clock_gettime() on CLOCK_MONOTONIC and CLOCK_REALTIME cannot fail on
 * Linux for these clock ids (both always exist and the timespec is ours),
 * so the result is not checked.
 */
#include <stdint.h>
#include <time.h>

#include "wsclock.h"

int64_t
wsclock_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double
wsclock_mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int64_t
wsclock_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
