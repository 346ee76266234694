/* config.c -- the app's settings, read once from the environment
 *
 * Every setting is one row of config_table below: the struct field it
 * fills, its environment variable, its type, its default, its bounds and a
 * description.  config_load() walks the table, so adding a setting is one
 * row plus one struct field.  Secrets (type CT_SECRET) may instead come from
 * <VAR>_FILE, the Compose/Docker secrets convention.  Parsing is strict: an
 * integer with trailing junk, an overflow, a value out of bounds, a secret
 * shorter than its minimum or an unknown word is an error naming the
 * setting.  This module never logs; main.c prints the error and exits with
 * CONFIG_EXIT_BAD.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "sign.h"
#include "addr.h"
#include "store.h"
#include "wsnum.h"

#define CONFIG_FILE_MAX 4096   /* longest secret file we read */

/* Shortest session secret: 32 bytes, the output size of the HMAC-SHA256
 * that signs the cookies (RFC 2104 section 3: a key shorter than that
 * weakens the MAC).  Counted in bytes of the value as given. */
#define CONFIG_SECRET_MIN 32

enum config_type {
    CT_INT,      /* decimal integer within [min, max] */
    CT_STR,      /* printable text, no control bytes */
    CT_SECRET,   /* like CT_STR, never printed, may come from <VAR>_FILE;
                    when set, at least min bytes long */
    CT_BOOL,     /* 0 / 1 / true / false */
    CT_LEVEL     /* error / warn / info / debug */
};

struct config_row {
    const char       *env;
    enum config_type  type;
    size_t            offset;   /* of the field in struct config */
    const char       *def;      /* default as text; NULL means computed */
    const char       *shown;    /* default as documented */
    long long         min;      /* CT_INT: least value; CT_SECRET: length */
    long long         max;
    const char       *desc;
};

#define F(field) offsetof(struct config, field)

static const struct config_row config_table[] = {
    { "REDIS_HOST", CT_STR, F(redis_host), "127.0.0.1", "127.0.0.1", 0, 0,
      "Redis primary host name or address" },
    { "REDIS_PORT", CT_INT, F(redis_port), "6379", "6379", 1, 65535,
      "Redis primary TCP port" },
    { "REDIS_DB", CT_INT, F(redis_db), "0", "0", 0, 255,
      "Redis database number (SELECT)" },
    { "REDIS_USERNAME", CT_STR, F(redis_username), "", "(unset)", 0, 0,
      "Redis ACL user; when set, AUTH sends user and password" },
    { "REDIS_PASSWORD", CT_SECRET, F(redis_password), "", "(unset)", 0, 0,
      "Redis password (or REDIS_PASSWORD_FILE)" },
    { "REDIS_CONNECT_TIMEOUT_MS", CT_INT, F(redis_connect_timeout_ms),
      "250", "250", 1, 60000,
      "Timeout for connecting to Redis, in ms" },
    { "REDIS_TIMEOUT_MS", CT_INT, F(redis_timeout_ms), "250", "250",
      1, 60000,
      "Budget for all Redis work of one request, in ms; past it the "
      "request gets 503" },
    { "REDIS_SENTINELS", CT_STR, F(redis_sentinels), "", "(unset)", 0, 0,
      "Sentinels as `host:port host:port ...`; when set, the primary is "
      "asked of them (and confirmed with ROLE) on every connect, and "
      "REDIS_HOST/REDIS_PORT are not used" },
    { "REDIS_MASTER_NAME", CT_STR, F(redis_master_name), "sessions",
      "sessions", 0, 0,
      "Name the Sentinels know the primary by (redis/sentinel.conf)" },
    { "REDIS_SENTINEL_USERNAME", CT_STR, F(redis_sentinel_username), "",
      "(REDIS_USERNAME)", 0, 0,
      "ACL user for the Sentinels; unset: REDIS_USERNAME" },
    { "REDIS_SENTINEL_PASSWORD", CT_SECRET, F(redis_sentinel_password), "",
      "(REDIS_PASSWORD)", 0, 0,
      "Password for the Sentinels (or REDIS_SENTINEL_PASSWORD_FILE); "
      "unset: REDIS_PASSWORD" },
    { "REDIS_WAIT_REPLICAS", CT_INT, F(redis_wait_replicas), "0", "0", 0,
      16,
      "After each session write, WAIT for this many replicas (0: off); "
      "if fewer acknowledge in time the write stands and the request "
      "still succeeds" },
    { "REDIS_WAIT_TIMEOUT_MS", CT_INT, F(redis_wait_timeout_ms), "50", "50",
      1, 60000,
      "Longest WAIT, in ms; at most REDIS_TIMEOUT_MS - 120 (and cut to "
      "what is left of the budget)" },
    { "SESSION_SECRET", CT_SECRET, F(session_secret), "", "(required)",
      CONFIG_SECRET_MIN, 0,
      "HMAC secret signing session cookies (or SESSION_SECRET_FILE); "
      "required unless APP_DEV=1" },
    { "SESSION_SECRET_PREVIOUS", CT_SECRET, F(session_secret_previous), "",
      "(unset)", CONFIG_SECRET_MIN, 0,
      "Previous secret, accepted for verification only (rotation)" },
    { "SESSION_COOKIE_NAME", CT_STR, F(session_cookie_name), "connect.sid",
      "connect.sid", 0, 0, "Session cookie name" },
    { "SESSION_PREFIX", CT_STR, F(session_prefix), "sess:", "sess:", 0, 0,
      "Redis key prefix for sessions" },
    { "SESSION_MAX_AGE_S", CT_INT, F(session_max_age_s), "2592000",
      "2592000", 1, 315360000,
      "Session cookie lifetime in seconds (rolling)" },
    { "SESSION_FRESH_TTL_S", CT_INT, F(session_fresh_ttl_s), "600", "600",
      1, 315360000,
      "Redis TTL of a session until it is promoted (flood control); each "
      "visit before that stores it again with this TTL" },
    { "SESSION_PROMOTE_AFTER_S", CT_INT, F(session_promote_after_s), "60",
      "60", 0, 315360000,
      "A session earns its long TTL (until cookie.expires) only at a "
      "visit at least this long after it was created; 0: at its second "
      "visit" },
    { "SESSION_COOKIE_SECURE", CT_BOOL, F(session_cookie_secure), "0", "0",
      0, 1, "Add the Secure attribute to the session cookie" },
    { "APP_DEV", CT_BOOL, F(app_dev), "0", "0", 0, 1,
      "Development mode: a missing secret becomes a random per-boot one" },
    { "APP_LISTEN", CT_STR, F(app_listen), "127.0.0.1:9000",
      "127.0.0.1:9000", 0, 0,
      "FastCGI socket: host:port, [v6]:port or unix:/path (mode 0660); "
      "a host name binds the first of its addresses this host has" },
    { "APP_WORKERS", CT_INT, F(app_workers), NULL, "(CPUs)", 1, 256,
      "Worker processes" },
    { "APP_THREADS", CT_INT, F(app_threads), "1", "1", 1, 256,
      "Deprecated and ignored: each worker process serves all its "
      "connections on one event loop (scale with APP_WORKERS); setting it "
      "logs a warning at startup" },
    { "APP_MAX_REQUESTS", CT_INT, F(app_max_requests), "0", "0", 0,
      1000000000,
      "Recycle a worker after this many requests (0: never)" },
    { "APP_DRAIN_TIMEOUT_MS", CT_INT, F(app_drain_timeout_ms), "5000",
      "5000", 0, 9000,
      "On stop, time given to in-flight requests before exit, in ms" },
    { "APP_BODY_LIMIT", CT_INT, F(app_body_limit), "1048576", "1048576",
      0, 1073741824,
      "Largest request body (CONTENT_LENGTH) accepted; larger gets 413" },
    { "APP_HOSTNAME", CT_STR, F(app_hostname), NULL, "(gethostname)", 0, 0,
      "Host name used in /session, the log file name and readyz key" },
    { "LOG_DIR", CT_STR, F(log_dir), "", "(stderr)", 0, 0,
      "Directory for the log file LOG_DIR/APP_HOSTNAME.log; unset logs "
      "to stderr" },
    { "LOG_LEVEL", CT_LEVEL, F(log_level), "info", "info", 0, 0,
      "error, warn, info or debug" },
};

#define CONFIG_NROWS (sizeof(config_table) / sizeof(config_table[0]))

static const char *config_levels[] = { "error", "warn", "info", "debug" };

static void
config_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fill err with a printf-style message.  Can't fail. */
static void
config_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* 1 if s has no control bytes (printable text), else 0. */
static int
config_printable(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char) *s < 0x20 || *s == 0x7f) {
            return 0;
        }
    }
    return 1;
}

/* Read a secret file into a new string, trailing newlines stripped.
 * Returns 0, or -1 with err filled. */
static int
config_read_file(const char *env, const char *path, char **out, char *err,
                 size_t errlen)
{
    char     buf[CONFIG_FILE_MAX + 1];
    size_t   len = 0;
    ssize_t  n;
    int      fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        config_err(err, errlen, "%s_FILE=\"%s\": open() failed: %s", env,
                   path, strerror(errno));
        return -1;
    }
    for (;;) {
        n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        len += (size_t) n;
        if (len == sizeof(buf) - 1) {
            break;
        }
    }
    close(fd);
    if (n == -1) {
        config_err(err, errlen, "%s_FILE=\"%s\": read() failed", env, path);
        return -1;
    }
    if (len == sizeof(buf) - 1) {
        config_err(err, errlen, "%s_FILE=\"%s\": longer than %d bytes", env,
                   path, CONFIG_FILE_MAX);
        return -1;
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) {
        len--;
    }
    buf[len] = '\0';
    if (memchr(buf, '\0', len) != NULL || !config_printable(buf)) {
        config_err(err, errlen, "%s_FILE=\"%s\": contains control bytes",
                   env, path);
        return -1;
    }
    *out = strdup(buf);
    if (*out == NULL) {
        config_err(err, errlen, "%s: out of memory", env);
        return -1;
    }
    return 0;
}

/* The default for rows whose default is computed at run time.  Returns a
 * new string or NULL on OOM. */
static char *
config_computed_default(const struct config_row *row)
{
    char  host[256];
    long  n;

    if (strcmp(row->env, "APP_WORKERS") == 0) {
        n = sysconf(_SC_NPROCESSORS_ONLN);
        if (n < 1) {
            n = 1;
        }
        if (n > 256) {
            n = 256;
        }
        snprintf(host, sizeof(host), "%ld", n);
        return strdup(host);
    }
    /* APP_HOSTNAME */
    if (gethostname(host, sizeof(host)) != 0) {
        return strdup("localhost");
    }
    host[sizeof(host) - 1] = '\0';
    return strdup(host);
}

/* Parse text for row into cfg.  Returns 0 or -1 with err naming env. */
static int
config_set(struct config *cfg, const struct config_row *row,
           const char *text, char *err, size_t errlen)
{
    char       *base = (char *) cfg;
    long long   v;
    size_t      i;
    char      **sp;

    switch (row->type) {
    case CT_INT:
        /* Any whole integer first, so the two errors stay apart. */
        if (wsnum_parse_ll(text, LLONG_MIN, LLONG_MAX, &v) != 0) {
            config_err(err, errlen, "%s=\"%s\": not an integer (%lld..%lld)",
                       row->env, text, row->min, row->max);
            return -1;
        }
        if (v < row->min || v > row->max) {
            config_err(err, errlen, "%s=\"%s\": out of range (%lld..%lld)",
                       row->env, text, row->min, row->max);
            return -1;
        }
        *(long long *) (base + row->offset) = v;
        return 0;
    case CT_BOOL:
        if (strcmp(text, "1") == 0 || strcmp(text, "true") == 0) {
            *(int *) (base + row->offset) = 1;
        } else if (strcmp(text, "0") == 0 || strcmp(text, "false") == 0) {
            *(int *) (base + row->offset) = 0;
        } else {
            config_err(err, errlen, "%s=\"%s\": not a boolean (0, 1, true, "
                       "false)", row->env, text);
            return -1;
        }
        return 0;
    case CT_LEVEL:
        for (i = 0; i < sizeof(config_levels) / sizeof(config_levels[0]);
             i++) {
            if (strcmp(text, config_levels[i]) == 0) {
                *(int *) (base + row->offset) = (int) i;
                return 0;
            }
        }
        config_err(err, errlen, "%s=\"%s\": not one of error, warn, info, "
                   "debug", row->env, text);
        return -1;
    case CT_STR:
    case CT_SECRET:
        /* "" is unset; config_check decides whether that is allowed.  The
         * value itself is never put in the message. */
        if (row->type == CT_SECRET && *text != '\0'
            && strlen(text) < (size_t) row->min)
        {
            config_err(err, errlen, "%s: too short (%zu bytes, at least "
                       "%lld required; e.g. openssl rand -base64 48)",
                       row->env, strlen(text), row->min);
            return -1;
        }
        if (!config_printable(text)) {
            config_err(err, errlen, "%s: contains control bytes", row->env);
            return -1;
        }
        sp = (char **) (base + row->offset);
        free(*sp);
        *sp = strdup(text);
        if (*sp == NULL) {
            config_err(err, errlen, "%s: out of memory", row->env);
            return -1;
        }
        return 0;
    }
    return -1;
}

/* Load one row from the environment (or its _FILE, or its default). */
static int
config_load_row(struct config *cfg, const struct config_row *row, char *err,
                size_t errlen)
{
    char        fenv[64];
    const char *val, *fval;
    char       *computed = NULL, *filed = NULL;
    int         rc;

    val = getenv(row->env);
    if (row->type == CT_SECRET) {
        snprintf(fenv, sizeof(fenv), "%s_FILE", row->env);
        fval = getenv(fenv);
        if (fval != NULL && *fval != '\0') {
            if (val != NULL && *val != '\0') {
                config_err(err, errlen, "%s and %s are both set; use one",
                           row->env, fenv);
                return -1;
            }
            if (config_read_file(row->env, fval, &filed, err, errlen) != 0) {
                return -1;
            }
            val = filed;
        }
    }
    if (val == NULL || *val == '\0') {   /* empty means unset */
        if (row->def == NULL) {
            computed = config_computed_default(row);
            if (computed == NULL) {
                config_err(err, errlen, "%s: out of memory", row->env);
                rc = -1;
                goto done;
            }
            val = computed;
        } else {
            val = row->def;
        }
    }
    rc = config_set(cfg, row, val, err, errlen);

done:
    free(computed);
    if (filed != NULL) {
        explicit_bzero(filed, strlen(filed));
        free(filed);
    }
    return rc;
}

/* Checks of the Sentinel and WAIT settings.  Returns 0 or -1 with err
 * filled. */
static int
config_check_redis(const struct config *cfg, char *err, size_t errlen)
{
    struct addr_hp  addrs[ADDR_LIST_MAX];
    char               why[160];

    if (*cfg->redis_sentinels != '\0') {
        if (addr_parse_list(cfg->redis_sentinels, addrs,
                              ADDR_LIST_MAX, why, sizeof(why)) < 0)
        {
            config_err(err, errlen, "REDIS_SENTINELS=\"%s\": %s",
                       cfg->redis_sentinels, why);
            return -1;
        }
        if (*cfg->redis_master_name == '\0'
            || strchr(cfg->redis_master_name, ' ') != NULL)
        {
            config_err(err, errlen, "REDIS_MASTER_NAME=\"%s\": empty or "
                       "contains a space", cfg->redis_master_name);
            return -1;
        }
    }
    if (cfg->redis_wait_replicas > 0
        && cfg->redis_wait_timeout_ms + STORE_WAIT_SLACK_MS
           > cfg->redis_timeout_ms)
    {
        config_err(err, errlen, "REDIS_WAIT_TIMEOUT_MS=%lld: must be at "
                   "most REDIS_TIMEOUT_MS=%lld - %d when REDIS_WAIT_REPLICAS "
                   "is set (room for Redis to answer a timed-out WAIT)",
                   cfg->redis_wait_timeout_ms, cfg->redis_timeout_ms,
                   STORE_WAIT_SLACK_MS);
        return -1;
    }
    return 0;
}

/* Checks that span settings.  Returns 0 or -1 with err filled. */
static int
config_check(struct config *cfg, char *err, size_t errlen)
{
    const char *p;
    char        id[2 * SIGN_ID_LEN + 1];

    for (p = cfg->session_cookie_name; *p; p++) {
        if (strchr(" \t\"(),/:;<=>?@[\\]{}", *p) != NULL) {
            break;
        }
    }
    if (*cfg->session_cookie_name == '\0' || *p != '\0'
        || strlen(cfg->session_cookie_name) > 200)
    {
        config_err(err, errlen, "SESSION_COOKIE_NAME=\"%s\": not a cookie "
                   "name token", cfg->session_cookie_name);
        return -1;
    }
    if (strlen(cfg->session_prefix) > 200) {
        config_err(err, errlen, "SESSION_PREFIX: longer than 200 bytes");
        return -1;
    }
    if (*cfg->app_hostname == '\0' || strlen(cfg->app_hostname) > 200
        || strchr(cfg->app_hostname, '/') != NULL
        || cfg->app_hostname[0] == '.')
    {
        config_err(err, errlen, "APP_HOSTNAME=\"%s\": not a usable host name",
                   cfg->app_hostname);
        return -1;
    }
    if (*cfg->redis_host == '\0') {
        config_err(err, errlen, "REDIS_HOST: empty");
        return -1;
    }
    if (config_check_redis(cfg, err, errlen) != 0) {
        return -1;
    }
    if (*cfg->app_listen == '\0') {
        config_err(err, errlen, "APP_LISTEN: empty");
        return -1;
    }
    if (*cfg->session_secret == '\0') {
        if (!cfg->app_dev) {
            config_err(err, errlen, "SESSION_SECRET: not set (set it or "
                       "SESSION_SECRET_FILE; APP_DEV=1 allows a random "
                       "per-boot secret)");
            return -1;
        }
        /* Two random ids back to back: sign_random_id gives 24 bytes of
         * getrandom(2) as 32 base64url chars, so 48 random bytes (384
         * bits) in 64 chars, twice CONFIG_SECRET_MIN. */
        if (sign_random_id(id, SIGN_ID_LEN + 1) != 0
            || sign_random_id(id + SIGN_ID_LEN, SIGN_ID_LEN + 1) != 0)
        {
            explicit_bzero(id, sizeof(id));
            config_err(err, errlen, "SESSION_SECRET: no randomness");
            return -1;
        }
        free(cfg->session_secret);
        cfg->session_secret = strdup(id);
        explicit_bzero(id, sizeof(id));
        if (cfg->session_secret == NULL) {
            config_err(err, errlen, "SESSION_SECRET: out of memory");
            return -1;
        }
        cfg->app_secret_generated = 1;
    }
    return 0;
}

int
config_load(struct config *cfg, char *err, size_t errlen)
{
    size_t i;

    memset(cfg, 0, sizeof(*cfg));
    for (i = 0; i < CONFIG_NROWS; i++) {
        if (config_load_row(cfg, &config_table[i], err, errlen) != 0) {
            goto error;
        }
    }
    if (config_check(cfg, err, errlen) != 0) {
        goto error;
    }
    cfg->app_threads_set = getenv("APP_THREADS") != NULL;
    return 0;

error:
    config_free(cfg);
    return -1;
}

void
config_free(struct config *cfg)
{
    size_t   i;
    char   **sp;

    if (cfg == NULL) {
        return;
    }
    for (i = 0; i < CONFIG_NROWS; i++) {
        if (config_table[i].type != CT_STR
            && config_table[i].type != CT_SECRET)
        {
            continue;
        }
        sp = (char **) ((char *) cfg + config_table[i].offset);
        if (*sp != NULL) {
            if (config_table[i].type == CT_SECRET) {
                explicit_bzero(*sp, strlen(*sp));
            }
            free(*sp);
            *sp = NULL;
        }
    }
}

int
config_describe(const struct config *cfg, struct buf *out)
{
    const char *base = (const char *) cfg;
    const char *s;
    size_t      i;

    for (i = 0; i < CONFIG_NROWS; i++) {
        const struct config_row *row = &config_table[i];

        buf_printf(out, "%s%s=", i ? " " : "", row->env);
        switch (row->type) {
        case CT_INT:
            buf_printf(out, "%lld", *(const long long *) (base + row->offset));
            break;
        case CT_BOOL:
            buf_printf(out, "%d", *(const int *) (base + row->offset));
            break;
        case CT_LEVEL:
            buf_appends(out,
                        config_levels[*(const int *) (base + row->offset)]);
            break;
        case CT_STR:
            s = *(char *const *) (base + row->offset);
            buf_printf(out, "\"%s\"", s ? s : "");
            break;
        case CT_SECRET:
            s = *(char *const *) (base + row->offset);
            if (strcmp(row->env, "SESSION_SECRET") == 0
                && cfg->app_secret_generated)
            {
                buf_appends(out, "(random per boot)");
            } else {
                buf_appends(out, s && *s ? "(set)" : "(unset)");
            }
            break;
        }
    }
    return out->oom ? -1 : 0;
}

int
config_print_table(FILE *f)
{
    static const char *types[] = { "integer", "string", "secret", "boolean",
                                   "level" };
    size_t i;

    fprintf(f, "| Variable | Type | Default | Range | Description |\n");
    fprintf(f, "|---|---|---|---|---|\n");
    for (i = 0; i < CONFIG_NROWS; i++) {
        const struct config_row *row = &config_table[i];
        char range[64] = "";

        if (row->type == CT_INT) {
            snprintf(range, sizeof(range), "%lld..%lld", row->min, row->max);
        } else if (row->type == CT_SECRET && row->min > 0) {
            snprintf(range, sizeof(range), ">= %lld bytes", row->min);
        }
        fprintf(f, "| `%s`%s | %s | %s | %s | %s |\n", row->env,
                row->type == CT_SECRET ? " (or `_FILE`)" : "",
                types[row->type], row->shown, range, row->desc);
    }
    return ferror(f) ? -1 : 0;
}
