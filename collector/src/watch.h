/* watch.h -- file system change notification (the inotify seam)
 *
 * Owns the inotify instance: adding and removing watches on directories
 * and files, reading events and translating them into WATCH_* flags in the
 * project's own terms.  It does not decide what a change means.
 */
#ifndef WATCH_H
#define WATCH_H

#include <stddef.h>

#define WATCH_MODIFY    0x01    /* a watched file grew or was truncated */
#define WATCH_ATTRIB    0x02    /* metadata changed (permissions, links) */
#define WATCH_GONE      0x04    /* the watched object moved or was deleted */
#define WATCH_CHILD     0x08    /* an entry in a watched dir came or went */
#define WATCH_OVERFLOW  0x10    /* events were lost: rescan everything */
#define WATCH_IGNORED   0x20    /* the kernel dropped this watch */

struct watch;

/* Called once per event; wd is -1 for WATCH_OVERFLOW. */
typedef void watch_fn(void *ctx, int wd, unsigned flags, const char *name);

struct watch *watch_create(char *err, size_t errlen);
void watch_destroy(struct watch *w);
int watch_fd(const struct watch *w);
int watch_add_dir(struct watch *w, const char *path, char *err,
    size_t errlen);
int watch_add_file(struct watch *w, const char *path, char *err,
    size_t errlen);
void watch_remove(struct watch *w, int wd);
int watch_read(struct watch *w, watch_fn *fn, void *ctx, char *err,
    size_t errlen);
int watch_limit(void);
const char *watch_mask_name(unsigned mask);

#endif
