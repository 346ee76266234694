/* loop.h -- one worker process's event loop: epoll, timers, idle hooks
 *
 * Owns: the epoll set, the timer heap, the "before sleep" hooks and the
 * signal window.  Everything a worker process does runs on this one loop
 * in one thread: the FastCGI connections (worker.c), the Redis connection
 * (redis_ev.c), name lookups (resolve.c).  Modelled on Redis's ae.c (one
 * loop, file events plus timers, a beforeSleep hook) and nginx's event
 * cycle; the epoll data is a pointer to a struct loop_io that outlives its
 * registration, and an event for an io that was removed, or removed and
 * added again, after epoll_wait() returned is dropped (loop_io.added).
 * Does not own what any fd means.
 */
#ifndef APP_LOOP_H
#define APP_LOOP_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct loop_io;
struct loop_timer;

/* An fd's events: events is the epoll mask that fired. */
typedef void loop_io_fn(struct loop *l, struct loop_io *io, uint32_t events);
typedef void loop_timer_fn(struct loop *l, struct loop_timer *t);
typedef void loop_hook_fn(struct loop *l, void *arg);

struct loop_io {
    int          fd;          /* -1 when not registered */
    uint32_t     mask;        /* registered epoll events */
    uint64_t     added;       /* the loop's turn when registered */
    loop_io_fn  *fn;
    void        *data;
};

struct loop_timer {
    int64_t        when_ms;   /* monotonic */
    size_t         slot;      /* index in the heap; SIZE_MAX: not armed */
    loop_timer_fn *fn;
    void          *data;
};

/* A new loop.  NULL with err filled. */
struct loop *loop_create(char *err, size_t errlen);
void loop_destroy(struct loop *l);           /* accepts NULL */

/* Monotonic ms, cached once per loop turn (loop_now_ms) or read now
 * (loop_clock_ms, lib's wsclock_mono_ms(): the clock the cache and every
 * timer use, named here so callers of the loop need no other header).
 * Can't fail. */
int64_t loop_now_ms(const struct loop *l);
int64_t loop_clock_ms(void);

/* Register io->fd with mask (EPOLLIN, EPOLLOUT, EPOLLET ...), change its
 * mask, or remove it (before closing the fd).  0, or -1 with errno. */
int  loop_io_add(struct loop *l, struct loop_io *io, int fd, uint32_t mask);
int  loop_io_mod(struct loop *l, struct loop_io *io, uint32_t mask);
void loop_io_del(struct loop *l, struct loop_io *io);

/* Initialise a timer (not armed). */
void loop_timer_init(struct loop_timer *t, loop_timer_fn *fn, void *data);
/* Arm t for when_ms (re-arming moves it).  0, or -1 on OOM. */
int  loop_timer_at(struct loop *l, struct loop_timer *t, int64_t when_ms);
void loop_timer_stop(struct loop *l, struct loop_timer *t);
int  loop_timer_armed(const struct loop_timer *t);

/* Run fn(arg) before every wait for events (e.g. flush buffered writes).
 * At most LOOP_HOOKS_MAX hooks.  0 or -1. */
#define LOOP_HOOKS_MAX 4
int loop_before_sleep(struct loop *l, loop_hook_fn *fn, void *arg);

/* One turn: run due timers, the before-sleep hooks, wait for events (at
 * most max_wait_ms; -1 no limit) with the signals in *waitmask let in
 * (NULL: none), then dispatch them and the timers due by then.  Returns
 * the number of events, 0 on a timeout or a signal. */
int loop_turn(struct loop *l, int max_wait_ms, const sigset_t *waitmask);

#endif
