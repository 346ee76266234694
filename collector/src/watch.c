/* watch.c -- inotify(7) behind the project's WATCH_* flags
 *
 * The only file that includes inotify headers and libinotifytools.
 *
 * Which API does what, and why: libinotifytools 3.22 keeps its inotify fd
 * private and its event call, inotifytools_next_events(timeout, n), waits
 * in whole seconds.  The collector must wait on inotify and on a blocked
 * stdout (and a TCP socket) in one poll(2) with millisecond timeouts, so
 * the event loop here uses raw inotify_init1(IN_NONBLOCK|IN_CLOEXEC),
 * inotify_add_watch() and read().  libinotifytools is used where it fits:
 * inotifytools_event_to_str() names event masks in debug logs and
 * inotifytools_get_max_user_watches() reports the watch limit when
 * inotify_add_watch() fails with ENOSPC, which is when the caller falls
 * back to polling.
 *
 * Events read per call are bounded by the read buffer (64 KiB); the
 * kernel queue holds the rest, and IN_Q_OVERFLOW becomes WATCH_OVERFLOW.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <inotifytools/inotifytools.h>

#include "watch.h"

#define WATCH_DIR_MASK  (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE \
                         | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF       \
                         | IN_ONLYDIR)
#define WATCH_FILE_MASK (IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

struct watch {
    int fd;
    /* aligned as inotify(7) recommends */
    char buf[65536] __attribute__((aligned(__alignof__(struct inotify_event))));
};

/* Create an inotify instance.  Returns NULL and fills err on failure. */
struct watch *
watch_create(char *err, size_t errlen)
{
    struct watch *w = calloc(1, sizeof(*w));

    if (w == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0) {
        snprintf(err, errlen, "inotify_init1(): %s", strerror(errno));
        goto error;
    }
    return w;

error:
    watch_destroy(w);
    return NULL;
}

/* Close the instance (all watches go with it).  Accepts NULL. */
void
watch_destroy(struct watch *w)
{
    if (w == NULL) {
        return;
    }
    if (w->fd >= 0) {
        close(w->fd);
    }
    free(w);
}

/* The descriptor to poll(2) for POLLIN.  This function can't fail. */
int
watch_fd(const struct watch *w)
{
    return w->fd;
}

/* inotify_add_watch() with an error message; errno is preserved. */
static int
watch_add(struct watch *w, const char *path, unsigned mask, char *err,
    size_t errlen)
{
    int wd = inotify_add_watch(w->fd, path, mask);

    if (wd < 0) {
        int saved = errno;

        if (saved == ENOSPC) {
            snprintf(err, errlen, "inotify_add_watch(\"%s\"): %s (limit "
                "fs.inotify.max_user_watches=%d)", path, strerror(saved),
                inotifytools_get_max_user_watches());
        } else {
            snprintf(err, errlen, "inotify_add_watch(\"%s\"): %s", path,
                strerror(saved));
        }
        errno = saved;
        return -1;
    }
    return wd;
}

/*
 * Watch directory path for entries that come, go or change attributes.
 * Returns the watch descriptor, or -1 with err filled and errno set
 * (ENOSPC: out of watches, the caller polls instead).
 */
int
watch_add_dir(struct watch *w, const char *path, char *err, size_t errlen)
{
    return watch_add(w, path, WATCH_DIR_MASK, err, errlen);
}

/*
 * Watch file path (the inode, which follows renames) for growth,
 * truncation, attribute changes, moves and deletion.  Returns the watch
 * descriptor, or -1 with err filled and errno set.  Adding a watch to an
 * inode already watched returns the same descriptor.
 */
int
watch_add_file(struct watch *w, const char *path, char *err, size_t errlen)
{
    return watch_add(w, path, WATCH_FILE_MASK, err, errlen);
}

/* Remove a watch; errors (e.g. already gone) are ignored. */
void
watch_remove(struct watch *w, int wd)
{
    if (wd >= 0) {
        inotify_rm_watch(w->fd, wd);
    }
}

/* Translate an inotify mask into WATCH_* flags. */
static unsigned
watch_flags(unsigned mask)
{
    unsigned f = 0;

    if (mask & IN_MODIFY) {
        f |= WATCH_MODIFY;
    }
    if (mask & IN_ATTRIB) {
        f |= WATCH_ATTRIB;
    }
    if (mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT)) {
        f |= WATCH_GONE;
    }
    if (mask & (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE)) {
        f |= WATCH_CHILD;
    }
    if (mask & IN_IGNORED) {
        f |= WATCH_IGNORED;
    }
    return f;
}

/*
 * Read every queued event (without blocking) and call fn for each.
 * Returns the number of events, or -1 with err filled.
 */
int
watch_read(struct watch *w, watch_fn *fn, void *ctx, char *err,
    size_t errlen)
{
    int count = 0;

    for (;;) {
        ssize_t n = read(w->fd, w->buf, sizeof(w->buf));
        char *p;

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN) {
                return count;
            }
            snprintf(err, errlen, "read(inotify): %s", strerror(errno));
            return -1;
        }
        for (p = w->buf; p < w->buf + n; ) {
            const struct inotify_event *ev = (const void *) p;
            const char *name = ev->len ? ev->name : "";

            if (ev->mask & IN_Q_OVERFLOW) {
                fn(ctx, -1, WATCH_OVERFLOW, "");
            } else {
                fn(ctx, ev->wd, watch_flags(ev->mask), name);
            }
            count++;
            p += sizeof(struct inotify_event) + ev->len;
        }
    }
}

/* The kernel's per-user watch limit, or -1 if unknown. */
int
watch_limit(void)
{
    return inotifytools_get_max_user_watches();
}

/*
 * Name a WATCH_* flag set for debug logs, using libinotifytools' names of
 * the matching inotify events.  Returns a static string.
 */
const char *
watch_mask_name(unsigned flags)
{
    int mask = 0;

    if (flags & WATCH_MODIFY) {
        mask |= IN_MODIFY;
    }
    if (flags & WATCH_ATTRIB) {
        mask |= IN_ATTRIB;
    }
    if (flags & WATCH_GONE) {
        mask |= IN_MOVE_SELF;
    }
    if (flags & WATCH_CHILD) {
        mask |= IN_CREATE;
    }
    if (flags & WATCH_OVERFLOW) {
        mask |= IN_Q_OVERFLOW;
    }
    if (flags & WATCH_IGNORED) {
        mask |= IN_IGNORED;
    }
    return inotifytools_event_to_str(mask);
}
