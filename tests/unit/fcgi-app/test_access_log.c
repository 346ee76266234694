/* test_access_log.c -- unit tests for log.c: combined access format with
 * escaping, one line per call, and reopen after a rename.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "unit.h"

static char test_dir[] = "/tmp/test_access_log_XXXXXX";
static char test_path[256];

/* Read a whole small file into a static buffer ("" if missing). */
static const char *
slurp(const char *path)
{
    static char buf[8192];
    FILE       *f = fopen(path, "r");
    size_t      n = 0;

    buf[0] = '\0';
    if (f != NULL) {
        n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    return buf;
}

static void
test_access_line(void)
{
    const char *s, *want_tail;
    char        err[256];

    UNIT_CHECK(log_open(test_dir, "host1", LOG_LEVEL_INFO, err,
                        sizeof(err)) == 0);
    log_access("10.0.0.1", "GET", "/a\"b", "HTTP/1.1", 200, 15, NULL,
               "agent \"x\"\n\\");
    s = slurp(test_path);
    UNIT_CHECK(strncmp(s, "10.0.0.1 - - [", 14) == 0);
    UNIT_CHECK(strstr(s, " +0000] \"GET /a\\x22b HTTP/1.1\" 200 15 \"-\" ")
               != NULL);
    want_tail = "\"agent \\x22x\\x22\\x0a\\x5c\"\n";
    UNIT_CHECK(strlen(s) > strlen(want_tail)
               && strcmp(s + strlen(s) - strlen(want_tail), want_tail) == 0);
    UNIT_CHECK(strchr(s, '\n') == s + strlen(s) - 1);   /* one line */
}

static void
test_message_level_and_escape(void)
{
    const char *s;
    char        before[8192];

    snprintf(before, sizeof(before), "%s", slurp(test_path));
    LOG_DEBUG("hidden %d", 1);                /* below the threshold */
    LOG_WARN("evil\nforged line %s", "x");
    s = slurp(test_path) + strlen(before);
    UNIT_CHECK(strstr(s, "hidden") == NULL);
    UNIT_CHECK(strstr(s, " warn [") != NULL);
    UNIT_CHECK(strstr(s, "evil\\x0aforged line x\n") != NULL);
}

static void
test_reopen_after_rename(void)
{
    char old[300], err[256];

    snprintf(old, sizeof(old), "%s.1", test_path);
    UNIT_CHECK(rename(test_path, old) == 0);
    LOG_ERROR("to the old file");
    UNIT_CHECK(log_reopen(err, sizeof(err)) == 0);
    LOG_ERROR("to the new file");
    UNIT_CHECK(strstr(slurp(old), "to the old file") != NULL);
    UNIT_CHECK(strstr(slurp(old), "to the new file") == NULL);
    UNIT_CHECK(strstr(slurp(test_path), "to the new file") != NULL);
    unlink(old);
}

static void
test_open_failure_names_path(void)
{
    char err[256] = "";

    UNIT_CHECK(log_open("/nonexistent/dir", "h", LOG_LEVEL_INFO, err,
                        sizeof(err)) == -1);
    UNIT_CHECK(strstr(err, "open() \"/nonexistent/dir/h.log\" failed")
               != NULL);
}

/* Fields as long as nginx lets through (8k request line and header
 * lines) are cut, never the status, byte count or closing quote. */
static void
test_access_line_long_fields(void)
{
    static char uri[3002], referer[8001], agent[8001], text[16384];
    char        path[300], err[256];
    FILE       *f;
    size_t      n = 0;

    snprintf(path, sizeof(path), "%s/host2.log", test_dir);
    memset(uri, '"', sizeof(uri) - 1);      /* each escapes to 4 bytes */
    uri[0] = '/';
    memset(referer, 'r', sizeof(referer) - 1);
    memset(agent, 'a', sizeof(agent) - 1);
    UNIT_CHECK(log_open(test_dir, "host2", LOG_LEVEL_INFO, err,
                        sizeof(err)) == 0);
    log_access("10.0.0.2", "GET", uri, "HTTP/1.1", 404, 21, referer, agent);
    f = fopen(path, "r");
    UNIT_CHECK(f != NULL);
    if (f != NULL) {
        n = fread(text, 1, sizeof(text) - 1, f);
        fclose(f);
    }
    text[n] = '\0';
    UNIT_CHECK(n > 4000 && n < 8192);
    UNIT_CHECK(strchr(text, '\n') == text + n - 1);        /* one line */
    UNIT_CHECK(strstr(text, "\\x22 HTTP/1.1\" 404 21 \"rrr") != NULL);
    UNIT_CHECK(strstr(text, "rrr\" \"aaa") != NULL);
    UNIT_CHECK(n >= 5 && strcmp(text + n - 5, "aaa\"\n") == 0);
    unlink(path);
}

int
main(void)
{
    if (mkdtemp(test_dir) == NULL) {
        printf("not ok - mkdtemp\n");
        return 1;
    }
    snprintf(test_path, sizeof(test_path), "%s/host1.log", test_dir);
    UNIT_RUN(test_access_line);
    UNIT_RUN(test_message_level_and_escape);
    UNIT_RUN(test_reopen_after_rename);
    UNIT_RUN(test_open_failure_names_path);
    UNIT_RUN(test_access_line_long_fields);
    log_close();
    unlink(test_path);
    rmdir(test_dir);
    return unit_done();
}
