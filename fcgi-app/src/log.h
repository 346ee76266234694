/* log.h -- the app's log: access lines and level-checked messages
 *
 * Owns: the log file descriptor (<LOG_DIR>/<hostname>.log, O_APPEND, or
 * stderr when LOG_DIR is unset), the line formats, and reopening after a
 * rotation (SIGUSR1).  Every line goes out in one write(2) so processes
 * never interleave inside a line.  Does not own signals: the loops
 * that see the SIGUSR1 flag call log_reopen().
 */
#ifndef APP_LOG_H
#define APP_LOG_H

#include <stddef.h>

enum log_level {
    LOG_LEVEL_ERROR,
    LOG_LEVEL_WARN,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG
};

/* The current threshold; read by LOG() before formatting anything. */
extern int log_threshold;

#define LOG(level, ...) do {                                               \
    if ((level) <= log_threshold) {                                        \
        log_message((level), __VA_ARGS__);                                 \
    }                                                                      \
} while (0)

#define LOG_ERROR(...) LOG(LOG_LEVEL_ERROR, __VA_ARGS__)
#define LOG_WARN(...)  LOG(LOG_LEVEL_WARN, __VA_ARGS__)
#define LOG_INFO(...)  LOG(LOG_LEVEL_INFO, __VA_ARGS__)
#define LOG_DEBUG(...) LOG(LOG_LEVEL_DEBUG, __VA_ARGS__)

/* Open <dir>/<host>.log for appending (dir NULL or "" means stderr) and set
 * the threshold.  Returns 0, or -1 with err filled ("open() \"path\"
 * failed: ..."). */
int log_open(const char *dir, const char *host, int level, char *err,
             size_t errlen);

/* Reopen the same path (after a rename by logrotate or a test) without a
 * window where lines are lost: the new descriptor replaces the old one with
 * dup2().  Returns 0, or -1 with err filled (the old file stays in use). */
int log_reopen(char *err, size_t errlen);

/* Batch lines (on = 1) until log_flush(), which writes them with one
 * write(2); off flushes first.  A worker batches a loop turn's lines: a
 * crash loses at most that turn's, a clean stop none.  Lines of level
 * error are flushed at once.  Can't fail. */
void log_batch(int on);
void log_flush(void);

/* Close the log; later lines go to stderr.  Can't fail. */
void log_close(void);

/* Write "<ISO time> <LEVEL> [pid] message" as one line.  Control bytes in
 * the message are escaped as \xNN so outside input cannot forge lines. */
void log_message(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One Apache combined-format access line.  Any argument may be NULL (shown
 * as "-"); '"', '\\' and control bytes in fields are escaped.  An
 * over-long field is cut short, so the line always has every field. */
void log_access(const char *remote, const char *method, const char *uri,
                const char *proto, int status, size_t bytes,
                const char *referer, const char *agent);

#endif
