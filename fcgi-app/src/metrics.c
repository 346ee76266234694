/* metrics.c -- pool-wide counters in shared memory, Prometheus text out
 *
 * The struct metrics_shm lives in a MAP_SHARED | MAP_ANONYMOUS mapping made
 * before fork(), so parent and children see the same pages.  Every field
 * is a C11 atomic updated with relaxed ordering: each counter is
 * independent and a scrape only needs each number to be exact on its own.
 * The histogram keeps per-bucket (not cumulative) counts; rendering sums
 * them, as the exposition format wants cumulative "le" buckets.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <stdio.h>

#include "metrics.h"
#include "router.h"

static const int metrics_statuses[] = {
    200, 400, 404, 405, 413, 500, 503
};
#define METRICS_NSTATUS \
    (sizeof(metrics_statuses) / sizeof(metrics_statuses[0]) + 1)

static const double metrics_bounds[] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0
};
#define METRICS_NBOUNDS (sizeof(metrics_bounds) / sizeof(metrics_bounds[0]))

static const char *metrics_reasons[] = { "crash", "recycle", "reload" };

struct metrics_shm {
    atomic_ullong requests[ROUTE__COUNT][METRICS_NSTATUS];
    atomic_ullong buckets[METRICS_NBOUNDS + 1];   /* last one is +Inf */
    atomic_ullong duration_count;
    atomic_ullong duration_sum_us;
    atomic_ullong redis_errors;
    atomic_ullong redis_reconnects;
    atomic_ullong restarts[METRICS_RESTART__COUNT];
    atomic_long   workers_alive;
    atomic_int    proc_used[METRICS_MAX_PROCS];
    atomic_long   proc_busy[METRICS_MAX_PROCS];
};

static struct metrics_shm *metrics_shm;
static int                 metrics_row = -1;   /* this process's row */

int
metrics_create(char *err, size_t errlen)
{
    void *p;

    p = mmap(NULL, sizeof(*metrics_shm), PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "mmap() failed: %s", strerror(errno));
        return -1;
    }
    metrics_shm = p;   /* anonymous pages are zero: all atomics start at 0 */
    return 0;
}

void
metrics_destroy(void)
{
    if (metrics_shm != NULL) {
        munmap(metrics_shm, sizeof(*metrics_shm));
        metrics_shm = NULL;
    }
}

/* Index of status in metrics_statuses, or the "other" slot. */
static size_t
metrics_status_index(int status)
{
    size_t i;

    for (i = 0; i < METRICS_NSTATUS - 1; i++) {
        if (metrics_statuses[i] == status) {
            return i;
        }
    }
    return METRICS_NSTATUS - 1;
}

void
metrics_request(int route, int status, double seconds)
{
    size_t i;

    if (metrics_shm == NULL || route < 0 || route >= ROUTE__COUNT) {
        return;
    }
    atomic_fetch_add_explicit(
        &metrics_shm->requests[route][metrics_status_index(status)], 1,
        memory_order_relaxed);
    for (i = 0; i < METRICS_NBOUNDS; i++) {
        if (seconds <= metrics_bounds[i]) {
            break;
        }
    }
    atomic_fetch_add_explicit(&metrics_shm->buckets[i], 1,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&metrics_shm->duration_count, 1,
                              memory_order_relaxed);
    if (seconds < 0) {
        seconds = 0;
    }
    atomic_fetch_add_explicit(&metrics_shm->duration_sum_us,
                              (unsigned long long) (seconds * 1e6),
                              memory_order_relaxed);
}

void
metrics_redis_error(void)
{
    if (metrics_shm != NULL) {
        atomic_fetch_add_explicit(&metrics_shm->redis_errors, 1,
                                  memory_order_relaxed);
    }
}

void
metrics_redis_reconnect(void)
{
    if (metrics_shm != NULL) {
        atomic_fetch_add_explicit(&metrics_shm->redis_reconnects, 1,
                                  memory_order_relaxed);
    }
}

void
metrics_worker_restart(enum metrics_restart reason)
{
    if (metrics_shm != NULL && reason < METRICS_RESTART__COUNT) {
        atomic_fetch_add_explicit(&metrics_shm->restarts[reason], 1,
                                  memory_order_relaxed);
    }
}

void
metrics_workers_alive_set(long n)
{
    if (metrics_shm != NULL) {
        atomic_store_explicit(&metrics_shm->workers_alive, n,
                              memory_order_relaxed);
    }
}

int
metrics_proc_claim(void)
{
    int i, expected;

    if (metrics_shm == NULL) {
        return -1;
    }
    for (i = 0; i < METRICS_MAX_PROCS; i++) {
        expected = 0;
        if (atomic_compare_exchange_strong(&metrics_shm->proc_used[i],
                                           &expected, 1))
        {
            atomic_store(&metrics_shm->proc_busy[i], 0);
            return i;
        }
    }
    return -1;
}

void
metrics_proc_release(int row)
{
    if (metrics_shm != NULL && row >= 0 && row < METRICS_MAX_PROCS) {
        atomic_store(&metrics_shm->proc_busy[row], 0);
        atomic_store(&metrics_shm->proc_used[row], 0);
    }
}

void
metrics_proc_use(int row)
{
    metrics_row = row;
}

void
metrics_busy_add(int delta)
{
    if (metrics_shm != NULL && metrics_row >= 0) {
        atomic_fetch_add_explicit(&metrics_shm->proc_busy[metrics_row],
                                  delta, memory_order_relaxed);
    }
}

/* Append fcgi_app_requests_total (non-zero series only). */
static void
metrics_render_requests(struct buf *out)
{
    unsigned long long  v;
    size_t              s;
    int                 r;

    buf_appends(out,
        "# HELP fcgi_app_requests_total Requests answered, by route and "
        "status.\n# TYPE fcgi_app_requests_total counter\n");
    for (r = 0; r < ROUTE__COUNT; r++) {
        for (s = 0; s < METRICS_NSTATUS; s++) {
            v = atomic_load_explicit(&metrics_shm->requests[r][s],
                                     memory_order_relaxed);
            if (v == 0) {
                continue;
            }
            if (s < METRICS_NSTATUS - 1) {
                buf_printf(out, "fcgi_app_requests_total{route=\"%s\","
                           "status=\"%d\"} %llu\n", router_name(r),
                           metrics_statuses[s], v);
            } else {
                buf_printf(out, "fcgi_app_requests_total{route=\"%s\","
                           "status=\"other\"} %llu\n", router_name(r), v);
            }
        }
    }
}

/* Render the latency histogram. */
static void
metrics_render_histogram(struct buf *out)
{
    unsigned long long cum = 0;
    size_t             i;

    buf_appends(out,
        "# HELP fcgi_app_request_duration_seconds Time from request "
        "accepted to response finished.\n"
        "# TYPE fcgi_app_request_duration_seconds histogram\n");
    for (i = 0; i <= METRICS_NBOUNDS; i++) {
        cum += atomic_load_explicit(&metrics_shm->buckets[i],
                                    memory_order_relaxed);
        if (i < METRICS_NBOUNDS) {
            buf_printf(out, "fcgi_app_request_duration_seconds_bucket"
                       "{le=\"%g\"} %llu\n", metrics_bounds[i], cum);
        } else {
            buf_printf(out, "fcgi_app_request_duration_seconds_bucket"
                       "{le=\"+Inf\"} %llu\n", cum);
        }
    }
    buf_printf(out, "fcgi_app_request_duration_seconds_sum %.6f\n",
               (double) atomic_load(&metrics_shm->duration_sum_us) / 1e6);
    /* count equals the +Inf bucket by definition; use the same number */
    buf_printf(out, "fcgi_app_request_duration_seconds_count %llu\n", cum);
}

int
metrics_render(struct buf *out)
{
    long  busy = 0;
    int   i;

    if (metrics_shm == NULL) {
        return -1;
    }
    metrics_render_requests(out);
    metrics_render_histogram(out);
    buf_printf(out,
        "# HELP fcgi_app_redis_errors_total Failed Redis connects and "
        "commands.\n# TYPE fcgi_app_redis_errors_total counter\n"
        "fcgi_app_redis_errors_total %llu\n",
        atomic_load(&metrics_shm->redis_errors));
    buf_printf(out,
        "# HELP fcgi_app_redis_reconnects_total Redis connections "
        "re-established after a failure.\n"
        "# TYPE fcgi_app_redis_reconnects_total counter\n"
        "fcgi_app_redis_reconnects_total %llu\n",
        atomic_load(&metrics_shm->redis_reconnects));
    buf_printf(out,
        "# HELP fcgi_app_workers_alive Worker processes running.\n"
        "# TYPE fcgi_app_workers_alive gauge\n"
        "fcgi_app_workers_alive %ld\n",
        atomic_load(&metrics_shm->workers_alive));
    for (i = 0; i < METRICS_MAX_PROCS; i++) {
        if (atomic_load_explicit(&metrics_shm->proc_used[i],
                                 memory_order_relaxed))
        {
            busy += atomic_load_explicit(&metrics_shm->proc_busy[i],
                                         memory_order_relaxed);
        }
    }
    buf_printf(out,
        "# HELP fcgi_app_requests_in_flight Requests read and not yet "
        "answered (waiting for Redis or being answered).\n"
        "# TYPE fcgi_app_requests_in_flight gauge\n"
        "fcgi_app_requests_in_flight %ld\n", busy);
    buf_appends(out,
        "# HELP fcgi_app_worker_restarts_total Workers replaced, by "
        "reason.\n# TYPE fcgi_app_worker_restarts_total counter\n");
    for (i = 0; i < METRICS_RESTART__COUNT; i++) {
        buf_printf(out, "fcgi_app_worker_restarts_total{reason=\"%s\"} "
                   "%llu\n", metrics_reasons[i],
                   atomic_load(&metrics_shm->restarts[i]));
    }
    return out->oom ? -1 : 0;
}
