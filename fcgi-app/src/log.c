/* log.c -- the app's log: access lines and level-checked messages
 *
 * One global descriptor per process, log_fd (each worker process is one
 * thread, worker.c).  A line is built in a stack buffer and written whole
 * with a single write(2) (a worker batches a loop turn's lines into one
 * write, log_batch()) on an O_APPEND descriptor, which the kernel appends
 * atomically for regular files, so the master and the worker processes
 * sharing the file never interleave inside a line.  Reopening opens the
 * path again and dup3()s the new descriptor over log_fd (O_CLOEXEC): the
 * descriptor number stays the same and is never closed, so a write sees
 * either the old or the new file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX 8192

/* Most bytes (after escaping, which can quadruple a byte) each client
 * field may take in an access line.  Their sum plus the fixed parts stays
 * below LOG_LINE_MAX, so an over-long field is cut short and the status,
 * byte count and closing quote always make it into the line (nginx lets a
 * URI or header line reach 8k: large_client_header_buffers). */
#define LOG_REMOTE_MAX   64
#define LOG_METHOD_MAX   32
#define LOG_URI_MAX      4096
#define LOG_PROTO_MAX    32
#define LOG_HEADER_MAX   1536    /* referer, user agent */

int log_threshold = LOG_LEVEL_INFO;

static int  log_fd = STDERR_FILENO;
static char log_path[4096];

/* Lines batched until log_flush() (worker processes, once per loop turn).
 * Every line is shorter than LOG_LINE_MAX, so a line always fits. */
static char   log_batch_buf[8 * LOG_LINE_MAX];
static size_t log_batch_len;
static int    log_batching;

static const char *log_names[] = { "error", "warn", "info", "debug" };

/* Open log_path.  Returns the descriptor or -1 with err filled. */
static int
log_open_path(char *err, size_t errlen)
{
    int fd;

    fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd == -1) {
        snprintf(err, errlen, "open() \"%s\" failed: %s", log_path,
                 strerror(errno));
    }
    return fd;
}

int
log_open(const char *dir, const char *host, int level, char *err,
         size_t errlen)
{
    int fd;

    log_threshold = level;
    if (dir == NULL || *dir == '\0') {
        log_path[0] = '\0';
        return 0;
    }
    if ((size_t) snprintf(log_path, sizeof(log_path), "%s/%s.log", dir, host)
        >= sizeof(log_path))
    {
        snprintf(err, errlen, "LOG_DIR: path too long");
        log_path[0] = '\0';
        return -1;
    }
    fd = log_open_path(err, errlen);
    if (fd == -1) {
        log_path[0] = '\0';
        return -1;
    }
    if (log_fd != STDERR_FILENO) {
        close(log_fd);
    }
    log_fd = fd;
    return 0;
}

int
log_reopen(char *err, size_t errlen)
{
    int fd;

    if (log_path[0] == '\0') {
        return 0;
    }
    fd = log_open_path(err, errlen);
    if (fd == -1) {
        return -1;
    }
    if (log_fd == STDERR_FILENO) {
        log_fd = fd;
        return 0;
    }
    if (dup3(fd, log_fd, O_CLOEXEC) == -1) {
        snprintf(err, errlen, "dup3() failed: %s", strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

void
log_close(void)
{
    if (log_fd != STDERR_FILENO) {
        close(log_fd);
    }
    log_fd = STDERR_FILENO;
    log_path[0] = '\0';
}

/* Append s[0..len) to line[*pos..cap) escaping '"', '\\' (when quoted) and
 * control bytes; stops quietly when full.  Can't fail. */
static void
log_escape(char *line, size_t *pos, size_t cap, const char *s, size_t len,
           int quoted)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];

        if (c < 0x20 || c == 0x7f || (quoted && (c == '"' || c == '\\'))) {
            if (*pos + 4 >= cap) {
                return;
            }
            line[(*pos)++] = '\\';
            line[(*pos)++] = 'x';
            line[(*pos)++] = hex[c >> 4];
            line[(*pos)++] = hex[c & 0xf];
        } else {
            if (*pos + 1 >= cap) {
                return;
            }
            line[(*pos)++] = (char) c;
        }
    }
}

/* Write p[0..len) in one write(2).  Can't fail (a failed log write has
 * nowhere to be reported). */
static void
log_write(const char *p, size_t len)
{
    ssize_t n;

    do {
        n = write(log_fd, p, len);
    } while (n == -1 && errno == EINTR);
}

void
log_flush(void)
{
    if (log_batch_len > 0) {
        log_write(log_batch_buf, log_batch_len);
        log_batch_len = 0;
    }
}

void
log_batch(int on)
{
    if (!on) {
        log_flush();
    }
    log_batching = on;
}

/* Emit line[0..len) plus '\n': batched (written by log_flush(), all the
 * turn's lines in one write(2)) or at once.  Can't fail. */
static void
log_emit(char *line, size_t len)
{
    line[len++] = '\n';
    if (!log_batching) {
        log_write(line, len);
        return;
    }
    if (log_batch_len + len > sizeof(log_batch_buf)) {
        log_flush();
    }
    memcpy(log_batch_buf + log_batch_len, line, len);
    log_batch_len += len;
}

void
log_message(int level, const char *fmt, ...)
{
    char             msg[LOG_LINE_MAX - 128];
    char             line[LOG_LINE_MAX];
    struct timespec  ts;
    struct tm        tm;
    size_t           pos;
    int              n;
    va_list          ap;

    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    pos = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    pos += (size_t) snprintf(line + pos, sizeof(line) - pos,
                             ".%03ldZ %s [%ld] ", ts.tv_nsec / 1000000,
                             log_names[level & 3], (long) getpid());
    log_escape(line, &pos, sizeof(line) - 1, msg, strlen(msg), 0);
    log_emit(line, pos);
    if (level == LOG_LEVEL_ERROR) {
        log_flush();            /* what precedes a crash gets out */
    }
}

/* Append s (NULL: "-"), escaped as in a quoted field, taking at most
 * max bytes of line: the rest of s is dropped.  Can't fail. */
static void
log_part(char *line, size_t *pos, size_t cap, const char *s, size_t max)
{
    size_t limit = *pos + max < cap ? *pos + max : cap;

    if (s == NULL) {
        s = "-";
    }
    log_escape(line, pos, limit, s, strlen(s), 1);
}

/* Append a quoted field or "-" (for NULL), the value cut at max bytes. */
static void
log_field(char *line, size_t *pos, size_t cap, const char *s, size_t max)
{
    if (s == NULL || *s == '\0') {
        log_escape(line, pos, cap, "\"-\"", 3, 0);
        return;
    }
    log_escape(line, pos, cap, "\"", 1, 0);
    log_part(line, pos, cap, s, max);
    log_escape(line, pos, cap, "\"", 1, 0);
}

void
log_access(const char *remote, const char *method, const char *uri,
           const char *proto, int status, size_t bytes, const char *referer,
           const char *agent)
{
    static time_t    stamp_sec = -1;       /* the stamp's second */
    static char      stamp[48];
    static size_t    stamp_len;
    char             line[LOG_LINE_MAX];
    char             tail[64];
    struct timespec  ts;
    struct tm        tm;
    size_t           pos = 0, cap = sizeof(line) - 1;

    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != stamp_sec) {
        gmtime_r(&ts.tv_sec, &tm);
        stamp_len = strftime(stamp, sizeof(stamp),
                             " - - [%d/%b/%Y:%H:%M:%S +0000] \"", &tm);
        stamp_sec = ts.tv_sec;
    }
    log_part(line, &pos, cap, remote, LOG_REMOTE_MAX);
    memcpy(line + pos, stamp, stamp_len);
    pos += stamp_len;
    log_part(line, &pos, cap, method, LOG_METHOD_MAX);
    log_escape(line, &pos, cap, " ", 1, 0);
    log_part(line, &pos, cap, uri, LOG_URI_MAX);
    log_escape(line, &pos, cap, " ", 1, 0);
    log_part(line, &pos, cap, proto, LOG_PROTO_MAX);
    snprintf(tail, sizeof(tail), "\" %d %zu ", status, bytes);
    log_escape(line, &pos, cap, tail, strlen(tail), 0);
    log_field(line, &pos, cap, referer, LOG_HEADER_MAX);
    log_escape(line, &pos, cap, " ", 1, 0);
    log_field(line, &pos, cap, agent, LOG_HEADER_MAX);
    log_emit(line, pos);
}
