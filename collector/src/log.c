/* log.c -- level-checked diagnostics on stderr
 *
 * One line per message: "collector: 2026-11-26T03:01:02.345Z info msg".
 * stderr is unbuffered, and each line goes out in one write so lines from
 * one process do not interleave.  Nothing else here.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "event.h"
#include "log.h"
#include "wsclock.h"

int log_level_current = LOG_LEVEL_INFO;

static const char *const log_names[] = { "error", "warn", "info", "debug" };

/* Write one formatted line to stderr.  This function can't fail. */
void
log_write(int level, const char *fmt, ...)
{
    char buf[2048], ts[40];
    va_list ap;
    int n, m;

    va_start(ap, fmt);
    if (event_format_time((long long) wsclock_wall_ms(), ts, sizeof(ts))
        != 0)
    {
        ts[0] = '\0';
    }
    n = snprintf(buf, sizeof(buf), "collector: %s %s ", ts,
        log_names[level < 0 || level > LOG_LEVEL_DEBUG ? LOG_LEVEL_ERROR
            : level]);
    if (n < 0) {
        va_end(ap);
        return;
    }
    /* ap is started above; clang-tidy 14 reports it uninitialised */
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized) */
    m = vsnprintf(buf + n, sizeof(buf) - (size_t) n - 1, fmt, ap);
    va_end(ap);
    if (m < 0) {
        return;
    }
    n += m;
    if ((size_t) n > sizeof(buf) - 2) {
        n = (int) sizeof(buf) - 2;
    }
    buf[n++] = '\n';
    if (write(STDERR_FILENO, buf, (size_t) n) < 0) {
        return;                         /* nowhere left to report it */
    }
}

/* Parse "error|warn|info|debug" into *level.  Returns 0 or -1. */
int
log_level_parse(const char *s, int *level)
{
    int i;

    for (i = 0; i <= LOG_LEVEL_DEBUG; i++) {
        if (strcmp(s, log_names[i]) == 0) {
            *level = i;
            return 0;
        }
    }
    return -1;
}
