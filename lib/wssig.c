/* wssig.c -- signal setup for loops that wait with a signal mask
 *
 * The pattern: block the loop's signals, wait with them unblocked
 * (ppoll/epoll_pwait take the mask atomically), so a signal that arrives
 * between the flag check and the wait is never lost.
 */
#include <signal.h>
#include <stddef.h>
#include <string.h>

#include "wssig.h"

int
wssig_handle(int sig, void (*handler)(int))
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = handler;
    return sigaction(sig, &sa, NULL);
}

int
wssig_block(const int *sigs, size_t n, sigset_t *waitmask)
{
    sigset_t block;
    size_t   i;

    sigemptyset(&block);
    for (i = 0; i < n; i++) {
        if (sigaddset(&block, sigs[i]) != 0) {
            return -1;
        }
    }
    if (sigprocmask(SIG_BLOCK, &block, waitmask) != 0) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        sigdelset(waitmask, sigs[i]);
    }
    return 0;
}
