/* state.h -- the offsets file: load it, and save it atomically
 *
 * Owns the on-disk format (docs/COLLECTOR.md, "State file") and the
 * atomic replace (temp file, fsync, rename, fsync of the directory), and
 * moving a bad file aside.  It knows nothing about which offsets are safe
 * to save or what to do about a bad file; the caller decides.
 */
#ifndef STATE_H
#define STATE_H

#include <stddef.h>
#include <stdint.h>

#define STATE_LOADED    0       /* state_load(): read */
#define STATE_ABSENT    1       /* no file: a first start */
#define STATE_BAD     (-1)      /* unreadable or malformed, err says why */
#define STATE_NOMEM   (-2)      /* out of memory */

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
int state_move_aside(const char *path, long long unix_time, char *dest,
    size_t destlen, char *err, size_t errlen);
int state_format_entry(const struct state_entry *e, char *buf,
    size_t buflen);
int state_parse_entry(const char *line, size_t len, struct state_entry *e);

#endif
