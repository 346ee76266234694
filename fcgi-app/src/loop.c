/* loop.c -- one worker process's event loop: epoll, timers, idle hooks
 *
 * A turn: timers due -> before-sleep hooks -> epoll_pwait() until the
 * earliest timer (signals let in only there, so a handler that sets a flag
 * always ends the wait: no lost wake-up) -> the events -> timers due.
 * Timers live in a binary min-heap keyed on when_ms (O(log n) arm and
 * stop); a worker arms one per request in flight and one per connection,
 * so thousands of idle connections cost no sweep.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "loop.h"
#include "wsclock.h"

#define LOOP_EVENTS 256

struct loop_hook {
    loop_hook_fn *fn;
    void         *arg;
};

struct loop {
    int                  epfd;
    uint64_t             turn;        /* bumped before every wait */
    int64_t              now_ms;
    struct loop_timer  **heap;
    size_t               nheap;
    size_t               capheap;
    struct loop_hook     hooks[LOOP_HOOKS_MAX];
    size_t               nhooks;
    struct epoll_event   events[LOOP_EVENTS];
};

int64_t
loop_clock_ms(void)
{
    return wsclock_mono_ms();
}

int64_t
loop_now_ms(const struct loop *l)
{
    return l->now_ms;
}

struct loop *
loop_create(char *err, size_t errlen)
{
    struct loop *l;

    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd == -1) {
        snprintf(err, errlen, "epoll_create1() failed: %s", strerror(errno));
        free(l);
        return NULL;
    }
    l->turn = 1;
    l->now_ms = loop_clock_ms();
    return l;
}

void
loop_destroy(struct loop *l)
{
    if (l == NULL) {
        return;
    }
    close(l->epfd);
    free(l->heap);
    free(l);
}

int
loop_io_add(struct loop *l, struct loop_io *io, int fd, uint32_t mask)
{
    struct epoll_event ev;

    ev.events = mask;
    ev.data.ptr = io;
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        return -1;
    }
    io->fd = fd;
    io->mask = mask;
    io->added = l->turn;
    return 0;
}

int
loop_io_mod(struct loop *l, struct loop_io *io, uint32_t mask)
{
    struct epoll_event ev;

    if (io->mask == mask) {
        return 0;
    }
    ev.events = mask;
    ev.data.ptr = io;
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev) != 0) {
        return -1;
    }
    io->mask = mask;
    return 0;
}

void
loop_io_del(struct loop *l, struct loop_io *io)
{
    if (io->fd < 0) {
        return;
    }
    /* Fails only if the fd was closed already, which also removed it. */
    (void) epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
    io->fd = -1;
    io->mask = 0;
}

/* Heap helpers: swap entries a and b, keeping their slots right. */
static void
loop_heap_swap(struct loop *l, size_t a, size_t b)
{
    struct loop_timer *t = l->heap[a];

    l->heap[a] = l->heap[b];
    l->heap[b] = t;
    l->heap[a]->slot = a;
    l->heap[b]->slot = b;
}

/* Move entry i up or down until the heap order holds.  Can't fail. */
static void
loop_heap_fix(struct loop *l, size_t i)
{
    size_t c;

    while (i > 0 && l->heap[(i - 1) / 2]->when_ms > l->heap[i]->when_ms) {
        loop_heap_swap(l, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    for (;;) {
        c = 2 * i + 1;
        if (c >= l->nheap) {
            break;
        }
        if (c + 1 < l->nheap && l->heap[c + 1]->when_ms < l->heap[c]->when_ms)
        {
            c++;
        }
        if (l->heap[i]->when_ms <= l->heap[c]->when_ms) {
            break;
        }
        loop_heap_swap(l, i, c);
        i = c;
    }
}

void
loop_timer_init(struct loop_timer *t, loop_timer_fn *fn, void *data)
{
    t->when_ms = 0;
    t->slot = SIZE_MAX;
    t->fn = fn;
    t->data = data;
}

int
loop_timer_armed(const struct loop_timer *t)
{
    return t->slot != SIZE_MAX;
}

int
loop_timer_at(struct loop *l, struct loop_timer *t, int64_t when_ms)
{
    struct loop_timer **grown;
    size_t              cap;

    t->when_ms = when_ms;
    if (t->slot != SIZE_MAX) {
        loop_heap_fix(l, t->slot);
        return 0;
    }
    if (l->nheap == l->capheap) {
        cap = l->capheap ? l->capheap * 2 : 64;
        /* an array of pointers: */
        /* NOLINTNEXTLINE(bugprone-sizeof-expression) */
        grown = realloc(l->heap, cap * sizeof(*grown));
        if (grown == NULL) {
            return -1;
        }
        l->heap = grown;
        l->capheap = cap;
    }
    t->slot = l->nheap;
    l->heap[l->nheap++] = t;
    loop_heap_fix(l, t->slot);
    return 0;
}

void
loop_timer_stop(struct loop *l, struct loop_timer *t)
{
    size_t i = t->slot;

    if (i == SIZE_MAX) {
        return;
    }
    t->slot = SIZE_MAX;
    l->nheap--;
    if (i != l->nheap) {
        l->heap[i] = l->heap[l->nheap];
        l->heap[i]->slot = i;
        loop_heap_fix(l, i);
    }
}

int
loop_before_sleep(struct loop *l, loop_hook_fn *fn, void *arg)
{
    if (l->nhooks == LOOP_HOOKS_MAX) {
        return -1;
    }
    l->hooks[l->nhooks].fn = fn;
    l->hooks[l->nhooks].arg = arg;
    l->nhooks++;
    return 0;
}

/* Run every timer due at l->now_ms.  A timer may arm or stop others. */
static void
loop_run_timers(struct loop *l)
{
    struct loop_timer *t;

    while (l->nheap > 0 && l->heap[0]->when_ms <= l->now_ms) {
        t = l->heap[0];
        loop_timer_stop(l, t);
        t->fn(l, t);
    }
}

int
loop_turn(struct loop *l, int max_wait_ms, const sigset_t *waitmask)
{
    struct loop_io *io;
    int64_t         wait;
    size_t          i;
    int             n, k;

    l->now_ms = loop_clock_ms();
    loop_run_timers(l);
    for (i = 0; i < l->nhooks; i++) {
        l->hooks[i].fn(l, l->hooks[i].arg);
    }
    wait = max_wait_ms;
    if (l->nheap > 0) {
        int64_t due = l->heap[0]->when_ms - loop_clock_ms();

        if (due < 0) {
            due = 0;
        }
        if (wait < 0 || due < wait) {
            wait = due;
        }
    }
    l->turn++;
    n = epoll_pwait(l->epfd, l->events, LOOP_EVENTS, (int) wait, waitmask);
    l->now_ms = loop_clock_ms();
    for (k = 0; k < n; k++) {
        io = l->events[k].data.ptr;
        /* removed, or removed and added again, since the wait returned:
         * this event was for the fd it had before */
        if (io->fd < 0 || io->added == l->turn) {
            continue;
        }
        io->fn(l, io, l->events[k].events);
    }
    loop_run_timers(l);
    return n > 0 ? n : 0;
}
