/* test_metrics.c -- unit tests for metrics.c: counters shared across
 * fork(), cumulative histogram, per-process busy rows released on exit.
 */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics.h"
#include "router.h"
#include "unit.h"

/* 1 if the rendered text contains line (a whole line). */
static int
has_line(const char *text, const char *line)
{
    const char *p = text;
    size_t      n = strlen(line);

    while ((p = strstr(p, line)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[n] == '\n') {
            return 1;
        }
        p++;
    }
    return 0;
}

static void
test_counts_across_fork(void)
{
    struct buf b;
    pid_t      pid;
    int        status = -1;

    pid = fork();
    if (pid == 0) {
        metrics_request(ROUTE_HELLO, 200, 0.0001);
        metrics_request(ROUTE_HELLO, 200, 0.003);
        metrics_request(ROUTE_NOT_FOUND, 404, 2.0);
        metrics_redis_error();
        _exit(0);
    }
    UNIT_CHECK(pid > 0);
    waitpid(pid, &status, 0);
    UNIT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    metrics_request(ROUTE_HELLO, 999, 0.02);
    buf_init(&b);
    UNIT_CHECK(metrics_render(&b) == 0);
    UNIT_CHECK(has_line(b.data,
        "fcgi_app_requests_total{route=\"hello\",status=\"200\"} 2"));
    UNIT_CHECK(has_line(b.data,
        "fcgi_app_requests_total{route=\"hello\",status=\"other\"} 1"));
    UNIT_CHECK(has_line(b.data,
        "fcgi_app_requests_total{route=\"not_found\",status=\"404\"} 1"));
    UNIT_CHECK(has_line(b.data,
        "fcgi_app_request_duration_seconds_bucket{le=\"0.0005\"} 1"));
    UNIT_CHECK(has_line(b.data,
        "fcgi_app_request_duration_seconds_bucket{le=\"0.005\"} 2"));
    UNIT_CHECK(has_line(b.data,
        "fcgi_app_request_duration_seconds_bucket{le=\"1\"} 3"));
    UNIT_CHECK(has_line(b.data,
        "fcgi_app_request_duration_seconds_bucket{le=\"+Inf\"} 4"));
    UNIT_CHECK(has_line(b.data, "fcgi_app_request_duration_seconds_count 4"));
    UNIT_CHECK(has_line(b.data, "fcgi_app_redis_errors_total 1"));
    buf_free(&b);
}

static void
test_busy_rows(void)
{
    struct buf b;
    int        row;

    row = metrics_proc_claim();
    UNIT_CHECK(row >= 0);
    metrics_proc_use(row);
    metrics_busy_add(1);
    metrics_busy_add(1);
    buf_init(&b);
    metrics_render(&b);
    UNIT_CHECK(has_line(b.data, "fcgi_app_requests_in_flight 2"));
    metrics_proc_release(row);      /* as when the process dies */
    buf_reset(&b);
    metrics_render(&b);
    UNIT_CHECK(has_line(b.data, "fcgi_app_requests_in_flight 0"));
    metrics_workers_alive_set(3);
    metrics_worker_restart(METRICS_RESTART_RECYCLE);
    buf_reset(&b);
    metrics_render(&b);
    UNIT_CHECK(has_line(b.data, "fcgi_app_workers_alive 3"));
    UNIT_CHECK(has_line(b.data,
        "fcgi_app_worker_restarts_total{reason=\"recycle\"} 1"));
    UNIT_CHECK(has_line(b.data,
        "fcgi_app_worker_restarts_total{reason=\"crash\"} 0"));
    buf_free(&b);
}

int
main(void)
{
    char err[128];

    if (metrics_create(err, sizeof(err)) != 0) {
        printf("not ok - metrics_create: %s\n", err);
        return 1;
    }
    UNIT_RUN(test_counts_across_fork);
    UNIT_RUN(test_busy_rows);
    metrics_destroy();
    return unit_done();
}
