/* state.c -- the collector's offsets file
 *
 * Format: text, one record per line, so an operator can read and fix it:
 *   collector-state 1
 *   <dev> <ino> <fp_len> <fp as 16 hex digits> <offset> <skip> <path>
 * Numbers are decimal except fp.  The path is the rest of the line with
 * '%' and '\n' written as %25 and %0A.  Any malformed line makes the
 * whole file invalid (load fails and says which line), because guessing
 * offsets would lose or repeat data silently.  state_move_aside() renames
 * such a file to <path>.corrupt-<unix time>, kept for a post-mortem.
 *
 * Saving writes <path>.tmp, fsync()s it, rename()s it over <path> and
 * fsync()s the directory, so a crash leaves either the old or the new
 * file, never a torn one (rename(2) is atomic on POSIX file systems).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state.h"

#define STATE_MAGIC "collector-state 1"

/* Free every entry; st stays usable.  This function can't fail. */
void
state_clear(struct state *st)
{
    size_t i;

    for (i = 0; i < st->n; i++) {
        free(st->e[i].path);
    }
    free(st->e);
    st->e = NULL;
    st->n = 0;
    st->cap = 0;
}

/* Append a copy of e (and of its path).  Returns 0, or -1 out of memory. */
int
state_add(struct state *st, const struct state_entry *e)
{
    struct state_entry *ne;

    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 16;

        ne = realloc(st->e, cap * sizeof(*ne));
        if (ne == NULL) {
            return -1;
        }
        st->e = ne;
        st->cap = cap;
    }
    ne = &st->e[st->n];
    *ne = *e;
    ne->path = strdup(e->path ? e->path : "");
    if (ne->path == NULL) {
        return -1;
    }
    st->n++;
    return 0;
}

/*
 * Parse the unsigned decimal or hex number at *p up to the next space.
 * Rejects empty fields, junk and overflow.  Returns 0 or -1.
 */
static int
state_num(const char **p, const char *end, int base, uint64_t *out)
{
    uint64_t v = 0, lim = UINT64_MAX / (uint64_t) base;
    const char *q = *p;

    if (q >= end || *q == ' ') {
        return -1;
    }
    while (q < end && *q != ' ') {
        unsigned d;

        if (*q >= '0' && *q <= '9') {
            d = (unsigned) (*q - '0');
        } else if (base == 16 && *q >= 'a' && *q <= 'f') {
            d = (unsigned) (*q - 'a' + 10);
        } else {
            return -1;
        }
        if (v > lim || (v == lim && d > UINT64_MAX % (uint64_t) base)) {
            return -1;
        }
        v = v * (uint64_t) base + d;
        q++;
    }
    if (q < end) {
        q++;                            /* the separating space */
    }
    *p = q;
    *out = v;
    return 0;
}

/*
 * Parse one record line (without '\n') into e; e->path is malloc()ed.
 * Returns 0, or -1 if the line is malformed or memory runs out.
 */
int
state_parse_entry(const char *line, size_t len, struct state_entry *e)
{
    const char *p = line, *end = line + len;
    uint64_t fp_len, skip;
    char *path;
    size_t n = 0;

    memset(e, 0, sizeof(*e));
    if (state_num(&p, end, 10, &e->dev) != 0
        || state_num(&p, end, 10, &e->ino) != 0
        || state_num(&p, end, 10, &fp_len) != 0 || fp_len > 4096
        || state_num(&p, end, 16, &e->fp) != 0
        || state_num(&p, end, 10, &e->offset) != 0
        || state_num(&p, end, 10, &skip) != 0 || skip > 1
        || p > end || p[-1] != ' ')
    {
        return -1;
    }
    e->fp_len = (uint32_t) fp_len;
    e->skip = (int) skip;
    path = malloc((size_t) (end - p) + 1);
    if (path == NULL) {
        return -1;
    }
    while (p < end) {
        if (*p == '%') {
            if (end - p >= 3 && memcmp(p, "%25", 3) == 0) {
                path[n++] = '%';
            } else if (end - p >= 3 && memcmp(p, "%0A", 3) == 0) {
                path[n++] = '\n';
            } else {
                free(path);
                return -1;
            }
            p += 3;
            continue;
        }
        path[n++] = *p++;
    }
    path[n] = '\0';
    e->path = path;
    return 0;
}

/*
 * Format e as one record line including '\n' into buf.  Returns the
 * length, or -1 if buf is too small.
 */
int
state_format_entry(const struct state_entry *e, char *buf, size_t buflen)
{
    const char *s;
    size_t o;
    int n;

    n = snprintf(buf, buflen, "%llu %llu %u %016llx %llu %d ",
        (unsigned long long) e->dev, (unsigned long long) e->ino,
        (unsigned) e->fp_len, (unsigned long long) e->fp,
        (unsigned long long) e->offset, e->skip ? 1 : 0);
    if (n < 0 || (size_t) n >= buflen) {
        return -1;
    }
    o = (size_t) n;
    for (s = e->path ? e->path : ""; *s != '\0'; s++) {
        const char *rep = NULL;

        if (*s == '%') {
            rep = "%25";
        } else if (*s == '\n') {
            rep = "%0A";
        }
        if (o + (rep ? 3 : 1) + 2 > buflen) {
            return -1;
        }
        if (rep != NULL) {
            memcpy(buf + o, rep, 3);
            o += 3;
        } else {
            buf[o++] = *s;
        }
    }
    buf[o++] = '\n';
    buf[o] = '\0';
    return (int) o;
}

/*
 * Load path into st (which must be empty).  Returns STATE_LOADED (0),
 * STATE_ABSENT (1: no file, st stays empty), STATE_BAD (-1: unreadable,
 * not a regular file, or malformed: "line N", with err filled) or
 * STATE_NOMEM (-2, err filled).  The file is opened without blocking, so
 * a FIFO at the path cannot stall the start.
 */
int
state_load(struct state *st, const char *path, char *err, size_t errlen)
{
    FILE *f;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    struct state_entry e;
    struct stat sb;
    int fd, rc = STATE_BAD;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT) {
            return STATE_ABSENT;
        }
        snprintf(err, errlen, "open(\"%s\"): %s", path, strerror(errno));
        return STATE_BAD;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return STATE_BAD;
    }
    f = fdopen(fd, "r");
    if (f == NULL) {
        snprintf(err, errlen, "fdopen(\"%s\"): %s", path, strerror(errno));
        close(fd);
        return errno == ENOMEM ? STATE_NOMEM : STATE_BAD;
    }
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (len > 0 && line[len - 1] == '\n') {
            len--;
        }
        if (lineno == 1) {
            if ((size_t) len != strlen(STATE_MAGIC)
                || memcmp(line, STATE_MAGIC, (size_t) len) != 0)
            {
                snprintf(err, errlen, "%s: line 1: not a state file", path);
                goto error;
            }
            continue;
        }
        if (state_parse_entry(line, (size_t) len, &e) != 0) {
            snprintf(err, errlen, "%s: line %ld: malformed record", path,
                lineno);
            goto error;
        }
        if (state_add(st, &e) != 0) {
            free(e.path);
            snprintf(err, errlen, "out of memory");
            rc = STATE_NOMEM;
            goto error;
        }
        free(e.path);
    }
    if (ferror(f) || lineno == 0) {
        snprintf(err, errlen, "%s: %s", path,
            lineno == 0 ? "empty file" : "read error");
        goto error;
    }
    free(line);
    fclose(f);
    return STATE_LOADED;

error:
    free(line);
    fclose(f);
    state_clear(st);
    return rc;
}

/*
 * Rename the bad state file path to "<path>.corrupt-<unix_time>" (or
 * "<path>.corrupt-<unix_time>.<n>" if that exists), so the collector can
 * start afresh and the file stays for a post-mortem.  The new name is
 * written to dest.  Returns 0, or -1 with err filled.
 */
int
state_move_aside(const char *path, long long unix_time, char *dest,
    size_t destlen, char *err, size_t errlen)
{
    int i, n;

    for (i = 0; i < 100; i++) {
        if (i == 0) {
            n = snprintf(dest, destlen, "%s.corrupt-%lld", path, unix_time);
        } else {
            n = snprintf(dest, destlen, "%s.corrupt-%lld.%d", path,
                unix_time, i);
        }
        if (n < 0 || (size_t) n >= destlen) {
            snprintf(err, errlen, "state path too long");
            return -1;
        }
        if (access(dest, F_OK) != 0 && errno == ENOENT) {
            break;
        }
    }
    if (i == 100) {
        snprintf(err, errlen, "%s: too many .corrupt-* files", path);
        return -1;
    }
    if (rename(path, dest) != 0) {
        snprintf(err, errlen, "rename(\"%s\", \"%s\"): %s", path, dest,
            strerror(errno));
        return -1;
    }
    return 0;
}

/* write(2) all of buf or fail. */
static int
state_write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        buf += n;
        len -= (size_t) n;
    }
    return 0;
}

/*
 * Replace path atomically with the records in st.  Returns 0, or -1 with
 * err filled; on failure the previous file is left in place.
 */
int
state_save(const struct state *st, const char *path, char *err,
    size_t errlen)
{
    char tmp[4096], dir[4096], rec[8192];
    const char *slash;
    int fd = -1, dfd = -1, n;
    size_t i;

    n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (n < 0 || (size_t) n >= sizeof(tmp)) {
        snprintf(err, errlen, "state path too long");
        return -1;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "open(\"%s\"): %s", tmp, strerror(errno));
        goto error;
    }
    if (state_write_all(fd, STATE_MAGIC "\n", strlen(STATE_MAGIC) + 1)) {
        goto write_error;
    }
    for (i = 0; i < st->n; i++) {
        n = state_format_entry(&st->e[i], rec, sizeof(rec));
        if (n < 0) {
            continue;                   /* a path over 4 KiB: not saved */
        }
        if (state_write_all(fd, rec, (size_t) n) != 0) {
            goto write_error;
        }
    }
    if (fsync(fd) != 0) {
        goto write_error;
    }
    if (close(fd) != 0) {
        fd = -1;
        goto write_error;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "rename(\"%s\", \"%s\"): %s", tmp, path,
            strerror(errno));
        goto error;
    }
    slash = strrchr(path, '/');
    if (slash == NULL) {
        dir[0] = '.';
        dir[1] = '\0';
    } else {
        size_t dl = slash == path ? 1 : (size_t) (slash - path);

        if (dl >= sizeof(dir)) {
            dl = sizeof(dir) - 1;
        }
        memcpy(dir, path, dl);
        dir[dl] = '\0';
    }
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        snprintf(err, errlen, "fsync(dir \"%s\"): %s", dir, strerror(errno));
        goto error;
    }
    close(dfd);
    return 0;

write_error:
    snprintf(err, errlen, "write(\"%s\"): %s", tmp, strerror(errno));
error:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    if (dfd >= 0) {
        close(dfd);
    }
    return -1;
}
