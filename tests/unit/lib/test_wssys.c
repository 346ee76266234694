/* test_wssys.c -- unit tests for lib's system wrappers: wsclock.c,
 * wssig.c, wsrlimit.c
 *
 * Covers: the monotonic clocks never go back and agree with each other,
 * the wall clock is past 2020, a handler installed with wssig_handle()
 * runs, wssig_block() blocks exactly its signals and returns a wait mask
 * without them, and wsrlimit_raise_nofile() leaves soft == hard.
 */
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>

#include "unit.h"
#include "wsclock.h"
#include "wsrlimit.h"
#include "wssig.h"

static volatile sig_atomic_t got_usr2;

static void
on_usr2(int sig)
{
    (void) sig;
    got_usr2 = 1;
}

static void
test_clocks(void)
{
    int64_t a = wsclock_mono_ms(), b;
    double  s = wsclock_mono_s();

    b = wsclock_mono_ms();
    UNIT_CHECK(b >= a);
    UNIT_CHECK(s * 1000 >= (double) a - 1 && s * 1000 <= (double) b + 1);
    UNIT_CHECK(wsclock_wall_ms() > INT64_C(1577836800000));   /* 2020 */
}

static void
test_handle_and_block(void)
{
    sigset_t waitmask, now, pending;
    int      sigs[] = { SIGUSR2, SIGWINCH };

    UNIT_CHECK(wssig_handle(SIGUSR2, on_usr2) == 0);
    UNIT_CHECK(wssig_block(sigs, 2, &waitmask) == 0);
    UNIT_CHECK(sigismember(&waitmask, SIGUSR2) == 0);
    UNIT_CHECK(sigismember(&waitmask, SIGWINCH) == 0);
    sigprocmask(SIG_BLOCK, NULL, &now);
    UNIT_CHECK(sigismember(&now, SIGUSR2) == 1);
    UNIT_CHECK(sigismember(&now, SIGWINCH) == 1);
    UNIT_CHECK(sigismember(&now, SIGTERM) == 0);

    raise(SIGUSR2);                        /* blocked: stays pending */
    sigpending(&pending);
    UNIT_CHECK(sigismember(&pending, SIGUSR2) == 1);
    UNIT_CHECK(got_usr2 == 0);
    sigprocmask(SIG_SETMASK, &waitmask, NULL);  /* as ppoll() would */
    UNIT_CHECK(got_usr2 == 1);
    UNIT_CHECK(wssig_handle(SIGUSR2, SIG_DFL) == 0);
    UNIT_CHECK(wssig_handle(-1, SIG_IGN) == -1);
}

static void
test_raise_nofile(void)
{
    struct rlimit rl;
    unsigned long long soft = wsrlimit_raise_nofile();

    UNIT_CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    UNIT_CHECK(soft == (unsigned long long) rl.rlim_cur);
    UNIT_CHECK(rl.rlim_cur == rl.rlim_max);
}

int
main(void)
{
    UNIT_RUN(test_clocks);
    UNIT_RUN(test_handle_and_block);
    UNIT_RUN(test_raise_nofile);
    return unit_done();
}
