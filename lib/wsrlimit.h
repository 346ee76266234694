/* wsrlimit.h -- process resource limits both programs raise at start
 *
 * Owns: raising the soft RLIMIT_NOFILE to the hard limit.  Both programs
 * hold one descriptor per connection or tailed file and neither uses
 * select(), so the common soft limit of 1024 is only a trap.  Does not
 * own: logging the limit (the collector logs it, the app does not).
 */
#ifndef WS_LIB_RLIMIT_H
#define WS_LIB_RLIMIT_H

/* Raise the soft descriptor limit to the hard one where it is lower.
 * Returns the soft limit in effect afterwards, or 0 if it cannot be
 * read.  A refused raise is not an error: the old limit is returned. */
unsigned long long wsrlimit_raise_nofile(void);

#endif
