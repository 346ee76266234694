/* main.c -- fcgi-app: the C FastCGI worker pool behind nginx
 *
 * Owns: the command line (--version, --config-table), the start-up order
 * (config, log, metrics mapping, SIGPIPE ignored, listening socket) and
 * the exit codes: 0 after a clean stop, 1 on a runtime failure (e.g. the
 * socket cannot be bound), 2 on a bad setting (CONFIG_EXIT_BAD).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "jsonmem.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "wsrlimit.h"
#include "wssig.h"

#ifndef FCGI_APP_VERSION
#define FCGI_APP_VERSION "0.1.0"
#endif

static void
main_usage(FILE *f)
{
    fprintf(f, "usage: fcgi-app [--version | --config-table | --help]\n"
               "Settings come from the environment; see "
               "`fcgi-app --config-table`.\n");
}

/* The command line (--version, --config-table, --help): the exit code. */
static int
main_args(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("fcgi-app %s\n", FCGI_APP_VERSION);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--config-table") == 0) {
        return config_print_table(stdout) == 0 ? 0 : 1;
    }
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        main_usage(stdout);
        return 0;
    }
    main_usage(stderr);
    return CONFIG_EXIT_BAD;
}

int
main(int argc, char **argv)
{
    struct config  cfg;
    struct buf     desc;
    char           err[512];
    int            fd, rc, bad;

    if (argc > 1) {
        return main_args(argc, argv);
    }
    /* Before anything allocates through jansson (jsonmem.h). */
    jsonmem_install();
    if (config_load(&cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "fcgi-app: config: %s\n", err);
        return CONFIG_EXIT_BAD;
    }
    if (log_open(cfg.log_dir, cfg.app_hostname, cfg.log_level, err,
                 sizeof(err)) != 0)
    {
        fprintf(stderr, "fcgi-app: config: LOG_DIR=\"%s\": %s\n",
                cfg.log_dir, err);
        config_free(&cfg);
        return CONFIG_EXIT_BAD;
    }
    /* hiredis and libfcgi write to sockets the peer may have closed. */
    wssig_handle(SIGPIPE, SIG_IGN);
    /* Each worker may hold thousands of idle kept connections
     * (worker.c).  Best effort. */
    wsrlimit_raise_nofile();

    buf_init(&desc);
    config_describe(&cfg, &desc);
    LOG_INFO("fcgi-app %s starting: %s", FCGI_APP_VERSION,
             desc.data ? desc.data : "(out of memory)");
    buf_free(&desc);
    if (cfg.app_secret_generated) {
        LOG_WARN("APP_DEV=1 and no SESSION_SECRET: using a RANDOM "
                 "per-boot secret; sessions will not survive a restart "
                 "and will not be shared between hosts. NEVER do this in "
                 "production.");
    }
    if (metrics_create(err, sizeof(err)) != 0) {
        LOG_ERROR("metrics: %s", err);
        config_free(&cfg);
        return 1;
    }
    fd = listen_open(cfg.app_listen, &bad, err, sizeof(err));
    if (fd < 0) {
        /* a malformed APP_LISTEN is a bad setting (exit 2, same message
         * shape as config_load's); a failed bind is a runtime error */
        rc = bad ? CONFIG_EXIT_BAD : 1;
        if (rc == CONFIG_EXIT_BAD) {
            fprintf(stderr, "fcgi-app: config: %s\n", err);
        } else if (cfg.log_dir != NULL && *cfg.log_dir != '\0') {
            fprintf(stderr, "fcgi-app: %s\n", err);
        }
        LOG_ERROR("%s", err);
        metrics_destroy();
        config_free(&cfg);
        return rc;
    }
    if (cfg.app_threads_set) {
        LOG_WARN("APP_THREADS is deprecated and ignored: each worker "
                 "process serves all its connections on one event loop; "
                 "scale with APP_WORKERS");
    }
    LOG_INFO("listening on %s with %lld workers (one event loop each)",
             cfg.app_listen, cfg.app_workers);
    rc = pool_run(&cfg, fd);          /* closes fd */
    if (strncmp(cfg.app_listen, "unix:", 5) == 0) {
        unlink(cfg.app_listen + 5);
    }
    metrics_destroy();
    log_close();
    config_free(&cfg);
    return rc;
}
