/* collector.h -- the tailing loop: inputs, file table, output, state
 *
 * Owns the decisions: which files to tail, where each starts, when a
 * rotated or deleted file is let go, when reading pauses for a blocked
 * stdout, and which offsets are saved.  It logs (it is the loop that owns
 * those decisions) and leaves argv, signals and exit codes to main.c.
 */
#ifndef COLLECTOR_H
#define COLLECTOR_H

#include <signal.h>
#include <stddef.h>

#include "config.h"

struct collector;

struct collector *collector_create(const struct config *cfg, char *err,
    size_t errlen);
void collector_destroy(struct collector *c);
int collector_run(struct collector *c, volatile sig_atomic_t *stop,
    const sigset_t *waitmask);

#endif
