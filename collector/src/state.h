/* state.h -- the offsets file: load it, and save it atomically
 *
 * Owns the on-disk format (docs/COLLECTOR.md, "State file") and the
 * atomic replace (temp file, fsync, rename, fsync of the directory).  It
 * knows nothing about which offsets are safe to save; the caller decides.
 */
#ifndef STATE_H
#define STATE_H

#include <stddef.h>
#include <stdint.h>

struct state_entry {
    uint64_t  dev;
    uint64_t  ino;
    uint32_t  fp_len;           /* bytes covered by the fingerprint */
    uint64_t  fp;               /* FNV-1a 64 of the first fp_len bytes */
    uint64_t  offset;           /* resume here */
    int       skip;             /* 1: discard up to the next newline first */
    char     *path;             /* last known name, for logs and orphans */
};

struct state {
    struct state_entry *e;
    size_t              n;
    size_t              cap;
};

int state_load(struct state *st, const char *path, char *err,
    size_t errlen);
int state_add(struct state *st, const struct state_entry *e);
void state_clear(struct state *st);
int state_save(const struct state *st, const char *path, char *err,
    size_t errlen);
int state_format_entry(const struct state_entry *e, char *buf,
    size_t buflen);
int state_parse_entry(const char *line, size_t len, struct state_entry *e);

#endif
