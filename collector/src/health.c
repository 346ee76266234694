/* health.c -- the health file: a timestamp that says the loop is alive
 *
 * The file is opened with O_NOFOLLOW (a symlink planted there is not
 * followed) and O_NONBLOCK (a FIFO there does not stall the loop), and
 * its times set to now with futimens(2); nothing is written to it.  A
 * failure is harmless to the collector itself: only the healthcheck that
 * reads the file can tell, so it is logged, not returned.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "health.h"
#include "log.h"

/* Touch h->path (create it if needed).  Logs a failure once per run of
 * failures, and the recovery once.  This function can't fail. */
void
health_touch(struct health *h)
{
    int fd;

    if (h->path == NULL || *h->path == '\0') {
        return;
    }
    fd = open(h->path,
        O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
    if (fd < 0 || futimens(fd, NULL) != 0) {
        if (!h->warned) {
            log_at(LOG_LEVEL_WARN, "health-file %s: %s", h->path,
                strerror(errno));
            h->warned = 1;
        }
    } else if (h->warned) {
        log_at(LOG_LEVEL_INFO, "health-file %s: writable again", h->path);
        h->warned = 0;
    }
    if (fd >= 0) {
        close(fd);
    }
}
