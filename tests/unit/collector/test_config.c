/* test_config.c -- unit tests for config.c, settings and inputs
 *
 * Strict numbers, precedence (default < env < argv), rejection messages
 * that name the setting (also for idle-close-s and partial-budget),
 * "[TYPE=]GLOB" splitting, and that docs/COLLECTOR.md mentions every
 * environment variable of the table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "unit.h"

static int
load(struct config *cfg, int argc, const char **argv, char *err,
    size_t errlen)
{
    return config_load(cfg, argc, (char **) (void *) argv, NULL, err,
        errlen);
}

static void
test_config_numbers_strict(void)
{
    long long v = 0;

    UNIT_CHECK(config_parse_number("42", 0, 100, &v) == 0 && v == 42);
    UNIT_CHECK(config_parse_number("42x", 0, 100, &v) == -1);
    UNIT_CHECK(config_parse_number(" 42", 0, 100, &v) == -1);
    UNIT_CHECK(config_parse_number("+42", 0, 100, &v) == -1);
    UNIT_CHECK(config_parse_number("", 0, 100, &v) == -1);
    UNIT_CHECK(config_parse_number("101", 0, 100, &v) == -1);
    UNIT_CHECK(config_parse_number("99999999999999999999", 0, 100, &v)
        == -1);
}

static void
test_config_defaults_env_argv(void)
{
    const char *argv[] = { "collector", "--line-max=4096", "--no-parse",
                           "--state", "/s", "web=/var/log/x/*.log" };
    struct config cfg;
    char err[256];

    setenv("COLLECTOR_LINE_MAX", "2048", 1);
    setenv("COLLECTOR_CHECKPOINT_MS", "333", 1);
    UNIT_CHECK(load(&cfg, 6, argv, err, sizeof(err)) == 0);
    UNIT_CHECK(cfg.line_max == 4096);           /* argv beats env */
    UNIT_CHECK(cfg.checkpoint_ms == 333);       /* env beats default */
    UNIT_CHECK(cfg.reconcile_ms == 1000);       /* default */
    UNIT_CHECK(cfg.parse == 0);
    UNIT_CHECK_STR(cfg.state, "/s");
    UNIT_CHECK(cfg.ninputs == 1);
    if (cfg.ninputs == 1) {
        UNIT_CHECK_STR(cfg.inputs[0].type, "web");
        UNIT_CHECK_STR(cfg.inputs[0].dir, "/var/log/x");
        UNIT_CHECK_STR(cfg.inputs[0].pattern, "*.log");
    }
    config_free(&cfg);
    unsetenv("COLLECTOR_LINE_MAX");
    unsetenv("COLLECTOR_CHECKPOINT_MS");
}

static void
test_config_rejects_and_names_setting(void)
{
    const char *a1[] = { "collector", "--line-max=10" };
    const char *a2[] = { "collector", "--bogus" };
    const char *a3[] = { "collector", "--from-beginning=maybe" };
    const char *a4[] = { "collector", "/var/*/x.log" };
    const char *a5[] = { "collector", "--line-max" };
    const char *a6[] = { "collector", "-x" };
    const char *a7[] = { "collector", "--no-line-max" };
    struct config cfg;
    char err[256];

    UNIT_CHECK(load(&cfg, 2, a1, err, sizeof(err)) == -1);
    UNIT_CHECK(strstr(err, "line-max") != NULL);
    config_free(&cfg);
    UNIT_CHECK(load(&cfg, 2, a2, err, sizeof(err)) == -1);
    UNIT_CHECK(strstr(err, "--bogus") != NULL);
    config_free(&cfg);
    UNIT_CHECK(load(&cfg, 2, a3, err, sizeof(err)) == -1);
    UNIT_CHECK(strstr(err, "from-beginning") != NULL);
    config_free(&cfg);
    UNIT_CHECK(load(&cfg, 2, a4, err, sizeof(err)) == -1);
    UNIT_CHECK(strstr(err, "wildcards") != NULL);
    config_free(&cfg);
    UNIT_CHECK(load(&cfg, 2, a5, err, sizeof(err)) == -1);
    UNIT_CHECK(strcmp(err, "option --line-max needs a value") == 0);
    config_free(&cfg);
    UNIT_CHECK(load(&cfg, 2, a6, err, sizeof(err)) == -1);
    UNIT_CHECK(strcmp(err, "unknown option \"-x\"") == 0);
    config_free(&cfg);
    /* "--no-" turns off a boolean only. */
    UNIT_CHECK(load(&cfg, 2, a7, err, sizeof(err)) == -1);
    UNIT_CHECK(strcmp(err, "unknown option \"--no-line-max\"") == 0);
    config_free(&cfg);
    setenv("COLLECTOR_DRAIN_MS", "-5", 1);
    UNIT_CHECK(load(&cfg, 1, a1, err, sizeof(err)) == -1);
    UNIT_CHECK(strstr(err, "COLLECTOR_DRAIN_MS") != NULL);
    config_free(&cfg);
    unsetenv("COLLECTOR_DRAIN_MS");
}

static void
test_config_hardening_settings(void)
{
    const char *a0[] = { "collector" };
    const char *a1[] = { "collector", "--idle-close-s=0",
                         "--partial-budget", "65536" };
    const char *a2[] = { "collector", "--partial-budget=100" };
    struct config cfg;
    char err[256];

    UNIT_CHECK(load(&cfg, 1, a0, err, sizeof(err)) == 0);
    UNIT_CHECK(cfg.idle_close_s == 300);
    UNIT_CHECK(cfg.partial_budget == 16 * 1024 * 1024);
    config_free(&cfg);
    UNIT_CHECK(load(&cfg, 4, a1, err, sizeof(err)) == 0);
    UNIT_CHECK(cfg.idle_close_s == 0 && cfg.partial_budget == 65536);
    config_free(&cfg);
    UNIT_CHECK(load(&cfg, 2, a2, err, sizeof(err)) == -1);
    UNIT_CHECK(strstr(err, "partial-budget") != NULL);
    config_free(&cfg);
    setenv("COLLECTOR_IDLE_CLOSE_S", "5m", 1);
    UNIT_CHECK(load(&cfg, 1, a0, err, sizeof(err)) == -1);
    UNIT_CHECK(strstr(err, "COLLECTOR_IDLE_CLOSE_S") != NULL);
    config_free(&cfg);
    setenv("COLLECTOR_IDLE_CLOSE_S", "604801", 1);
    UNIT_CHECK(load(&cfg, 1, a0, err, sizeof(err)) == -1);
    config_free(&cfg);
    unsetenv("COLLECTOR_IDLE_CLOSE_S");
}

static void
test_config_inputs_env_and_defaults(void)
{
    const char *argv[] = { "collector" };
    struct config cfg;
    char err[256];

    setenv("COLLECTOR_INPUTS", " a=/x/1.log\n/var/log/redis/r.log ", 1);
    UNIT_CHECK(load(&cfg, 1, argv, err, sizeof(err)) == 0);
    UNIT_CHECK(cfg.ninputs == 2);
    if (cfg.ninputs == 2) {
        UNIT_CHECK_STR(cfg.inputs[0].type, "a");
        UNIT_CHECK_STR(cfg.inputs[1].type, "redis");
        UNIT_CHECK_STR(cfg.inputs[1].pattern, "r.log");
    }
    config_free(&cfg);
    unsetenv("COLLECTOR_INPUTS");
    UNIT_CHECK(load(&cfg, 1, argv, err, sizeof(err)) == 0);
    UNIT_CHECK(cfg.ninputs == 4);
    if (cfg.ninputs == 4) {
        UNIT_CHECK_STR(cfg.inputs[0].type, "nginx-access");
        UNIT_CHECK_STR(cfg.inputs[1].type, "nginx-error");
        UNIT_CHECK_STR(cfg.inputs[2].type, "fcgi-app");
        UNIT_CHECK_STR(cfg.inputs[3].type, "redis");
    }
    config_free(&cfg);
}

static void
test_config_input_forms(void)
{
    struct config_input in;
    char err[256];

    UNIT_CHECK(config_parse_input("rel.log", &in, err, sizeof(err)) == 0);
    UNIT_CHECK_STR(in.dir, ".");
    UNIT_CHECK_STR(in.type, "log");
    free(in.spec); free(in.type); free(in.dir); free(in.pattern);
    /* '=' inside the path is not a type */
    UNIT_CHECK(config_parse_input("/a=b/c.log", &in, err, sizeof(err))
        == 0);
    UNIT_CHECK_STR(in.dir, "/a=b");
    free(in.spec); free(in.type); free(in.dir); free(in.pattern);
    UNIT_CHECK(config_parse_input("t=/dir/", &in, err, sizeof(err)) == -1);
}

static void
test_config_documented(void)
{
    FILE *f = fopen(COLLECTOR_DOC, "r");
    static char doc[65536];
    size_t n = 0, i;
    const char *env;

    UNIT_CHECK(f != NULL);
    if (f == NULL) {
        return;
    }
    n = fread(doc, 1, sizeof(doc) - 1, f);
    fclose(f);
    doc[n] = '\0';
    for (i = 0; (env = config_setting_env(i)) != NULL; i++) {
        UNIT_CHECK(strstr(doc, env) != NULL);
    }
    UNIT_CHECK(strstr(doc, "COLLECTOR_INPUTS") != NULL);
}

int
main(void)
{
    UNIT_RUN(test_config_numbers_strict);
    UNIT_RUN(test_config_defaults_env_argv);
    UNIT_RUN(test_config_rejects_and_names_setting);
    UNIT_RUN(test_config_hardening_settings);
    UNIT_RUN(test_config_inputs_env_and_defaults);
    UNIT_RUN(test_config_input_forms);
    UNIT_RUN(test_config_documented);
    return unit_done();
}
