/* log.h -- the collector's own diagnostics, on stderr
 *
 * Owns the log level and the line format "collector: TIME LEVEL msg"
 * (TIME in UTC with milliseconds, LEVEL in lower case, log.c).  Only the
 * program's loop logs (main.c, and collector.c with the files that share
 * its context, collector_int.h, plus health.c); modules fill error
 * buffers.
 */
#ifndef COLLECTOR_LOG_H
#define COLLECTOR_LOG_H

/* The same names and values as the app's levels (fcgi-app/src/log.h); in
 * both programs LOG_ERROR and friends are never enum constants. */
enum log_level {
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARN,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG
};

extern int log_level_current;

#define log_at(level, ...) do {                                          \
    if ((level) <= log_level_current) {                                  \
        log_write((level), __VA_ARGS__);                                 \
    }                                                                    \
} while (0)

void log_write(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int log_level_parse(const char *s, int *level);

#endif
