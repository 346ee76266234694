/* tfile.c -- read one file from an offset and split it into lines
 *
 * Reads use pread(2) at read_off, so truncation never leaves a stale file
 * position behind.  A line is the bytes before '\n'; a trailing '\r' (CRLF)
 * is removed.  An unfinished line is held in a per-file buffer no larger
 * than the line cap, and the resume offset handed out with each line is
 * the start of the next unfinished line, so a restart re-reads a held
 * partial line instead of losing or repeating it.
 *
 * A line longer than the cap is emitted with its first line_max bytes and
 * TFILE_LINE_TRUNCATED; the rest up to the newline is discarded in
 * "skipping" mode, which is part of the resume point so a restart in the
 * middle of a long line does not emit its tail as a line of its own.
 *
 * The fingerprint is FNV-1a 64 over the first min(size, TFILE_FP_MAX)
 * bytes.  It grows with the file until TFILE_FP_MAX bytes, and
 * tfile_check() compares it to tell "same file, appended" from "truncated
 * and rewritten" (copytruncate, or a new file on a reused inode).
 *
 * Files are opened with O_NOFOLLOW (a symlink planted in a log directory
 * must not make the collector read what it points to) and O_NONBLOCK (a
 * FIFO opened for reading would otherwise wait for a writer forever), and
 * fstat()ed before the first byte is read: anything but a regular file is
 * closed again unread.
 *
 * The held partial line's buffer is freed as soon as the line is handed
 * out, and its size is added to *held_total when the caller sets it, so
 * the caller can bound the memory all files hold together.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tfile.h"

/* never follow a symlink, never wait for a FIFO's writer */
#define TFILE_OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW \
                          | O_NONBLOCK)

static void tfile_unhold(struct tfile *f);

/* FNV-1a 64 of buf.  This function can't fail. */
uint64_t
tfile_hash(const char *buf, size_t len)
{
    uint64_t h = 14695981039346656037ULL;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char) buf[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* pread() up to len bytes at off, retrying on EINTR and short reads. */
static ssize_t
tfile_pread_full(int fd, char *buf, size_t len, uint64_t off)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = pread(fd, buf + got, len - got, (off_t) (off + got));

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (n == 0) {
            break;
        }
        got += (size_t) n;
    }
    return (ssize_t) got;
}

/* Recompute the fingerprint from the file's current first bytes. */
static int
tfile_fingerprint(struct tfile *f)
{
    char buf[TFILE_FP_MAX];
    ssize_t n = tfile_pread_full(f->fd, buf, sizeof(buf), 0);

    if (n < 0) {
        return -1;
    }
    f->fp_len = (uint32_t) n;
    f->fp = tfile_hash(buf, (size_t) n);
    return 0;
}

/* What a file type is called in logs.  This function can't fail. */
const char *
tfile_kind(mode_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG:
        return "regular file";
    case S_IFLNK:
        return "symbolic link";
    case S_IFIFO:
        return "FIFO";
    case S_IFSOCK:
        return "socket";
    case S_IFCHR:
        return "character device";
    case S_IFBLK:
        return "block device";
    case S_IFDIR:
        return "directory";
    default:
        return "unknown file type";
    }
}

/*
 * Open path read-only without following a final symlink and without
 * blocking, and fstat() it into *st.  Returns the descriptor of a regular
 * file, or -1 with err filled and errno set: ELOOP for a symbolic link,
 * EINVAL for any other file that is not regular (nothing was read).
 */
static int
tfile_open_regular(const char *path, struct stat *st, char *err,
    size_t errlen)
{
    int fd = open(path, TFILE_OPEN_FLAGS), saved;

    if (fd < 0) {
        saved = errno;
        if (saved == ELOOP) {
            snprintf(err, errlen, "open(\"%s\"): symbolic link, not "
                "followed", path);
        } else {
            snprintf(err, errlen, "open(\"%s\"): %s", path,
                strerror(saved));
        }
        errno = saved;
        return -1;
    }
    if (fstat(fd, st) != 0) {
        saved = errno;
        snprintf(err, errlen, "fstat(\"%s\"): %s", path, strerror(saved));
        close(fd);
        errno = saved;
        return -1;
    }
    if (!S_ISREG(st->st_mode)) {
        snprintf(err, errlen, "\"%s\": %s, not a regular file", path,
            tfile_kind(st->st_mode));
        close(fd);
        errno = EINVAL;
        return -1;
    }
    return fd;
}

/*
 * Open path for reading, positioned at its start.  Identity (dev, ino)
 * comes from fstat() of the opened descriptor, so it names what was
 * actually opened.  Returns NULL with err filled and errno set (ELOOP: a
 * symbolic link; EINVAL: not a regular file; see tfile_open_regular()).
 */
struct tfile *
tfile_open(const char *path, const char *type, char *err, size_t errlen)
{
    struct tfile *f = calloc(1, sizeof(*f));
    struct stat st;
    int saved;

    if (f == NULL) {
        snprintf(err, errlen, "out of memory");
        errno = ENOMEM;
        return NULL;
    }
    f->fd = -1;
    f->type = type;
    f->path = strdup(path);
    if (f->path == NULL) {
        snprintf(err, errlen, "out of memory");
        errno = ENOMEM;
        goto error;
    }
    f->fd = tfile_open_regular(path, &st, err, errlen);
    if (f->fd < 0) {
        goto error;
    }
    if (tfile_fingerprint(f) != 0) {
        saved = errno;
        snprintf(err, errlen, "read(\"%s\"): %s", path, strerror(saved));
        errno = saved;
        goto error;
    }
    f->dev = (uint64_t) st.st_dev;
    f->ino = (uint64_t) st.st_ino;
    f->size = (uint64_t) st.st_size;
    return f;

error:
    saved = errno;
    tfile_close(f);
    errno = saved;
    return NULL;
}

/* Close the descriptor and free f.  Accepts NULL and half-built files. */
void
tfile_close(struct tfile *f)
{
    if (f == NULL) {
        return;
    }
    if (f->fd >= 0) {
        close(f->fd);
    }
    tfile_unhold(f);
    free(f->path);
    free(f);
}

/* st_mtim in nanoseconds. */
static int64_t
tfile_mtime_ns(const struct stat *st)
{
    return (int64_t) st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/*
 * Give back the descriptor of an idle file but keep its identity,
 * fingerprint and committed resume point; the held partial line is
 * dropped (it was never committed, so tfile_resume() reads it again).
 * Call it only when every line handed out is committed.  Remembers size
 * and modification time for tfile_changed().  Returns 0.
 */
int
tfile_suspend(struct tfile *f)
{
    struct stat st;

    if (f->fd < 0) {
        return 0;
    }
    if (fstat(f->fd, &st) == 0) {
        f->closed_size = (uint64_t) st.st_size;
        f->closed_mtime = tfile_mtime_ns(&st);
    } else {
        f->closed_size = f->size;
        f->closed_mtime = -1;
    }
    close(f->fd);
    f->fd = -1;
    tfile_seek(f, f->commit_off, f->commit_skip);
    return 0;
}

/*
 * Return 1 if st (an lstat() of the suspended file's name) shows it was
 * written, truncated or replaced since tfile_suspend(), else 0.
 */
int
tfile_changed(const struct tfile *f, const struct stat *st)
{
    return (uint64_t) st->st_size != f->closed_size
        || tfile_mtime_ns(st) != f->closed_mtime;
}

/*
 * Reopen a suspended file by its path, the same way tfile_open() does,
 * and check it is still the same file: the same (dev, ino), and its first
 * bytes still match the fingerprint at no less than the resume offset.
 * If the content changed (truncated or rewritten while closed), f starts
 * over at 0 in a new generation and *truncated is set to 1.  Returns 0,
 * or -1 with err filled and errno set (ESTALE: the name now belongs to
 * another file); f stays suspended then.
 */
int
tfile_resume(struct tfile *f, int *truncated, char *err, size_t errlen)
{
    struct stat st;
    int fd;

    *truncated = 0;
    if (f->fd >= 0) {
        return 0;
    }
    fd = tfile_open_regular(f->path, &st, err, errlen);
    if (fd < 0) {
        return -1;
    }
    if ((uint64_t) st.st_dev != f->dev || (uint64_t) st.st_ino != f->ino) {
        snprintf(err, errlen, "\"%s\": now names another file", f->path);
        close(fd);
        errno = ESTALE;
        return -1;
    }
    f->fd = fd;
    f->size = (uint64_t) st.st_size;
    if (f->size < f->read_off || !tfile_prefix_matches(f, f->fp_len, f->fp))
    {
        *truncated = 1;
        f->gen++;
        tfile_seek(f, 0, 0);
        if (tfile_fingerprint(f) != 0) {
            snprintf(err, errlen, "pread(\"%s\"): %s", f->path,
                strerror(errno));
            close(f->fd);
            f->fd = -1;
            return -1;
        }
    }
    return 0;
}

/*
 * Position f at offset (a committed resume point) with the given skip
 * mode; the held partial line is dropped.  Returns 0.
 */
int
tfile_seek(struct tfile *f, uint64_t offset, int skip)
{
    f->read_off = offset;
    f->commit_off = offset;
    f->commit_skip = skip;
    f->skipping = skip;
    f->continued = 0;
    tfile_unhold(f);
    return 0;
}

/*
 * Return 1 if the file's first fp_len bytes hash to fp (the file is the
 * one a saved fingerprint describes), 0 if not or on read error.
 */
int
tfile_prefix_matches(struct tfile *f, uint32_t fp_len, uint64_t fp)
{
    char buf[TFILE_FP_MAX];
    ssize_t n;

    if (fp_len > TFILE_FP_MAX) {
        return 0;
    }
    n = tfile_pread_full(f->fd, buf, fp_len, 0);
    return n == (ssize_t) fp_len && tfile_hash(buf, fp_len) == fp;
}

/*
 * Detect truncation: the file is shorter than what was read, or its first
 * bytes no longer match the fingerprint (truncated and rewritten past the
 * old offset).  On truncation f restarts at offset 0 in a new generation,
 * *truncated is set to 1, and the held partial line is dropped.  Also
 * extends a short fingerprint as the file grows.  Returns 0, or -1 with
 * err filled.
 */
int
tfile_check(struct tfile *f, int *truncated, char *err, size_t errlen)
{
    char buf[TFILE_FP_MAX];
    struct stat st;
    ssize_t n;

    *truncated = 0;
    if (fstat(f->fd, &st) != 0) {
        snprintf(err, errlen, "fstat(\"%s\"): %s", f->path, strerror(errno));
        return -1;
    }
    f->size = (uint64_t) st.st_size;
    if (f->size < f->read_off) {
        goto truncated;
    }
    if (f->fp_len == TFILE_FP_MAX && f->size == f->read_off
        && f->read_off > 0)
    {
        /* nothing new: a rewrite would have had to shrink first, or it
         * is caught when the size moves */
        return 0;
    }
    n = tfile_pread_full(f->fd, buf, sizeof(buf), 0);
    if (n < 0) {
        snprintf(err, errlen, "pread(\"%s\"): %s", f->path, strerror(errno));
        return -1;
    }
    if ((size_t) n < f->fp_len || tfile_hash(buf, f->fp_len) != f->fp) {
        goto truncated;
    }
    if ((size_t) n > f->fp_len) {
        f->fp_len = (uint32_t) n;
        f->fp = tfile_hash(buf, (size_t) n);
    }
    return 0;

truncated:
    *truncated = 1;
    f->gen++;
    tfile_seek(f, 0, 0);
    if (tfile_fingerprint(f) != 0) {
        snprintf(err, errlen, "pread(\"%s\"): %s", f->path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Append len bytes to the held partial line (caller keeps plen <= cap). */
static int
tfile_hold(struct tfile *f, const char *p, size_t len)
{
    if (len == 0) {
        return 0;
    }
    if (f->plen + len > f->pcap) {
        size_t cap = f->pcap ? f->pcap : 256;
        char *np;

        while (cap < f->plen + len) {
            cap *= 2;
        }
        np = realloc(f->partial, cap);
        if (np == NULL) {
            return -1;
        }
        if (f->held_total != NULL) {
            *f->held_total += cap - f->pcap;
        }
        f->partial = np;
        f->pcap = cap;
    }
    memcpy(f->partial + f->plen, p, len);
    f->plen += len;
    return 0;
}

/* Forget the held partial line and give its buffer back.  Keeping idle
 * buffers would make the memory of many files with one long line each
 * outlive the lines. */
static void
tfile_unhold(struct tfile *f)
{
    if (f->held_total != NULL) {
        *f->held_total -= f->pcap;
    }
    free(f->partial);
    f->partial = NULL;
    f->plen = 0;
    f->pcap = 0;
}

/*
 * Split buf[0..len), which starts at file offset base, into lines and hand
 * them to fn.  Returns 0, or -1 if fn failed.
 */
static int
tfile_split(struct tfile *f, const char *buf, size_t len, uint64_t base,
    size_t line_max, tfile_line_fn *fn, void *ctx)
{
    const char *p = buf, *end = buf + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t) (end - p));

        if (f->skipping) {
            if (nl == NULL) {
                return 0;
            }
            p = nl + 1;
            f->skipping = 0;
            if (fn(ctx, f, NULL, 0, TFILE_LINE_NONE,
                    base + (uint64_t) (p - buf), 0) != 0)
            {
                return -1;
            }
            continue;
        }
        if (nl != NULL) {
            size_t seg = (size_t) (nl - p), total = f->plen + seg, n;
            const char *line;
            unsigned flags = 0;
            int rc;

            if (total > line_max) {
                flags = TFILE_LINE_TRUNCATED;
            }
            if (f->plen > 0) {
                n = flags ? line_max - f->plen : seg;
                if (tfile_hold(f, p, n) != 0) {
                    return -1;
                }
                line = f->partial;
                n = f->plen;
            } else {
                line = p;
                n = flags ? line_max : seg;
            }
            if (!flags && n > 0 && line[n - 1] == '\r') {
                n--;
            }
            if (!flags && n == 0 && f->continued) {
                /* the rest of a split line was only its newline */
                flags = TFILE_LINE_NONE;
                line = NULL;
            }
            f->continued = 0;
            p = nl + 1;
            rc = fn(ctx, f, line, n, flags, base + (uint64_t) (p - buf), 0);
            tfile_unhold(f);
            if (rc != 0) {
                return -1;
            }
            continue;
        }
        /* no newline in the rest of the buffer */
        if (f->plen + (size_t) (end - p) > line_max) {
            size_t n = line_max - f->plen;
            int rc;

            if (tfile_hold(f, p, n) != 0) {
                return -1;
            }
            f->skipping = 1;
            f->continued = 0;
            rc = fn(ctx, f, f->partial, f->plen, TFILE_LINE_TRUNCATED,
                base + len, 1);
            tfile_unhold(f);
            return rc;
        }
        return tfile_hold(f, p, (size_t) (end - p));
    }
    return 0;
}

/*
 * Read up to budget bytes from read_off in chunks of cap bytes through
 * buf and hand every complete line to fn.  Returns TFILE_EOF when the end
 * of the file was reached, TFILE_MORE when the budget ran out first, or -1
 * with err filled.
 */
int
tfile_read(struct tfile *f, char *buf, size_t cap, size_t budget,
    size_t line_max, tfile_line_fn *fn, void *ctx, char *err,
    size_t errlen)
{
    size_t done = 0;

    while (done < budget) {
        ssize_t n = pread(f->fd, buf, cap, (off_t) f->read_off);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            snprintf(err, errlen, "pread(\"%s\"): %s", f->path,
                strerror(errno));
            return -1;
        }
        if (n == 0) {
            return TFILE_EOF;
        }
        f->read_off += (uint64_t) n;
        if (f->read_off > f->size) {
            f->size = f->read_off;
        }
        if (tfile_split(f, buf, (size_t) n, f->read_off - (uint64_t) n,
                line_max, fn, ctx) != 0)
        {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        done += (size_t) n;
        if ((size_t) n < cap) {
            return TFILE_EOF;
        }
    }
    return TFILE_MORE;
}

/*
 * Emit the held partial line now, with flags: 0 when the file will not
 * get its newline (rotated or deleted, and quiet); TFILE_LINE_SPLIT when
 * memory runs short and the rest of the line is to follow as a line of
 * its own (an empty rest is then not emitted).  The resume point moves
 * past the emitted bytes.  Returns 0, or -1 if fn failed.
 */
int
tfile_flush_partial(struct tfile *f, unsigned flags, tfile_line_fn *fn,
    void *ctx)
{
    int rc;

    if (f->plen == 0) {
        return 0;
    }
    rc = fn(ctx, f, f->partial, f->plen, flags, f->read_off, 0);
    tfile_unhold(f);
    f->continued = (flags & TFILE_LINE_SPLIT) != 0;
    return rc;
}
