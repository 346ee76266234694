/* wsclock.h -- the clocks both programs read
 *
 * Owns: reading CLOCK_MONOTONIC (intervals, timers, deadlines) and
 * CLOCK_REALTIME (timestamps people read) as milliseconds or seconds.
 * Does not own: formatting times (each program's log does its own) or
 * any notion of "now" cached per loop turn (fcgi-app's loop.c, the
 * collector's loop keep that).
 */
#ifndef WS_LIB_CLOCK_H
#define WS_LIB_CLOCK_H

#include <stdint.h>

/* Monotonic milliseconds since an arbitrary start.  Can't fail. */
int64_t wsclock_mono_ms(void);

/* Monotonic seconds with nanosecond resolution, for durations.  Can't
 * fail. */
double wsclock_mono_s(void);

/* Wall-clock milliseconds since the Unix epoch.  Can't fail. */
int64_t wsclock_wall_ms(void);

#endif
