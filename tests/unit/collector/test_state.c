/* test_state.c -- unit tests for state.c, the offsets file
 *
 * Round trip through a real file in a temp dir, path escaping, strict
 * rejection of malformed records, and no temp file left behind; a FIFO
 * at the state path is refused without blocking; a bad file is moved
 * aside under a name that never replaces an earlier one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state.h"
#include "unit.h"

static char dir[] = "/tmp/collector-unit-state-XXXXXX";

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (f != NULL) {
        fputs(text, f);
        fclose(f);
    }
}

static void
test_state_round_trip(void)
{
    struct state st = { NULL, 0, 0 }, back = { NULL, 0, 0 };
    struct state_entry e = { 64768, 1234567, 256, 0xdeadbeefcafef00dULL,
                             99999999999ULL, 1, (char *) "/v/a%b\nc.log" };
    char path[256], tmp[300], err[256];

    snprintf(path, sizeof(path), "%s/state", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    UNIT_CHECK(state_add(&st, &e) == 0);
    e.path = (char *) "/v/plain.log";
    e.skip = 0;
    e.offset = 0;
    UNIT_CHECK(state_add(&st, &e) == 0);
    UNIT_CHECK(state_save(&st, path, err, sizeof(err)) == 0);
    UNIT_CHECK(access(tmp, F_OK) != 0);
    UNIT_CHECK(state_load(&back, path, err, sizeof(err)) == 0);
    UNIT_CHECK(back.n == 2);
    if (back.n == 2) {
        UNIT_CHECK(back.e[0].dev == 64768 && back.e[0].ino == 1234567);
        UNIT_CHECK(back.e[0].fp_len == 256);
        UNIT_CHECK(back.e[0].fp == 0xdeadbeefcafef00dULL);
        UNIT_CHECK(back.e[0].offset == 99999999999ULL);
        UNIT_CHECK(back.e[0].skip == 1);
        UNIT_CHECK_STR(back.e[0].path, "/v/a%b\nc.log");
        UNIT_CHECK_STR(back.e[1].path, "/v/plain.log");
    }
    state_clear(&st);
    state_clear(&back);
    unlink(path);
}

static void
test_state_missing_file(void)
{
    struct state st = { NULL, 0, 0 };
    char path[256], err[256];

    snprintf(path, sizeof(path), "%s/nope", dir);
    UNIT_CHECK(state_load(&st, path, err, sizeof(err)) == 1);
    UNIT_CHECK(st.n == 0);
}

static void
test_state_rejects_malformed(void)
{
    static const char *const bad[] = {
        "junk\n",
        "collector-state 1\n1 2 3 00000000000000ff 4\n",
        "collector-state 1\n1 2 3 00000000000000fg 4 0 /p\n",
        "collector-state 1\n1 2 3 00000000000000ff 4 2 /p\n",
        ("collector-state 1\n1 2 3 00000000000000ff 18446744073709551616 0 "
         "/p\n"),
        "collector-state 1\n1 -2 3 00000000000000ff 4 0 /p\n",
        "collector-state 1\n1 2 3 00000000000000ff 4 0 /p%zz\n",
        "",
    };
    struct state st = { NULL, 0, 0 };
    char path[256], err[256];
    size_t i;

    snprintf(path, sizeof(path), "%s/bad", dir);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_file(path, bad[i]);
        UNIT_CHECK(state_load(&st, path, err, sizeof(err)) == -1);
        UNIT_CHECK(st.n == 0);
    }
    write_file(path, "collector-state 1\n1 2 3 00000000000000ff 4 0 \n");
    UNIT_CHECK(state_load(&st, path, err, sizeof(err)) == 0);
    UNIT_CHECK(st.n == 1);
    state_clear(&st);
    unlink(path);
}

static void
test_state_save_fails_cleanly(void)
{
    struct state st = { NULL, 0, 0 };
    char err[256];

    UNIT_CHECK(state_save(&st, "/nonexistent-dir/x/state", err,
        sizeof(err)) == -1);
    UNIT_CHECK(strstr(err, "open(") != NULL);
}

static void
test_state_fifo_refused(void)
{
    struct state st = { NULL, 0, 0 };
    char path[256], err[256];

    snprintf(path, sizeof(path), "%s/fifo", dir);
    UNIT_CHECK(mkfifo(path, 0600) == 0);
    UNIT_CHECK(state_load(&st, path, err, sizeof(err)) == STATE_BAD);
    UNIT_CHECK(strstr(err, "not a regular file") != NULL);
    unlink(path);
}

static void
test_state_move_aside(void)
{
    char path[256], dest[512], dest2[512], err[256];
    struct state st = { NULL, 0, 0 };

    snprintf(path, sizeof(path), "%s/state", dir);
    write_file(path, "garbage\n");
    UNIT_CHECK(state_load(&st, path, err, sizeof(err)) == STATE_BAD);
    UNIT_CHECK(state_move_aside(path, 1234, dest, sizeof(dest), err,
        sizeof(err)) == 0);
    UNIT_CHECK(access(path, F_OK) != 0);
    UNIT_CHECK(strstr(dest, "/state.corrupt-1234") != NULL);
    UNIT_CHECK(access(dest, F_OK) == 0);
    write_file(path, "garbage again\n");      /* same second */
    UNIT_CHECK(state_move_aside(path, 1234, dest2, sizeof(dest2), err,
        sizeof(err)) == 0);
    UNIT_CHECK(strcmp(dest, dest2) != 0 && access(dest, F_OK) == 0);
    UNIT_CHECK(state_load(&st, path, err, sizeof(err)) == STATE_ABSENT);
    UNIT_CHECK(state_move_aside(path, 1234, dest2, sizeof(dest2), err,
        sizeof(err)) == -1);
    UNIT_CHECK(strstr(err, "rename(") != NULL);
    unlink(dest);
    snprintf(dest, sizeof(dest), "%s/state.corrupt-1234.1", dir);
    unlink(dest);
}

int
main(void)
{
    if (mkdtemp(dir) == NULL) {
        return 1;
    }
    UNIT_RUN(test_state_round_trip);
    UNIT_RUN(test_state_missing_file);
    UNIT_RUN(test_state_rejects_malformed);
    UNIT_RUN(test_state_save_fails_cleanly);
    UNIT_RUN(test_state_fifo_refused);
    UNIT_RUN(test_state_move_aside);
    rmdir(dir);
    return unit_done();
}
