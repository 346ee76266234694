/* unit.h -- the tiny harness every C unit test in tests/unit/ uses.
 *
 * A test file defines static functions and lists them in main():
 *
 *     static void test_decode_plain(void) { UNIT_CHECK(x == 1); }
 *     int main(void) { UNIT_RUN(test_decode_plain); return unit_done(); }
 *
 * Each case prints "ok - name" or "not ok - name: file:line: expr", the
 * protocol tests/run counts.  unit_done() returns 0 when every case passed,
 * 1 otherwise.  Header-only so each test links nothing extra.
 */
#ifndef UNIT_H
#define UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_failed_total;
static int unit_case_failed;
static char unit_reason[256];

#define UNIT_CHECK(expr) do {                                              \
    if (!(expr)) {                                                         \
        if (!unit_case_failed)                                             \
            snprintf(unit_reason, sizeof(unit_reason), "%s:%d: %s",        \
                     __FILE__, __LINE__, #expr);                           \
        unit_case_failed = 1;                                              \
    }                                                                      \
} while (0)

#define UNIT_CHECK_STR(got, want) do {                                     \
    const char *unit_g_ = (got), *unit_w_ = (want);                        \
    if (unit_g_ == NULL || strcmp(unit_g_, unit_w_) != 0) {                \
        if (!unit_case_failed)                                             \
            snprintf(unit_reason, sizeof(unit_reason),                     \
                     "%s:%d: got \"%s\" want \"%s\"", __FILE__, __LINE__,  \
                     unit_g_ ? unit_g_ : "(null)", unit_w_);               \
        unit_case_failed = 1;                                              \
    }                                                                      \
} while (0)

#define UNIT_RUN(fn) do {                                                  \
    unit_case_failed = 0;                                                  \
    unit_reason[0] = '\0';                                                 \
    fn();                                                                  \
    if (unit_case_failed) {                                                \
        unit_failed_total++;                                               \
        printf("not ok - %s: %s\n", #fn, unit_reason);                     \
    } else {                                                               \
        printf("ok - %s\n", #fn);                                          \
    }                                                                      \
    fflush(stdout);                                                        \
} while (0)

static inline int
unit_done(void)
{
    return unit_failed_total ? 1 : 0;
}

#endif
