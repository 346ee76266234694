/* test_wsnum.c -- unit tests for lib/wsnum.c (strict integers)
 *
 * Covers: bounds, junk, leading white space or '+', overflow, NULL, and that
 * *out is left alone on a refusal.
 */
#include <limits.h>

#include "unit.h"
#include "wsnum.h"

static void
test_accepts(void)
{
    long long v = 0;

    UNIT_CHECK(wsnum_parse_ll("42", 0, 100, &v) == 0 && v == 42);
    UNIT_CHECK(wsnum_parse_ll("-5", -10, 10, &v) == 0 && v == -5);
    UNIT_CHECK(wsnum_parse_ll("9223372036854775807", LLONG_MIN, LLONG_MAX,
                              &v) == 0 && v == LLONG_MAX);
}

static void
test_refuses(void)
{
    long long v = 7;

    UNIT_CHECK(wsnum_parse_ll(NULL, 0, 100, &v) == -1);
    UNIT_CHECK(wsnum_parse_ll("", 0, 100, &v) == -1);
    UNIT_CHECK(wsnum_parse_ll(" 42", 0, 100, &v) == -1);
    UNIT_CHECK(wsnum_parse_ll("\t42", 0, 100, &v) == -1);
    UNIT_CHECK(wsnum_parse_ll("\n42", 0, 100, &v) == -1);
    UNIT_CHECK(wsnum_parse_ll("\v42", 0, 100, &v) == -1);
    UNIT_CHECK(wsnum_parse_ll("+42", 0, 100, &v) == -1);
    UNIT_CHECK(wsnum_parse_ll("42x", 0, 100, &v) == -1);
    UNIT_CHECK(wsnum_parse_ll("101", 0, 100, &v) == -1);
    UNIT_CHECK(wsnum_parse_ll("-1", 0, 100, &v) == -1);
    UNIT_CHECK(wsnum_parse_ll("9223372036854775808", LLONG_MIN, LLONG_MAX,
                              &v) == -1);
    UNIT_CHECK(v == 7);
}

int
main(void)
{
    UNIT_RUN(test_accepts);
    UNIT_RUN(test_refuses);
    return unit_done();
}
