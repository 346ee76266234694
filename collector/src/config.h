/* config.h -- every setting of the collector, from environment and argv
 *
 * Owns the settings table (name, env var, type, default, bounds, help),
 * strict parsing, and the input list "[TYPE=]GLOB".  Precedence: built-in
 * default, then COLLECTOR_* environment, then command line.  It does not
 * log; the caller prints errors and the effective configuration.
 */
#ifndef COLLECTOR_CONFIG_H
#define COLLECTOR_CONFIG_H

#include <stddef.h>

struct config_input {
    char *type;                 /* the event "type" */
    char *dir;                  /* directory part, literal */
    char *pattern;              /* file name part, fnmatch(3) pattern */
    char *spec;                 /* as given, for logs */
};

struct config {
    const char *state;          /* state file path, "" = no state */
    long long   from_beginning;
    long long   line_max;
    long long   read_buffer;
    long long   out_buffer;
    long long   checkpoint_ms;
    long long   reconcile_ms;
    long long   poll_ms;
    long long   close_quiet_ms;
    long long   idle_close_s;
    long long   partial_budget;
    long long   drain_ms;
    long long   parse;
    const char *host;
    const char *tcp;            /* "host:port" or "" */
    long long   tcp_buffer;
    const char *log_level;
    const char *health_file;    /* touched every reconcile, "" = none */
    int         help;
    struct config_input *inputs;
    size_t      ninputs;
};

int config_load(struct config *cfg, int argc, char **argv,
    char **envp_unused, char *err, size_t errlen);
void config_free(struct config *cfg);
int config_describe(const struct config *cfg, char *buf, size_t buflen);
int config_usage(char *buf, size_t buflen);
int config_parse_input(const char *spec, struct config_input *in,
    char *err, size_t errlen);
const char *config_setting_env(size_t i);
int config_parse_number(const char *s, long long min, long long max,
    long long *out);

#endif
