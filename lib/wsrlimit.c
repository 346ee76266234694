/* wsrlimit.c -- process resource limits both programs raise at start
 *
 * Only the soft limit moves, and only up to the hard one: raising the
 * hard limit needs privileges neither program has or wants.
 */
#include <sys/resource.h>

#include "wsrlimit.h"

unsigned long long
wsrlimit_raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return 0;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit want = { rl.rlim_max, rl.rlim_max };

        if (setrlimit(RLIMIT_NOFILE, &want) == 0) {
            rl = want;
        }
    }
    return (unsigned long long) rl.rlim_cur;
}
