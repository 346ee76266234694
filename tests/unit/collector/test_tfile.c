/* test_tfile.c -- unit tests for tfile.c on real temp files
 *
 * Line splitting across reads, CRLF, the held partial line and its resume
 * offset, the line cap with skip mode, truncation by size and by
 * fingerprint, flushing a final partial line, splitting a held line early
 * (and the memory it is accounted under), refusing symlinks, FIFOs and
 * directories without blocking or reading, and suspend/resume.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tfile.h"
#include "unit.h"

struct got {
    char      line[8][64];
    size_t    len[8];
    unsigned  flags[8];
    uint64_t  resume[8];
    int       skip[8];
    size_t    n;
};

static char path[] = "/tmp/collector-unit-tfile-XXXXXX";

static int
on_line(void *ctx, struct tfile *f, const char *line, size_t len,
    unsigned flags, uint64_t resume_off, int resume_skip)
{
    struct got *g = ctx;

    (void) f;
    if (g->n < 8) {
        size_t n = len < 63 ? len : 63;

        if (line != NULL) {
            memcpy(g->line[g->n], line, n);
        }
        g->line[g->n][line ? n : 0] = '\0';
        g->len[g->n] = len;
        g->flags[g->n] = flags;
        g->resume[g->n] = resume_off;
        g->skip[g->n] = resume_skip;
        g->n++;
    }
    return 0;
}

static void
put(const char *s, int trunc)
{
    int fd = open(path, O_WRONLY | O_APPEND | (trunc ? O_TRUNC : 0));

    if (fd >= 0) {
        if (write(fd, s, strlen(s)) < 0) {
            UNIT_CHECK(0);
        }
        close(fd);
    }
}

static int
read_all(struct tfile *f, struct got *g, size_t cap, size_t line_max)
{
    char buf[64], err[256];

    return tfile_read(f, buf, cap, 1 << 20, line_max, on_line, g, err,
        sizeof(err));
}

static void
test_tfile_lines_partial_crlf(void)
{
    struct got g = { .n = 0 };
    struct tfile *f;
    char err[256];

    put("one\ntwo\r\nthr", 1);
    f = tfile_open(path, "t", err, sizeof(err));
    UNIT_CHECK(f != NULL);
    if (f == NULL) {
        return;
    }
    UNIT_CHECK(read_all(f, &g, 5, 100) == TFILE_EOF);  /* tiny reads */
    UNIT_CHECK(g.n == 2);
    UNIT_CHECK_STR(g.line[0], "one");
    UNIT_CHECK(g.resume[0] == 4);
    UNIT_CHECK_STR(g.line[1], "two");
    UNIT_CHECK(g.resume[1] == 9);
    put("ee\n", 0);
    UNIT_CHECK(read_all(f, &g, 5, 100) == TFILE_EOF);
    UNIT_CHECK(g.n == 3);
    UNIT_CHECK_STR(g.line[2], "three");
    UNIT_CHECK(g.resume[2] == 15);
    tfile_close(f);
}

static void
test_tfile_line_cap_and_skip(void)
{
    struct got g = { .n = 0 };
    struct tfile *f;
    char err[256];

    put("0123456789abcdef\nok\n0123456789", 1);
    f = tfile_open(path, "t", err, sizeof(err));
    if (f == NULL) {
        UNIT_CHECK(f != NULL);
        return;
    }
    UNIT_CHECK(read_all(f, &g, 64, 8) == TFILE_EOF);
    UNIT_CHECK(g.n == 3);
    UNIT_CHECK_STR(g.line[0], "01234567");
    UNIT_CHECK(g.flags[0] == TFILE_LINE_TRUNCATED && g.resume[0] == 17);
    UNIT_CHECK_STR(g.line[1], "ok");
    /* unfinished over-long line: cut now, resume in skip mode */
    UNIT_CHECK_STR(g.line[2], "01234567");
    UNIT_CHECK(g.skip[2] == 1 && g.resume[2] == 30);
    UNIT_CHECK(f->skipping == 1);
    put("xyz\nlast\n", 0);
    UNIT_CHECK(read_all(f, &g, 64, 8) == TFILE_EOF);
    UNIT_CHECK(g.n == 5);
    UNIT_CHECK(g.flags[3] == TFILE_LINE_NONE && g.resume[3] == 34
               && g.skip[3] == 0);
    UNIT_CHECK_STR(g.line[4], "last");
    tfile_close(f);
}

static void
test_tfile_truncation(void)
{
    struct got g = { .n = 0 };
    struct tfile *f;
    char err[256];
    int t = 0;

    put("aaaa 1\naaaa 2\n", 1);
    f = tfile_open(path, "t", err, sizeof(err));
    if (f == NULL) {
        UNIT_CHECK(f != NULL);
        return;
    }
    read_all(f, &g, 64, 100);
    UNIT_CHECK(tfile_check(f, &t, err, sizeof(err)) == 0 && t == 0);
    put("b 1\n", 1);                            /* shorter: by size */
    UNIT_CHECK(tfile_check(f, &t, err, sizeof(err)) == 0 && t == 1);
    UNIT_CHECK(f->read_off == 0 && f->gen == 1);
    read_all(f, &g, 64, 100);
    UNIT_CHECK(g.n == 3);
    UNIT_CHECK_STR(g.line[2], "b 1");
    put("cccc 1\ncccc 2\n", 1);                 /* longer: fingerprint */
    UNIT_CHECK(tfile_check(f, &t, err, sizeof(err)) == 0 && t == 1);
    UNIT_CHECK(f->gen == 2);
    put("cccc 3\n", 0);                         /* append: no truncation */
    UNIT_CHECK(tfile_check(f, &t, err, sizeof(err)) == 0 && t == 0);
    tfile_close(f);
}

static void
test_tfile_resume_and_flush(void)
{
    struct got g = { .n = 0 };
    struct tfile *f;
    char err[256];

    put("x\nhalf", 1);
    f = tfile_open(path, "t", err, sizeof(err));
    if (f == NULL) {
        UNIT_CHECK(f != NULL);
        return;
    }
    UNIT_CHECK(tfile_prefix_matches(f, f->fp_len, f->fp));
    UNIT_CHECK(!tfile_prefix_matches(f, f->fp_len, f->fp ^ 1));
    tfile_seek(f, 2, 0);
    read_all(f, &g, 64, 100);
    UNIT_CHECK(g.n == 0 && f->plen == 4);
    UNIT_CHECK(tfile_flush_partial(f, 0, on_line, &g) == 0);
    UNIT_CHECK(g.n == 1 && g.resume[0] == 6);
    UNIT_CHECK_STR(g.line[0], "half");
    UNIT_CHECK(f->plen == 0);
    tfile_close(f);
}

static void
test_tfile_split_early_and_accounting(void)
{
    struct got g = { .n = 0 };
    struct tfile *f;
    size_t held = 0;
    char err[256];

    put("a\nlong-unfinished", 1);
    f = tfile_open(path, "t", err, sizeof(err));
    if (f == NULL) {
        UNIT_CHECK(f != NULL);
        return;
    }
    f->held_total = &held;
    read_all(f, &g, 64, 100);
    UNIT_CHECK(g.n == 1 && f->plen == 15);
    UNIT_CHECK(held == f->pcap && held >= 15);
    UNIT_CHECK(tfile_flush_partial(f, TFILE_LINE_SPLIT, on_line, &g) == 0);
    UNIT_CHECK(g.n == 2 && g.flags[1] == TFILE_LINE_SPLIT);
    UNIT_CHECK_STR(g.line[1], "long-unfinished");
    UNIT_CHECK(g.resume[1] == 17 && g.skip[1] == 0);
    UNIT_CHECK(held == 0 && f->plen == 0);
    /* the rest follows as a line of its own */
    put("-rest\nnext\n", 0);
    read_all(f, &g, 64, 100);
    UNIT_CHECK(g.n == 4);
    UNIT_CHECK_STR(g.line[2], "-rest");
    UNIT_CHECK(g.flags[2] == 0 && g.resume[2] == 23);
    UNIT_CHECK_STR(g.line[3], "next");
    /* a rest that is only the newline (or CRLF) is no line */
    put("tail", 0);
    read_all(f, &g, 64, 100);
    UNIT_CHECK(tfile_flush_partial(f, TFILE_LINE_SPLIT, on_line, &g) == 0);
    UNIT_CHECK(g.n == 5);
    UNIT_CHECK_STR(g.line[4], "tail");
    put("\r\nz\n", 0);
    read_all(f, &g, 64, 100);
    UNIT_CHECK(g.n == 7);
    UNIT_CHECK(g.flags[5] == TFILE_LINE_NONE && g.resume[5] == 34);
    UNIT_CHECK_STR(g.line[6], "z");
    UNIT_CHECK(g.resume[6] == 36);
    UNIT_CHECK(held == 0);
    tfile_close(f);
}

static void
test_tfile_refuses_non_regular(void)
{
    char link[300], fifo[300], dir[300], err[256];
    struct tfile *f;

    snprintf(link, sizeof(link), "%s.link", path);
    snprintf(fifo, sizeof(fifo), "%s.fifo", path);
    snprintf(dir, sizeof(dir), "%s.dir", path);
    UNIT_CHECK(symlink(path, link) == 0);
    UNIT_CHECK(mkfifo(fifo, 0600) == 0);
    UNIT_CHECK(mkdir(dir, 0700) == 0);
    errno = 0;
    f = tfile_open(link, "t", err, sizeof(err));
    UNIT_CHECK(f == NULL && errno == ELOOP);
    UNIT_CHECK(strstr(err, "symbolic link") != NULL);
    /* a FIFO without a writer: must return at once, not wait */
    errno = 0;
    f = tfile_open(fifo, "t", err, sizeof(err));
    UNIT_CHECK(f == NULL && errno == EINVAL);
    UNIT_CHECK(strstr(err, "FIFO, not a regular file") != NULL);
    errno = 0;
    f = tfile_open(dir, "t", err, sizeof(err));
    UNIT_CHECK(f == NULL && errno == EINVAL);
    UNIT_CHECK(strstr(err, "directory") != NULL);
    unlink(link);
    unlink(fifo);
    rmdir(dir);
}

static void
test_tfile_suspend_resume(void)
{
    struct got g = { .n = 0 };
    struct tfile *f;
    struct stat st;
    char err[256], other[300];
    int t = -1;

    put("s 1\ns 2 part", 1);
    f = tfile_open(path, "t", err, sizeof(err));
    if (f == NULL) {
        UNIT_CHECK(f != NULL);
        return;
    }
    read_all(f, &g, 64, 100);
    UNIT_CHECK(g.n == 1 && f->plen == 8);
    f->commit_off = g.resume[0];                /* as the loop would */
    UNIT_CHECK(tfile_suspend(f) == 0);
    UNIT_CHECK(f->fd == -1 && f->plen == 0 && f->read_off == 4);
    UNIT_CHECK(lstat(path, &st) == 0 && !tfile_changed(f, &st));
    put("-end\n", 0);
    UNIT_CHECK(lstat(path, &st) == 0 && tfile_changed(f, &st));
    UNIT_CHECK(tfile_resume(f, &t, err, sizeof(err)) == 0 && t == 0);
    UNIT_CHECK(f->fd >= 0);
    read_all(f, &g, 64, 100);
    UNIT_CHECK(g.n == 2);
    UNIT_CHECK_STR(g.line[1], "s 2 part-end");  /* held part read again */
    /* rewritten while closed: same inode, new first bytes */
    f->commit_off = f->read_off;
    tfile_suspend(f);
    put("r 1 another content, longer than before\n", 1);
    UNIT_CHECK(tfile_resume(f, &t, err, sizeof(err)) == 0 && t == 1);
    UNIT_CHECK(f->read_off == 0 && f->gen == 1);
    /* another file under the name: stays suspended */
    f->commit_off = f->read_off;
    tfile_suspend(f);
    snprintf(other, sizeof(other), "%s.other", path);
    put("", 0);
    UNIT_CHECK(rename(path, other) == 0);
    close(open(path, O_WRONLY | O_CREAT, 0600));
    errno = 0;
    UNIT_CHECK(tfile_resume(f, &t, err, sizeof(err)) == -1);
    UNIT_CHECK(errno == ESTALE && f->fd == -1);
    unlink(other);
    tfile_close(f);
}

int
main(void)
{
    int fd = mkstemp(path);

    if (fd < 0) {
        return 1;
    }
    close(fd);
    UNIT_RUN(test_tfile_lines_partial_crlf);
    UNIT_RUN(test_tfile_line_cap_and_skip);
    UNIT_RUN(test_tfile_truncation);
    UNIT_RUN(test_tfile_resume_and_flush);
    UNIT_RUN(test_tfile_split_early_and_accounting);
    UNIT_RUN(test_tfile_refuses_non_regular);
    UNIT_RUN(test_tfile_suspend_resume);
    unlink(path);
    return unit_done();
}
