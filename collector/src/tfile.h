/* tfile.h -- one tailed file: identity, read position, line splitting
 *
 * Owns an open file descriptor and everything needed to turn the bytes
 * after the read position into lines: the fingerprint of the first bytes
 * (to tell truncation and inode reuse), the held partial line, the line
 * cap and "skip to the next newline" mode.  It opens only regular files,
 * never through a symbolic link and never blocking (a FIFO or device in
 * a log directory must not stall the caller), and can give its descriptor
 * back while keeping its identity and resume point (suspend/resume), so
 * an idle file costs no descriptor.  It hands lines to a callback; it does
 * not encode, queue or decide when a file is let go or put to sleep.
 */
#ifndef TFILE_H
#define TFILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#define TFILE_FP_MAX    256     /* fingerprint covers up to this many bytes */

#define TFILE_LINE_TRUNCATED 0x1    /* cut at the line cap */
#define TFILE_LINE_NONE      0x2    /* no line: only move the resume point */
#define TFILE_LINE_SPLIT     0x4    /* held part emitted early; the rest of
                                     * the line follows as the next line */

#define TFILE_EOF   0           /* read everything there is */
#define TFILE_MORE  1           /* stopped at the budget, more may follow */

struct tfile {
    char         *path;         /* name it was last seen under */
    const char   *type;         /* event type, owned by the config */
    int           fd;           /* -1 while suspended */
    uint64_t      dev;
    uint64_t      ino;
    uint32_t      fp_len;
    uint64_t      fp;
    uint64_t      read_off;     /* next byte to read */
    uint64_t      size;         /* st_size at the last check */
    uint64_t      gen;          /* bumped on truncation */
    uint64_t      commit_off;   /* resume point whose events are written */
    int           commit_skip;
    int           skipping;     /* discarding the rest of a capped line */
    int           continued;    /* the last line was split: an empty
                                 * rest is not a line of its own */
    char         *partial;      /* bytes of an unfinished line */
    size_t        plen;
    size_t        pcap;
    size_t       *held_total;   /* if set, kept += pcap of this file */
    uint64_t      closed_size;  /* st_size when suspended */
    int64_t       closed_mtime; /* st_mtim in ns when suspended */
};

/* Receives each line; returns 0, or -1 to stop reading (out of memory). */
typedef int tfile_line_fn(void *ctx, struct tfile *f, const char *line,
    size_t len, unsigned flags, uint64_t resume_off, int resume_skip);

uint64_t tfile_hash(const char *buf, size_t len);
struct tfile *tfile_open(const char *path, const char *type, char *err,
    size_t errlen);
void tfile_close(struct tfile *f);
int tfile_suspend(struct tfile *f);
int tfile_resume(struct tfile *f, int *truncated, char *err, size_t errlen);
int tfile_changed(const struct tfile *f, const struct stat *st);
const char *tfile_kind(mode_t mode);
int tfile_seek(struct tfile *f, uint64_t offset, int skip);
int tfile_prefix_matches(struct tfile *f, uint32_t fp_len, uint64_t fp);
int tfile_check(struct tfile *f, int *truncated, char *err, size_t errlen);
int tfile_read(struct tfile *f, char *buf, size_t cap, size_t budget,
    size_t line_max, tfile_line_fn *fn, void *ctx, char *err,
    size_t errlen);
int tfile_flush_partial(struct tfile *f, unsigned flags, tfile_line_fn *fn,
    void *ctx);

#endif
