/* health.h -- the health file: a timestamp that says the loop is alive
 *
 * Owns touching the health file (creating it if needed) and reporting
 * that it cannot: once per run of failures, and once when it works
 * again.  The loop decides when to touch it (after each reconcile, when
 * every input was just checked); a container healthcheck reads its mtime.
 * It knows nothing about inputs or files.
 */
#ifndef HEALTH_H
#define HEALTH_H

struct health {
    const char *path;           /* "" or NULL: no health file */
    int         warned;         /* the current failure was logged */
};

void health_touch(struct health *h);

#endif
