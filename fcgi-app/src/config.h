/* config.h -- the app's settings, read once from the environment
 *
 * Owns: the one table of settings (name, env var, type, default, bounds,
 * description), strict parsing of every value, *_FILE variants for
 * secrets, the redacted "effective configuration" line and the Markdown
 * table printed by `fcgi-app --config-table`.  Does not own what the
 * settings mean: each module reads the fields it needs.
 */
#ifndef APP_CONFIG_H
#define APP_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "buf.h"

#define CONFIG_EXIT_BAD 2   /* exit code for a bad setting */

struct config {
    char      *redis_host;
    long long  redis_port;
    long long  redis_db;
    char      *redis_username;
    char      *redis_password;
    long long  redis_connect_timeout_ms;
    long long  redis_timeout_ms;
    char      *redis_sentinels;        /* "" unless Sentinel is used */
    char      *redis_master_name;
    char      *redis_sentinel_username;
    char      *redis_sentinel_password;
    long long  redis_wait_replicas;
    long long  redis_wait_timeout_ms;

    char      *session_secret;
    char      *session_secret_previous;
    char      *session_cookie_name;
    char      *session_prefix;
    long long  session_max_age_s;
    long long  session_fresh_ttl_s;
    long long  session_promote_after_s;
    int        session_cookie_secure;

    int        app_dev;
    int        app_secret_generated;   /* 1 if APP_DEV made up a secret */
    char      *app_listen;
    long long  app_workers;
    long long  app_threads;            /* deprecated, ignored */
    int        app_threads_set;        /* APP_THREADS was in the env */
    long long  app_max_requests;
    long long  app_drain_timeout_ms;
    long long  app_body_limit;
    char      *app_hostname;

    char      *log_dir;
    int        log_level;              /* LOG_LEVEL_ERROR..DEBUG (log.h) */
};

/* Fill cfg from the environment (getenv), applying defaults.  Returns 0,
 * or -1 with err naming the setting and the value, e.g.
 * `APP_WORKERS="abc": not an integer (1..256)`.  On -1 cfg is freed. */
int config_load(struct config *cfg, char *err, size_t errlen);

/* Free what config_load allocated.  Accepts a zeroed or half-built cfg. */
void config_free(struct config *cfg);

/* Append "NAME=value NAME=value ..." for every setting, with secrets shown
 * only as "(set)" or "(unset)".  Returns 0 / -1 (OOM). */
int config_describe(const struct config *cfg, struct buf *out);

/* Print the settings table as Markdown to f.  Returns 0 / -1. */
int config_print_table(FILE *f);

#endif
