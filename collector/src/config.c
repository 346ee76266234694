/* config.c -- the settings table and its parser
 *
 * Every setting is one row of config_table: command-line name, environment
 * variable, type, default, bounds and description.  docs/COLLECTOR.md
 * lists the same rows (tests/unit/collector/test_config.c checks that the
 * doc names every variable).  An unknown option, a malformed number or an
 * out-of-range value stops startup with a message naming the setting.
 *
 * Inputs are "[TYPE=]GLOB" words on the command line, or the
 * whitespace-separated COLLECTOR_INPUTS.  The directory part of GLOB is
 * literal and the file name part is an fnmatch(3) pattern, so the
 * collector can watch the directory for files that appear later.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "wsnum.h"

enum config_type { CONFIG_STR, CONFIG_BOOL, CONFIG_NUM };

struct config_row {
    const char      *name;
    const char      *env;
    enum config_type type;
    size_t           off;
    const char      *def;
    long long        min;
    long long        max;
    const char      *help;
};

#define CFG(f) offsetof(struct config, f)
#define MIB (1024LL * 1024)

static const struct config_row config_table[] = {
    { "state", "COLLECTOR_STATE", CONFIG_STR, CFG(state), "", 0, 0,
      "state file with committed offsets (\"\" = keep no state)" },
    { "from-beginning", "COLLECTOR_FROM_BEGINNING", CONFIG_BOOL,
      CFG(from_beginning), "0", 0, 1,
      "read files present at first start from their start, not the end" },
    { "line-max", "COLLECTOR_LINE_MAX", CONFIG_NUM, CFG(line_max),
      "1048576", 64, 64 * MIB,
      "longest line in bytes; longer lines are cut and marked" },
    { "read-buffer", "COLLECTOR_READ_BUFFER", CONFIG_NUM, CFG(read_buffer),
      "262144", 4096, 64 * MIB, "bytes read from a file per pread(2)" },
    { "out-buffer", "COLLECTOR_OUT_BUFFER", CONFIG_NUM, CFG(out_buffer),
      "1048576", 4096, 1024 * MIB,
      "encoded bytes queued for stdout before reading pauses" },
    { "checkpoint-ms", "COLLECTOR_CHECKPOINT_MS", CONFIG_NUM,
      CFG(checkpoint_ms), "1000", 10, 3600000,
      "save the state file at most this often while offsets move" },
    { "reconcile-ms", "COLLECTOR_RECONCILE_MS", CONFIG_NUM,
      CFG(reconcile_ms), "1000", 50, 600000,
      "period of the stat() reconcile that backs up inotify" },
    { "poll-ms", "COLLECTOR_POLL_MS", CONFIG_NUM, CFG(poll_ms), "250", 10,
      60000, "polling period for files and dirs that got no inotify watch" },
    { "close-quiet-ms", "COLLECTOR_CLOSE_QUIET_MS", CONFIG_NUM,
      CFG(close_quiet_ms), "2000", 0, 3600000,
      "a rotated or deleted file read to its end is closed after this "
      "long without growth; its final partial line is then emitted" },
    { "idle-close-s", "COLLECTOR_IDLE_CLOSE_S", CONFIG_NUM,
      CFG(idle_close_s), "300", 0, 604800,  /* a week */
      "close a file read to its end after this long without growth "
      "(descriptor and watch released); reopened at its offset when it "
      "grows; 0 = never" },
    { "partial-budget", "COLLECTOR_PARTIAL_BUDGET", CONFIG_NUM,
      CFG(partial_budget), "16777216", 4096, 1024 * MIB,
      "bytes of unfinished lines held for all files together; above it "
      "the longest is emitted early, marked truncated, its rest follows" },
    { "drain-ms", "COLLECTOR_DRAIN_MS", CONFIG_NUM, CFG(drain_ms), "5000",
      0, 600000, "on SIGTERM/SIGINT, wait this long for stdout to drain" },
    { "parse", "COLLECTOR_PARSE", CONFIG_BOOL, CFG(parse), "1", 0, 1,
      "add \"parsed\" fields for nginx combined and Redis lines" },
    { "host", "COLLECTOR_HOST", CONFIG_STR, CFG(host), "", 0, 0,
      "the \"host\" field (\"\" = gethostname())" },
    { "tcp", "COLLECTOR_TCP", CONFIG_STR, CFG(tcp), "", 0, 0,
      "also send events to this json_lines TCP endpoint, HOST:PORT or "
      "[V6]:PORT" },
    { "tcp-buffer", "COLLECTOR_TCP_BUFFER", CONFIG_NUM, CFG(tcp_buffer),
      "8388608", 4096, 1024 * MIB,
      "bytes queued for the TCP endpoint; when full, new events are "
      "dropped for TCP only (counted, logged)" },
    { "log-level", "COLLECTOR_LOG_LEVEL", CONFIG_STR, CFG(log_level),
      "info", 0, 0, "error, warn, info or debug (stderr)" },
    { "health-file", "COLLECTOR_HEALTH_FILE", CONFIG_STR,
      CFG(health_file), "", 0, 0,
      "create this file and touch it after every reconcile pass, so a "
      "healthcheck can tell a live loop from a stuck one (\"\" = none)" },
};

#define CONFIG_NROWS (sizeof(config_table) / sizeof(config_table[0]))

static const char *const config_default_inputs[] = {
    "nginx-access=/var/log/nginx/access.log",
    "nginx-error=/var/log/nginx/error.log",
    "fcgi-app=/var/log/fcgi-app/*.log",
    "redis=/var/log/redis/*.log",
};

/*
 * Parse a decimal integer strictly: optional '-', then digits; no '+',
 * leading white space, trailing junk or overflow; within [min, max]
 * (lib/wsnum.c has the exact rule both programs use; named here for the
 * settings table and its tests).  Returns 0 or -1.
 */
int
config_parse_number(const char *s, long long min, long long max,
    long long *out)
{
    return wsnum_parse_ll(s, min, max, out);
}

/* Store value into the row's field; fill err on failure. */
static int
config_set(struct config *cfg, const struct config_row *row,
    const char *value, const char *from, char *err, size_t errlen)
{
    char *base = (char *) cfg;

    switch (row->type) {
    case CONFIG_STR:
        memcpy(base + row->off, &value, sizeof(value));
        return 0;
    case CONFIG_BOOL: {
        long long b;

        if (strcmp(value, "1") == 0 || strcmp(value, "true") == 0
            || strcmp(value, "yes") == 0)
        {
            b = 1;
        } else if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0
            || strcmp(value, "no") == 0)
        {
            b = 0;
        } else {
            snprintf(err, errlen, "%s (%s): \"%s\" is not a boolean",
                row->name, from, value);
            return -1;
        }
        memcpy(base + row->off, &b, sizeof(b));
        return 0;
    }
    case CONFIG_NUM: {
        long long n;

        if (config_parse_number(value, row->min, row->max, &n) != 0) {
            snprintf(err, errlen, "%s (%s): \"%s\" is not an integer in "
                "[%lld, %lld]", row->name, from, value, row->min, row->max);
            return -1;
        }
        memcpy(base + row->off, &n, sizeof(n));
        return 0;
    }
    }
    return -1;
}

/* Return 1 if s is a valid type name: [A-Za-z0-9._-]+. */
static int
config_valid_type(const char *s, size_t len)
{
    size_t i;

    if (len == 0) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '_'
              || c == '-'))
        {
            return 0;
        }
    }
    return 1;
}

/* Default type for a glob without "TYPE=": name the source. */
static const char *
config_default_type(const char *glob)
{
    if (strstr(glob, "nginx") != NULL && strstr(glob, "error") != NULL) {
        return "nginx-error";
    }
    if (strstr(glob, "nginx") != NULL || strstr(glob, "access") != NULL) {
        return "nginx-access";
    }
    if (strstr(glob, "redis") != NULL || strstr(glob, "sentinel") != NULL) {
        return "redis";
    }
    if (strstr(glob, "fcgi") != NULL) {
        return "fcgi-app";
    }
    return "log";
}

/*
 * Parse "[TYPE=]GLOB" into in (fields malloc()ed).  GLOB must be absolute
 * or relative with a literal directory part.  Returns 0, or -1 with err.
 */
int
config_parse_input(const char *spec, struct config_input *in, char *err,
    size_t errlen)
{
    const char *eq = strchr(spec, '='), *glob = spec, *slash;
    size_t tlen = 0;

    memset(in, 0, sizeof(*in));
    if (eq != NULL && memchr(spec, '/', (size_t) (eq - spec)) == NULL
        && config_valid_type(spec, (size_t) (eq - spec)))
    {
        tlen = (size_t) (eq - spec);
        glob = eq + 1;
    }
    slash = strrchr(glob, '/');
    if (*glob == '\0' || (slash != NULL && slash[1] == '\0')) {
        snprintf(err, errlen, "input \"%s\": no file name pattern", spec);
        return -1;
    }
    if (slash != NULL && strcspn(glob, "*?[") < (size_t) (slash - glob)) {
        snprintf(err, errlen, "input \"%s\": wildcards are allowed only in "
            "the file name, not the directory", spec);
        return -1;
    }
    in->spec = strdup(spec);
    in->type = tlen ? strndup(spec, tlen) : strdup(config_default_type(glob));
    if (slash == NULL) {
        in->dir = strdup(".");
        in->pattern = strdup(glob);
    } else {
        in->dir = slash == glob ? strdup("/")
                                : strndup(glob, (size_t) (slash - glob));
        in->pattern = strdup(slash + 1);
    }
    if (in->spec == NULL || in->type == NULL || in->dir == NULL
        || in->pattern == NULL)
    {
        snprintf(err, errlen, "out of memory");
        goto error;
    }
    return 0;

error:
    free(in->spec);
    free(in->type);
    free(in->dir);
    free(in->pattern);
    memset(in, 0, sizeof(*in));
    return -1;
}

/* Append one input spec to cfg. */
static int
config_add_input(struct config *cfg, const char *spec, char *err,
    size_t errlen)
{
    struct config_input *ni;

    ni = realloc(cfg->inputs, (cfg->ninputs + 1) * sizeof(*ni));
    if (ni == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    cfg->inputs = ni;
    if (config_parse_input(spec, &cfg->inputs[cfg->ninputs], err, errlen)) {
        return -1;
    }
    cfg->ninputs++;
    return 0;
}

/* Split COLLECTOR_INPUTS on white space and add each word. */
static int
config_env_inputs(struct config *cfg, const char *list, char *err,
    size_t errlen)
{
    const char *p = list;

    while (*p != '\0') {
        size_t n;
        char *word;
        int rc;

        p += strspn(p, " \t\n");
        n = strcspn(p, " \t\n");
        if (n == 0) {
            break;
        }
        word = strndup(p, n);
        if (word == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        rc = config_add_input(cfg, word, err, errlen);
        free(word);
        if (rc != 0) {
            return -1;
        }
        p += n;
    }
    return 0;
}

/* The row named name[0..len), or NULL. */
static const struct config_row *
config_find(const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < CONFIG_NROWS; i++) {
        if (strlen(config_table[i].name) == len
            && memcmp(config_table[i].name, name, len) == 0)
        {
            return &config_table[i];
        }
    }
    return NULL;
}

/* One long option at argv[*a]: "--name=value", "--name value" (*a then
 * moves past the value), "--name" or "--no-name" for a boolean.  0, or -1
 * with err naming the option. */
static int
config_load_option(struct config *cfg, int argc, char **argv, int *a,
    char *err, size_t errlen)
{
    const char *arg = argv[*a], *name, *val, *eq;
    const struct config_row *row;
    size_t nlen;

    if (arg[1] != '-') {
        snprintf(err, errlen, "unknown option \"%s\"", arg);
        return -1;
    }
    name = arg + 2;
    eq = strchr(name, '=');
    nlen = eq ? (size_t) (eq - name) : strlen(name);
    val = eq ? eq + 1 : NULL;
    row = config_find(name, nlen);
    if (row == NULL && nlen > 3 && memcmp(name, "no-", 3) == 0
        && val == NULL)
    {
        row = config_find(name + 3, nlen - 3);
        if (row != NULL && row->type == CONFIG_BOOL) {
            val = "0";
        } else {
            row = NULL;
        }
    }
    if (row == NULL) {
        snprintf(err, errlen, "unknown option \"%s\"", arg);
        return -1;
    }
    if (val == NULL && row->type == CONFIG_BOOL) {
        val = "1";
    }
    if (val == NULL) {
        if (*a + 1 >= argc) {
            snprintf(err, errlen, "option --%s needs a value", row->name);
            return -1;
        }
        val = argv[++*a];
    }
    return config_set(cfg, row, val, "command line", err, errlen);
}

/* The inputs when the command line names none: COLLECTOR_INPUTS if set
 * and not empty, else the defaults.  0 / -1 (err filled). */
static int
config_load_inputs(struct config *cfg, char *err, size_t errlen)
{
    const char *env = getenv("COLLECTOR_INPUTS");
    size_t i;

    if (env != NULL && *env != '\0') {
        return config_env_inputs(cfg, env, err, errlen);
    }
    for (i = 0; i < sizeof(config_default_inputs)
                    / sizeof(config_default_inputs[0]); i++)
    {
        if (config_add_input(cfg, config_default_inputs[i], err,
                errlen) != 0)
        {
            return -1;
        }
    }
    return 0;
}

/*
 * Fill cfg from defaults, the environment and argv.  Returns 0, or -1
 * with err naming the bad setting.  cfg must be released with
 * config_free() either way.
 */
int
config_load(struct config *cfg, int argc, char **argv, char **envp_unused,
    char *err, size_t errlen)
{
    const char *env;
    size_t i;
    int a, only_inputs = 0, have_argv_inputs = 0;

    (void) envp_unused;
    memset(cfg, 0, sizeof(*cfg));
    for (i = 0; i < CONFIG_NROWS; i++) {
        if (config_set(cfg, &config_table[i], config_table[i].def,
                "default", err, errlen) != 0)
        {
            return -1;
        }
    }
    for (i = 0; i < CONFIG_NROWS; i++) {
        env = getenv(config_table[i].env);
        if (env != NULL && config_set(cfg, &config_table[i], env,
                config_table[i].env, err, errlen) != 0)
        {
            return -1;
        }
    }
    for (a = 1; a < argc; a++) {
        const char *arg = argv[a];

        if (only_inputs || arg[0] != '-' || arg[1] == '\0') {
            if (config_add_input(cfg, arg, err, errlen) != 0) {
                return -1;
            }
            have_argv_inputs = 1;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_inputs = 1;
            continue;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            cfg->help = 1;
            return 0;
        }
        if (config_load_option(cfg, argc, argv, &a, err, errlen) != 0) {
            return -1;
        }
    }
    return have_argv_inputs ? 0 : config_load_inputs(cfg, err, errlen);
}

/* Free what config_load() allocated.  Accepts a half-loaded cfg. */
void
config_free(struct config *cfg)
{
    size_t i;

    for (i = 0; i < cfg->ninputs; i++) {
        free(cfg->inputs[i].spec);
        free(cfg->inputs[i].type);
        free(cfg->inputs[i].dir);
        free(cfg->inputs[i].pattern);
    }
    free(cfg->inputs);
    cfg->inputs = NULL;
    cfg->ninputs = 0;
}

/* Append printf output to buf at *o, truncating silently. */
static void
config_append(char *buf, size_t buflen, size_t *o, const char *s)
{
    size_t n = strlen(s);

    if (*o + n >= buflen) {
        n = *o + 1 < buflen ? buflen - *o - 1 : 0;
    }
    memcpy(buf + *o, s, n);
    *o += n;
    buf[*o] = '\0';
}

/*
 * Write the effective configuration as "name=value ..." into buf.
 * Returns 0.  Output is truncated to buflen.
 */
int
config_describe(const struct config *cfg, char *buf, size_t buflen)
{
    const char *base = (const char *) cfg;
    char item[512];
    size_t i, o = 0;

    if (buflen == 0) {
        return 0;
    }
    buf[0] = '\0';
    for (i = 0; i < CONFIG_NROWS; i++) {
        const struct config_row *row = &config_table[i];

        if (row->type == CONFIG_STR) {
            const char *s;

            memcpy(&s, base + row->off, sizeof(s));
            snprintf(item, sizeof(item), "%s=\"%s\" ", row->name, s);
        } else {
            long long v;

            memcpy(&v, base + row->off, sizeof(v));
            snprintf(item, sizeof(item), "%s=%lld ", row->name, v);
        }
        config_append(buf, buflen, &o, item);
    }
    for (i = 0; i < cfg->ninputs; i++) {
        snprintf(item, sizeof(item), "input=%s=%s/%s ", cfg->inputs[i].type,
            cfg->inputs[i].dir, cfg->inputs[i].pattern);
        config_append(buf, buflen, &o, item);
    }
    return 0;
}

/* Environment variable of setting i, or NULL past the last.  Lets the
 * tests check docs/COLLECTOR.md against the table. */
const char *
config_setting_env(size_t i)
{
    return i < CONFIG_NROWS ? config_table[i].env : NULL;
}

/* Write the usage text (every row of the table) into buf.  Returns 0. */
int
config_usage(char *buf, size_t buflen)
{
    char item[512];
    size_t i, o = 0;

    if (buflen == 0) {
        return 0;
    }
    buf[0] = '\0';
    config_append(buf, buflen, &o,
        "usage: collector [options] [TYPE=]GLOB...\n"
        "  inputs also from COLLECTOR_INPUTS (white-space separated)\n"
        "  boolean options: --name, --no-name or --name=0|1\n\n");
    for (i = 0; i < CONFIG_NROWS; i++) {
        const struct config_row *row = &config_table[i];

        snprintf(item, sizeof(item), "  --%-16s %-26s default \"%s\"\n"
            "      %s\n", row->name, row->env, row->def, row->help);
        config_append(buf, buflen, &o, item);
    }
    return 0;
}
