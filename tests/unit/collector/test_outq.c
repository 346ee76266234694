/* test_outq.c -- unit tests for outq.c, ordered commits on a real pipe
 *
 * The core guarantee: a mark is committed only when every byte queued
 * before it was accepted by write(2).  A non-blocking pipe nobody reads
 * fills up and makes that observable.
 */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "outq.h"
#include "unit.h"

static int committed[16];
static size_t ncommitted;

static void
on_commit(void *ctx, const struct outq_mark *m)
{
    (void) ctx;
    if (ncommitted < 16) {
        committed[ncommitted++] = (int) m->offset;
    }
}

static void
test_outq_commit_after_write(void)
{
    struct outq *q;
    char err[256], buf[65536];
    static char big[1 << 20];
    int fds[2], cap;
    ssize_t n;

    ncommitted = 0;
    UNIT_CHECK(pipe2(fds, O_NONBLOCK) == 0);
    cap = fcntl(fds[1], F_GETPIPE_SZ);
    q = outq_create(err, sizeof(err));
    UNIT_CHECK(q != NULL && cap > 0 && (size_t) cap < sizeof(big));
    if (q == NULL || cap <= 0 || (size_t) cap >= sizeof(big)) {
        return;
    }
    memset(big, 'x', sizeof(big));
    UNIT_CHECK(outq_append(q, "a\n", 2) == 0);
    UNIT_CHECK(outq_mark(q, &committed, 0, 1, 0) == 0);
    UNIT_CHECK(outq_append(q, big, sizeof(big)) == 0);
    UNIT_CHECK(outq_mark(q, &committed, 0, 2, 0) == 0);
    UNIT_CHECK(outq_flush(q, fds[1], on_commit, NULL, err, sizeof(err))
        == 0);
    UNIT_CHECK(ncommitted == 1 && committed[0] == 1);
    UNIT_CHECK(outq_pending(q) == sizeof(big) + 2 - (size_t) cap);
    while ((n = read(fds[0], buf, sizeof(buf))) > 0 || outq_pending(q)) {
        outq_flush(q, fds[1], on_commit, NULL, err, sizeof(err));
    }
    UNIT_CHECK(ncommitted == 2 && committed[1] == 2);
    UNIT_CHECK(outq_pending(q) == 0);
    outq_destroy(q);
    close(fds[0]);
    close(fds[1]);
}

static void
test_outq_forget_and_broken_pipe(void)
{
    struct outq *q;
    char err[256];
    int fds[2];

    ncommitted = 0;
    UNIT_CHECK(pipe2(fds, O_NONBLOCK) == 0);
    q = outq_create(err, sizeof(err));
    if (q == NULL) {
        UNIT_CHECK(q != NULL);
        return;
    }
    outq_append(q, "x\n", 2);
    outq_mark(q, &ncommitted, 0, 7, 0);
    outq_forget(q, &ncommitted);
    UNIT_CHECK(outq_flush(q, fds[1], on_commit, NULL, err, sizeof(err))
        == 1);
    UNIT_CHECK(ncommitted == 0);
    close(fds[0]);
    outq_append(q, "y\n", 2);
    UNIT_CHECK(outq_flush(q, fds[1], on_commit, NULL, err, sizeof(err))
        == -1);
    UNIT_CHECK(strstr(err, "write(stdout)") != NULL);
    outq_destroy(q);
    close(fds[1]);
}

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);
    UNIT_RUN(test_outq_commit_after_write);
    UNIT_RUN(test_outq_forget_and_broken_pipe);
    return unit_done();
}
