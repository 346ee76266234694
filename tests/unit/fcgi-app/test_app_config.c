/* test_app_config.c -- unit tests for config.c (settings table, strict
 * parsing, *_FILE secrets, secret length, redaction, the Markdown table).
 *
 * Each case sets the environment it needs and clears what it set, so the
 * cases are independent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "unit.h"

/* 32 bytes: the shortest secret config.c accepts, and one byte less. */
#define SECRET_32 "unit-test-secret-0123456789abcde"
#define SECRET_31 "unit-test-secret-0123456789abcd"

static const char *test_vars[] = {
    "SESSION_SECRET", "SESSION_SECRET_FILE", "SESSION_SECRET_PREVIOUS",
    "SESSION_SECRET_PREVIOUS_FILE", "APP_DEV", "APP_WORKERS",
    "REDIS_PORT", "REDIS_TIMEOUT_MS", "LOG_LEVEL", "APP_HOSTNAME",
    "REDIS_PASSWORD", "SESSION_COOKIE_SECURE", "APP_THREADS", NULL
};

static void
clear_env(void)
{
    int i;

    for (i = 0; test_vars[i] != NULL; i++) {
        unsetenv(test_vars[i]);
    }
}

static void
test_defaults(void)
{
    struct config cfg;
    char          err[256] = "";

    clear_env();
    setenv("SESSION_SECRET", SECRET_32, 1);
    UNIT_CHECK(config_load(&cfg, err, sizeof(err)) == 0);
    UNIT_CHECK_STR(cfg.redis_host, "127.0.0.1");
    UNIT_CHECK(cfg.redis_port == 6379);
    UNIT_CHECK(cfg.app_threads == 1);   /* deprecated, ignored */
    UNIT_CHECK(cfg.app_workers >= 1);
    UNIT_CHECK(cfg.session_fresh_ttl_s == 600);
    UNIT_CHECK(cfg.session_max_age_s == 2592000);
    UNIT_CHECK_STR(cfg.session_cookie_name, "connect.sid");
    UNIT_CHECK_STR(cfg.session_prefix, "sess:");
    UNIT_CHECK_STR(cfg.app_listen, "127.0.0.1:9000");
    UNIT_CHECK(cfg.app_hostname != NULL && cfg.app_hostname[0] != '\0');
    config_free(&cfg);
}

static void
expect_error(const char *name, const char *value, const char *want)
{
    struct config cfg;
    char          err[256] = "";

    clear_env();
    setenv("SESSION_SECRET", SECRET_32, 1);
    setenv(name, value, 1);
    UNIT_CHECK(config_load(&cfg, err, sizeof(err)) == -1);
    UNIT_CHECK(strstr(err, name) == err);
    UNIT_CHECK(strstr(err, want) != NULL);
    if (strstr(err, want) == NULL) {
        fprintf(stderr, "# %s=%s: got \"%s\"\n", name, value, err);
    }
}

static void
test_strict_integers(void)
{
    expect_error("APP_WORKERS", "abc",
                 "APP_WORKERS=\"abc\": not an integer (1..256)");
    expect_error("APP_WORKERS", "3 ", "not an integer");
}

static void
test_bounds_and_overflow(void)
{
    expect_error("REDIS_PORT", "65536", "out of range (1..65535)");
    expect_error("REDIS_TIMEOUT_MS", "18446744073709551616",
                 "not an integer");
    expect_error("APP_THREADS", "0", "out of range");
}

static void
test_words(void)
{
    expect_error("LOG_LEVEL", "verbose", "not one of");
    expect_error("SESSION_COOKIE_SECURE", "2", "not a boolean");
}

static void
test_secret_rules(void)
{
    struct config cfg;
    char          err[256] = "";
    char          path[] = "/tmp/test_app_config_XXXXXX";
    int           fd;

    clear_env();
    UNIT_CHECK(config_load(&cfg, err, sizeof(err)) == -1);
    UNIT_CHECK(strstr(err, "SESSION_SECRET: not set") == err);

    clear_env();
    setenv("APP_DEV", "1", 1);
    UNIT_CHECK(config_load(&cfg, err, sizeof(err)) == 0);
    UNIT_CHECK(cfg.app_secret_generated == 1);
    /* two sign_random_id()s: 48 random bytes as 64 base64url chars */
    UNIT_CHECK(strlen(cfg.session_secret) == 64);
    UNIT_CHECK(strspn(cfg.session_secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "abcdefghijklmnopqrstuvwxyz0123456789-_") == 64);
    config_free(&cfg);

    fd = mkstemp(path);
    UNIT_CHECK(fd >= 0);
    UNIT_CHECK(write(fd, SECRET_32 "\r\n\n", 35) == 35);
    close(fd);
    clear_env();
    setenv("SESSION_SECRET_FILE", path, 1);
    UNIT_CHECK(config_load(&cfg, err, sizeof(err)) == 0);
    UNIT_CHECK_STR(cfg.session_secret, SECRET_32);
    config_free(&cfg);

    setenv("SESSION_SECRET", "also", 1);
    UNIT_CHECK(config_load(&cfg, err, sizeof(err)) == -1);
    UNIT_CHECK(strstr(err, "both set") != NULL);
    unlink(path);
    clear_env();
}

/* Load with the environment as set; expect -1 and an error that starts
 * with want and does not contain the secret's value. */
static void
expect_secret_error(const char *want, const char *value)
{
    struct config cfg;
    char          err[256] = "";

    UNIT_CHECK(config_load(&cfg, err, sizeof(err)) == -1);
    UNIT_CHECK(strstr(err, want) == err);
    UNIT_CHECK(strstr(err, value) == NULL);
    if (strstr(err, want) != err) {
        fprintf(stderr, "# want \"%s...\", got \"%s\"\n", want, err);
    }
}

static void
test_secret_length(void)
{
    struct config cfg;
    char          err[256] = "";
    char          path[] = "/tmp/test_app_config_XXXXXX";
    int           fd;

    /* 31 bytes: refused, naming the setting, the length and the minimum */
    clear_env();
    setenv("SESSION_SECRET", SECRET_31, 1);
    expect_secret_error("SESSION_SECRET: too short (31 bytes, at least 32 "
                        "required", SECRET_31);
    /* APP_DEV makes up a secret only when none is given, never a longer
     * one for a short secret */
    setenv("APP_DEV", "1", 1);
    setenv("SESSION_SECRET", SECRET_31, 1);
    expect_secret_error("SESSION_SECRET: too short", SECRET_31);

    /* 32 bytes: accepted */
    clear_env();
    setenv("SESSION_SECRET", SECRET_32, 1);
    UNIT_CHECK(config_load(&cfg, err, sizeof(err)) == 0);
    UNIT_CHECK(strlen(cfg.session_secret) == 32);
    config_free(&cfg);

    /* the previous secret: optional, but when set the same rule */
    setenv("SESSION_SECRET_PREVIOUS", SECRET_31, 1);
    expect_secret_error("SESSION_SECRET_PREVIOUS: too short (31 bytes",
                        SECRET_31);
    setenv("SESSION_SECRET_PREVIOUS", SECRET_32, 1);
    UNIT_CHECK(config_load(&cfg, err, sizeof(err)) == 0);
    UNIT_CHECK_STR(cfg.session_secret_previous, SECRET_32);
    config_free(&cfg);
    setenv("SESSION_SECRET_PREVIOUS", "", 1);   /* empty is unset */
    UNIT_CHECK(config_load(&cfg, err, sizeof(err)) == 0);
    config_free(&cfg);

    /* from a file: counted after the trailing newline is stripped */
    fd = mkstemp(path);
    UNIT_CHECK(fd >= 0);
    UNIT_CHECK(write(fd, SECRET_31 "\n", 32) == 32);
    close(fd);
    clear_env();
    setenv("SESSION_SECRET_FILE", path, 1);
    expect_secret_error("SESSION_SECRET: too short (31 bytes", SECRET_31);
    clear_env();
    setenv("SESSION_SECRET", SECRET_32, 1);
    setenv("SESSION_SECRET_PREVIOUS_FILE", path, 1);
    expect_secret_error("SESSION_SECRET_PREVIOUS: too short", SECRET_31);
    unlink(path);
    clear_env();
}

static void
test_describe_redacts(void)
{
    struct config cfg;
    struct buf    b;
    char          err[256] = "";

    clear_env();
    setenv("SESSION_SECRET", "topsecret-0123456789abcdef-012345", 1);
    setenv("REDIS_PASSWORD", "hunter2", 1);
    UNIT_CHECK(config_load(&cfg, err, sizeof(err)) == 0);
    buf_init(&b);
    UNIT_CHECK(config_describe(&cfg, &b) == 0);
    UNIT_CHECK(b.data != NULL && strstr(b.data, "topsecret") == NULL);
    UNIT_CHECK(b.data != NULL
               && strstr(b.data, "SESSION_SECRET=(set)") != NULL);
    UNIT_CHECK(b.data != NULL && strstr(b.data, "hunter2") == NULL);
    UNIT_CHECK(b.data != NULL
               && strstr(b.data, "REDIS_PASSWORD=(set)") != NULL);
    UNIT_CHECK(b.data != NULL && strstr(b.data, "REDIS_PORT=6379") != NULL);
    buf_free(&b);
    config_free(&cfg);
    clear_env();
}

static void
test_table(void)
{
    char    *text = NULL;
    size_t   len = 0;
    FILE    *f = open_memstream(&text, &len);

    UNIT_CHECK(f != NULL);
    if (f == NULL) {
        return;
    }
    UNIT_CHECK(config_print_table(f) == 0);
    fclose(f);
    UNIT_CHECK(strstr(text, "| `APP_WORKERS` | integer | (CPUs) | 1..256 |")
               != NULL);
    UNIT_CHECK(strstr(text, "| `SESSION_SECRET` (or `_FILE`) | secret | "
                      "(required) | >= 32 bytes |") != NULL);
    UNIT_CHECK(strstr(text, "| `SESSION_SECRET_PREVIOUS` (or `_FILE`) | "
                      "secret | (unset) | >= 32 bytes |") != NULL);
    UNIT_CHECK(strstr(text, "| `REDIS_PASSWORD` (or `_FILE`) | secret | "
                      "(unset) |  |") != NULL);
    free(text);
}

int
main(void)
{
    UNIT_RUN(test_defaults);
    UNIT_RUN(test_strict_integers);
    UNIT_RUN(test_bounds_and_overflow);
    UNIT_RUN(test_words);
    UNIT_RUN(test_secret_rules);
    UNIT_RUN(test_secret_length);
    UNIT_RUN(test_describe_redacts);
    UNIT_RUN(test_table);
    return unit_done();
}
