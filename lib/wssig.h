/* wssig.h -- signal setup for loops that wait with a signal mask
 *
 * Owns: installing a handler (or SIG_IGN / SIG_DFL) with an empty
 * sa_mask and no flags, and blocking a set of signals everywhere except
 * inside the loop's wait (ppoll(), epoll_pwait()), which takes the mask
 * this module computes.  Does not own: the handlers themselves; by the
 * project's rule they only set a volatile sig_atomic_t flag.
 */
#ifndef WS_LIB_SIG_H
#define WS_LIB_SIG_H

#include <signal.h>
#include <stddef.h>

/* Install handler for sig: a function, SIG_IGN or SIG_DFL; sa_mask empty,
 * sa_flags 0 (so a blocking call the signal interrupts fails with
 * EINTR).  Returns 0, or -1 with errno set. */
int wssig_handle(int sig, void (*handler)(int));

/* Block sigs[0..n) (add them to the process mask) and set *waitmask to
 * the mask before the call minus those signals: the mask to wait under,
 * so they are delivered only inside the wait.  Returns 0, or -1 with
 * errno set (nothing blocked). */
int wssig_block(const int *sigs, size_t n, sigset_t *waitmask);

#endif
