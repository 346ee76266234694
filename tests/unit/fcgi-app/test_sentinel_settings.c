/* test_sentinel_settings.c -- unit tests for the Sentinel and WAIT settings
 *
 * Covers addr_parse_list() (the REDIS_SENTINELS list: host:port,
 * [v6]:port, separators, strict ports, limits) and config.c's checks of
 * REDIS_SENTINELS, REDIS_MASTER_NAME and REDIS_WAIT_TIMEOUT_MS.  The
 * failover itself is tested against real processes in
 * tests/redis/test_app_failover.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "addr.h"
#include "unit.h"

static const char *test_vars[] = {
    "SESSION_SECRET", "REDIS_SENTINELS", "REDIS_MASTER_NAME",
    "REDIS_WAIT_REPLICAS", "REDIS_WAIT_TIMEOUT_MS", "REDIS_TIMEOUT_MS",
    "REDIS_SENTINEL_PASSWORD", "REDIS_SENTINEL_PASSWORD_FILE", NULL
};

static void
clear_env(void)
{
    int i;

    for (i = 0; test_vars[i] != NULL; i++) {
        unsetenv(test_vars[i]);
    }
    setenv("SESSION_SECRET", "unit-test-secret-0123456789abcdef", 1);
}

static void
test_parse_list(void)
{
    struct addr_hp a[4];
    char              err[128] = "";

    UNIT_CHECK(addr_parse_list("h1:26379 10.0.0.2:1,[::1]:65535", a, 4,
                                 err, sizeof(err)) == 3);
    UNIT_CHECK(strcmp(a[0].host, "h1") == 0);
    UNIT_CHECK(a[0].port == 26379);
    UNIT_CHECK(strcmp(a[1].host, "10.0.0.2") == 0);
    UNIT_CHECK(a[1].port == 1);
    UNIT_CHECK(strcmp(a[2].host, "::1") == 0);
    UNIT_CHECK(a[2].port == 65535);
    UNIT_CHECK(addr_parse_list("  x:5  ", a, 4, err, sizeof(err)) == 1);
    UNIT_CHECK(strcmp(a[0].host, "x") == 0);
}

static void
expect_bad(const char *list, size_t max, const char *want)
{
    struct addr_hp a[4];
    char              err[128] = "";

    UNIT_CHECK(addr_parse_list(list, a, max, err, sizeof(err)) == -1);
    UNIT_CHECK(strstr(err, want) != NULL);
    if (strstr(err, want) == NULL) {
        fprintf(stderr, "# \"%s\": got \"%s\"\n", list, err);
    }
}

static void
test_parse_rejects(void)
{
    char long_host[ADDR_HOST_MAX + 8];

    expect_bad("", 4, "no host:port");
    expect_bad(" , ", 4, "no host:port");
    expect_bad("h", 4, "not host:port");
    expect_bad("h:", 4, "port not a number");
    expect_bad("h:0", 4, "port not a number");
    expect_bad("h:65536", 4, "port not a number");
    expect_bad("h:+1", 4, "port not a number");
    expect_bad("h:12x", 4, "port not a number");
    expect_bad("h:0000026379", 4, "port not a number");
    expect_bad(":26379", 4, "host empty");
    expect_bad("::1:26379", 4, "[addr]:port");
    expect_bad("[::1:26379", 4, "[addr]:port");
    /* found by tests/fuzz/fcgi-app/fuzz_addr.c */
    expect_bad("[::q]:q]:65535", 4, "stray bracket");
    expect_bad("a:1 b:2 c:3", 2, "more than 2");
    memset(long_host, 'a', ADDR_HOST_MAX);
    memcpy(long_host + ADDR_HOST_MAX, ":1", 3);
    expect_bad(long_host, 4, "longer than");
}

static void
test_config_sentinels(void)
{
    struct config cfg;
    char          err[256] = "";

    clear_env();
    UNIT_CHECK(config_load(&cfg, err, sizeof(err)) == 0);
    UNIT_CHECK_STR(cfg.redis_sentinels, "");
    UNIT_CHECK_STR(cfg.redis_master_name, "sessions");
    UNIT_CHECK(cfg.redis_wait_replicas == 0);
    UNIT_CHECK(cfg.redis_wait_timeout_ms == 50);
    config_free(&cfg);

    setenv("REDIS_SENTINELS", "s1:26379 s2:26379", 1);
    UNIT_CHECK(config_load(&cfg, err, sizeof(err)) == 0);
    config_free(&cfg);

    setenv("REDIS_SENTINELS", "s1:26379 s2", 1);
    UNIT_CHECK(config_load(&cfg, err, sizeof(err)) == -1);
    UNIT_CHECK(strstr(err, "REDIS_SENTINELS=\"s1:26379 s2\"") == err);

    setenv("REDIS_SENTINELS", "s1:26379", 1);
    setenv("REDIS_MASTER_NAME", "a b", 1);
    UNIT_CHECK(config_load(&cfg, err, sizeof(err)) == -1);
    UNIT_CHECK(strstr(err, "REDIS_MASTER_NAME") == err);
    clear_env();
}

static void
test_config_wait_fits_budget(void)
{
    struct config cfg;
    char          err[256] = "";

    clear_env();
    setenv("REDIS_WAIT_REPLICAS", "1", 1);
    UNIT_CHECK(config_load(&cfg, err, sizeof(err)) == 0);   /* 50 + 120 */
    config_free(&cfg);

    setenv("REDIS_WAIT_TIMEOUT_MS", "131", 1);              /* > 250-120 */
    UNIT_CHECK(config_load(&cfg, err, sizeof(err)) == -1);
    UNIT_CHECK(strstr(err, "REDIS_WAIT_TIMEOUT_MS=131") == err);

    setenv("REDIS_TIMEOUT_MS", "251", 1);
    UNIT_CHECK(config_load(&cfg, err, sizeof(err)) == 0);
    config_free(&cfg);

    /* Without WAIT the timeout is not checked against the budget. */
    setenv("REDIS_WAIT_REPLICAS", "0", 1);
    setenv("REDIS_WAIT_TIMEOUT_MS", "60000", 1);
    UNIT_CHECK(config_load(&cfg, err, sizeof(err)) == 0);
    config_free(&cfg);

    setenv("REDIS_WAIT_REPLICAS", "17", 1);
    UNIT_CHECK(config_load(&cfg, err, sizeof(err)) == -1);
    UNIT_CHECK(strstr(err, "out of range (0..16)") != NULL);
    clear_env();
}

static void
test_config_sentinel_secret_redacted(void)
{
    struct config cfg;
    struct buf    b;
    char          err[256] = "";

    clear_env();
    setenv("REDIS_SENTINEL_PASSWORD", "sentinel-hunter2", 1);
    UNIT_CHECK(config_load(&cfg, err, sizeof(err)) == 0);
    buf_init(&b);
    UNIT_CHECK(config_describe(&cfg, &b) == 0);
    UNIT_CHECK(b.data != NULL
               && strstr(b.data, "REDIS_SENTINEL_PASSWORD=(set)") != NULL);
    UNIT_CHECK(b.data != NULL && strstr(b.data, "hunter2") == NULL);
    buf_free(&b);
    config_free(&cfg);
    clear_env();
}

int
main(void)
{
    UNIT_RUN(test_parse_list);
    UNIT_RUN(test_parse_rejects);
    UNIT_RUN(test_config_sentinels);
    UNIT_RUN(test_config_wait_fits_budget);
    UNIT_RUN(test_config_sentinel_secret_redacted);
    return unit_done();
}
