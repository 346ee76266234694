/* metrics.h -- pool-wide counters in shared memory, Prometheus text out
 *
 * Owns: one MAP_SHARED anonymous mapping created by the master before it
 * forks, so every worker updates (C11 atomics) and renders the numbers of
 * the whole pool.  Per-process rows (requests in flight) are claimed by the
 * master for each child and cleared when the child dies, so a crash never
 * leaves a phantom request in flight.  Does not own the HTTP side: handler.c
 * decides who may see /metrics.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

#define METRICS_MAX_PROCS 1024

enum metrics_restart {
    METRICS_RESTART_CRASH,
    METRICS_RESTART_RECYCLE,
    METRICS_RESTART_RELOAD,
    METRICS_RESTART__COUNT
};

/* Create the shared mapping.  Call once in the master before any fork.
 * Returns 0, or -1 with err filled. */
int metrics_create(char *err, size_t errlen);

/* Unmap it.  Accepts a never-created state. */
void metrics_destroy(void);

/* Count one finished request: route (router's enum route_id), HTTP status
 * and duration in seconds.  Can't fail; no-op before metrics_create(). */
void metrics_request(int route, int status, double seconds);

void metrics_redis_error(void);
void metrics_redis_reconnect(void);
void metrics_worker_restart(enum metrics_restart reason);
void metrics_workers_alive_set(long n);

/* Per-process rows: the master claims a free row for a child (returns its
 * index or -1 if full) and releases it when the child exits (clearing its
 * busy count).  A worker marks itself with metrics_proc_use(). */
int metrics_proc_claim(void);
void metrics_proc_release(int row);
void metrics_proc_use(int row);
void metrics_busy_add(int delta);

/* Append the Prometheus text exposition (version 0.0.4) of every metric.
 * Returns 0 / -1 (OOM). */
int metrics_render(struct buf *out);

#endif
