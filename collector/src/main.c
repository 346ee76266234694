/* main.c -- collector entry point: configuration, signals, exit code
 *
 * Reads the configuration (config.c), logs it once, blocks SIGTERM and
 * SIGINT except while the loop waits in ppoll(2) so a stop request is
 * never lost between a check and a wait, ignores SIGPIPE (a closed stdout
 * is an error return, not a silent death), raises the soft descriptor
 * limit to the hard one, and runs the loop.  Exit codes: 0 clean stop, 1
 * runtime failure, 2 bad configuration.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "collector.h"
#include "config.h"
#include "log.h"
#include "wsrlimit.h"
#include "wssig.h"

static volatile sig_atomic_t main_stop;

/* SIGTERM/SIGINT: only set the flag the loop checks. */
static void
main_on_signal(int sig)
{
    (void) sig;
    main_stop = 1;
}

/* Returns 0 on a clean stop, 1 on a runtime failure, 2 on bad config. */
int
main(int argc, char **argv)
{
    static char usage[16384], desc[8192];
    struct config cfg;
    struct collector *c = NULL;
    static const int stop_sigs[] = { SIGTERM, SIGINT };
    sigset_t waitmask;
    char err[1024], host[256];
    int rc = 2, level;

    if (config_load(&cfg, argc, argv, NULL, err, sizeof(err)) != 0) {
        log_write(LOG_LEVEL_ERROR, "configuration: %s", err);
        goto done;
    }
    if (cfg.help) {
        config_usage(usage, sizeof(usage));
        fputs(usage, stdout);
        rc = 0;
        goto done;
    }
    if (log_level_parse(cfg.log_level, &level) != 0) {
        log_write(LOG_LEVEL_ERROR, "configuration: log-level: \"%s\" is not "
            "one of error, warn, info, debug", cfg.log_level);
        goto done;
    }
    log_level_current = level;
    if (cfg.host[0] == '\0') {
        if (gethostname(host, sizeof(host)) != 0) {
            snprintf(host, sizeof(host), "localhost");
        }
        host[sizeof(host) - 1] = '\0';
        cfg.host = host;
    }
    config_describe(&cfg, desc, sizeof(desc));
    log_at(LOG_LEVEL_INFO, "starting %s", desc);
    /* Tailing thousands of files takes thousands of descriptors until
     * idle ones are closed (idle-close-s), and the soft limit is often
     * 1024. */
    log_at(LOG_LEVEL_INFO, "descriptor limit %llu", wsrlimit_raise_nofile());

    wssig_handle(SIGTERM, main_on_signal);
    wssig_handle(SIGINT, main_on_signal);
    wssig_handle(SIGPIPE, SIG_IGN);
    wssig_block(stop_sigs, sizeof(stop_sigs) / sizeof(stop_sigs[0]),
        &waitmask);

    rc = 1;
    c = collector_create(&cfg, err, sizeof(err));
    if (c == NULL) {
        log_write(LOG_LEVEL_ERROR, "%s", err);
        goto done;
    }
    rc = collector_run(c, &main_stop, &waitmask);

done:
    collector_destroy(c);
    config_free(&cfg);
    return rc;
}
