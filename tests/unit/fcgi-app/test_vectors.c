/* test_vectors.c -- checks CORE against vectors made by node (vectors.js)
 *
 * Reads the file named by argv[1] or $VECTORS_FILE (test_vectors.sh makes
 * it with Debian's real cookie, cookie-signature and uid-safe modules) and
 * prints one "ok"/"not ok" line per kind of vector, with the count, and
 * the first mismatch as the reason.  Without a file it reports a skip and
 * exits 77 (tests/run also runs this binary bare).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cookie.h"
#include "pct.h"
#include "session.h"
#include "sign.h"
#include "utf8.h"

#define VEC_MAX_FIELDS 8

struct vec_kind {
    const char *name;
    long        total;
    long        failed;
    long        extra;          /* kind-specific: accepted, policy... */
    char        first[256];
};

static struct vec_kind kinds[] = {
    { "sign", 0, 0, 0, "" },   { "format", 0, 0, 0, "" },
    { "cookie", 0, 0, 0, "" }, { "uid24", 0, 0, 0, "" },
    { "uid", 0, 0, 0, "" },    { "iso", 0, 0, 0, "" },
    { "imf", 0, 0, 0, "" },    { "enc", 0, 0, 0, "" },
    { "dec", 0, 0, 0, "" },    { "snew", 0, 0, 0, "" },
    { "stouch", 0, 0, 0, "" }, { "sbad", 0, 0, 0, "" },
};

/* A decoded field: bytes (NUL-terminated) or a number. */
struct vec_field {
    char    *p;         /* NULL for "-" */
    size_t   len;
    int64_t  num;
};

static int
vec_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decode one token into f.  0, or -1 when malformed. */
static int
vec_field(const char *t, struct vec_field *f)
{
    size_t n, i;
    char  *end;
    int    hi, lo;

    f->p = NULL;
    f->len = 0;
    f->num = 0;
    if (strcmp(t, "-") == 0)
        return 0;
    if (t[0] == 'x') {
        n = strlen(t + 1);
        if (n % 2 != 0)
            return -1;
        f->p = malloc(n / 2 + 1);
        if (f->p == NULL)
            return -1;
        for (i = 0; i < n / 2; i++) {
            hi = vec_hexval(t[1 + 2 * i]);
            lo = vec_hexval(t[2 + 2 * i]);
            if (hi < 0 || lo < 0)
                return -1;
            f->p[i] = (char) (hi << 4 | lo);
        }
        f->p[n / 2] = '\0';
        f->len = n / 2;
        return 0;
    }
    errno = 0;
    f->num = strtoll(t, &end, 10);
    if (errno != 0 || end == t || *end != '\0')
        return -1;
    return 0;
}

static void
vec_fail(struct vec_kind *k, long line, const char *what, const char *got)
{
    k->failed++;
    if (k->first[0] == '\0')
        snprintf(k->first, sizeof(k->first), "line %ld: %s (got %.120s)",
                 line, what, got ? got : "(none)");
}

/* Next space-separated token of *rest (NUL-terminated in place), or NULL
 * at the end. */
static char *
vec_token(char **rest)
{
    char *t = *rest, *sp;

    while (*t == ' ')
        t++;
    if (*t == '\0')
        return NULL;
    sp = strchr(t, ' ');
    if (sp != NULL) {
        *sp = '\0';
        *rest = sp + 1;
    } else {
        *rest = t + strlen(t);
    }
    return t;
}

/* Run one vector; f[0..n) are its fields. */
static void
vec_check(struct vec_kind *k, long line, struct vec_field *f, int n)
{
    struct buf  b;
    char        sig[SIGN_B64_LEN + 1], tmp[64], id[SIGN_ID_MAX + 1];
    const char *secrets[8];
    size_t      ns, outlen;
    char       *p, *dec;
    struct session *s;
    char        err[256];
    int         rc;

    buf_init(&b);
    k->total++;
    if (strcmp(k->name, "sign") == 0 && n == 3) {
        if (sign_hmac_b64(f[0].p, f[0].len, f[1].p, f[1].len, sig,
                          sizeof(sig)) != 0 || strcmp(sig, f[2].p) != 0)
            vec_fail(k, line, "signature differs", sig);
    } else if (strcmp(k->name, "format") == 0 && n == 6) {
        if (cookie_format(&b, f[0].p, f[1].p, f[2].p, f[3].num,
                          (int) f[4].num) != 0
            || strcmp(b.data, f[5].p) != 0)
            vec_fail(k, line, "Set-Cookie differs", b.data);
    } else if (strcmp(k->name, "cookie") == 0 && n == 5) {
        /* Secrets are joined with '\n'. */
        ns = 0;
        for (p = f[2].p; p != NULL && ns < 8; ) {
            secrets[ns++] = p;
            p = strchr(p, '\n');
            if (p != NULL)
                *p++ = '\0';
        }
        rc = cookie_session_id(f[0].p, f[0].len, f[1].p, secrets, ns, id,
                               sizeof(id));
        if (f[3].p == NULL && rc == 0)
            vec_fail(k, line, "accepted what must be refused", id);
        else if (f[3].p != NULL && (rc != 0 || strcmp(id, f[3].p) != 0))
            vec_fail(k, line, "refused a valid cookie", f[3].p);
        if (f[3].p != NULL)
            k->extra++;
    } else if ((strcmp(k->name, "uid24") == 0
                || strcmp(k->name, "uid") == 0) && n == 1) {
        if (!sign_id_valid(f[0].p, f[0].len)
            || (k->name[3] == '2' && f[0].len != SIGN_ID_LEN))
            vec_fail(k, line, "uid-safe id refused", f[0].p);
    } else if (strcmp(k->name, "iso") == 0 && n == 2) {
        if (session_iso8601(f[0].num, tmp, sizeof(tmp)) != 0
            || strcmp(tmp, f[1].p) != 0)
            vec_fail(k, line, "toISOString differs", tmp);
        else if (session_parse_iso8601(f[1].p) != f[0].num)
            vec_fail(k, line, "ISO parse differs", f[1].p);
    } else if (strcmp(k->name, "imf") == 0 && n == 2) {
        if (cookie_imf_fixdate(f[0].num, tmp, sizeof(tmp)) != 0
            || strcmp(tmp, f[1].p) != 0)
            vec_fail(k, line, "toUTCString differs", tmp);
    } else if (strcmp(k->name, "enc") == 0 && n == 2) {
        if (pct_encode_component(&b, f[0].p, f[0].len) != 0
            || strcmp(b.data ? b.data : "", f[1].p) != 0)
            vec_fail(k, line, "encodeURIComponent differs", b.data);
    } else if (strcmp(k->name, "dec") == 0 && n == 2) {
        dec = malloc(f[0].len + 1);
        rc = dec == NULL ? -1
             : pct_decode(f[0].p, f[0].len, dec, f[0].len + 1, &outlen);
        if (rc == 0 && !utf8_valid(dec, outlen))
            rc = -1;
        if (f[1].p == NULL && rc == 0)
            vec_fail(k, line, "decoded what must fail", dec);
        else if (f[1].p != NULL && (rc != 0 || outlen != f[1].len
                                    || memcmp(dec, f[1].p, outlen) != 0))
            vec_fail(k, line, "decodeURIComponent differs", f[0].p);
        free(dec);
    } else if (strcmp(k->name, "snew") == 0 && n == 3) {
        s = session_new(f[0].num, f[1].num);
        if (s == NULL || session_dump(s, &b) != 0
            || strcmp(b.data, f[2].p) != 0)
            vec_fail(k, line, "new session differs", b.data);
        session_destroy(s);
    } else if (strcmp(k->name, "stouch") == 0 && n == 3) {
        s = session_parse(f[1].p, f[1].len, err, sizeof(err));
        if (s == NULL)
            vec_fail(k, line, "parse failed", err);
        else if (session_touch(s, f[0].num) != 0
                 || session_dump(s, &b) != 0 || b.len != f[2].len
                 || memcmp(b.data, f[2].p, b.len) != 0)
            vec_fail(k, line, "touched session differs", b.data);
        session_destroy(s);
    } else if (strcmp(k->name, "sbad") == 0 && n == 1) {
        s = session_parse(f[0].p, f[0].len, err, sizeof(err));
        if (s != NULL)
            vec_fail(k, line, "bad document accepted", f[0].p);
        session_destroy(s);
    } else {
        vec_fail(k, line, "wrong number of fields", NULL);
    }
    buf_free(&b);
}

int
main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : getenv("VECTORS_FILE");
    struct vec_field f[VEC_MAX_FIELDS];
    struct vec_kind *k;
    FILE   *fp;
    char   *line = NULL, *tok, *save;
    size_t  cap = 0, i;
    long    lineno = 0, unknown = 0;
    int     n, bad, failed = 0;

    if (path == NULL || path[0] == '\0') {
        printf("skip - vectors: no vectors file (run "
               "tests/unit/fcgi-app/test_vectors.sh)\n");
        return 77;
    }
    fp = fopen(path, "r");
    if (fp == NULL) {
        printf("not ok - vectors_open: %s: %s\n", path, strerror(errno));
        return 1;
    }
    while (getline(&line, &cap, fp) != -1) {
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        save = line;
        tok = vec_token(&save);
        if (tok == NULL)
            continue;
        k = NULL;
        for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
            if (strcmp(tok, kinds[i].name) == 0)
                k = &kinds[i];
        }
        if (k == NULL) {
            unknown++;
            continue;
        }
        n = 0;
        bad = 0;
        for (tok = vec_token(&save); tok != NULL; tok = vec_token(&save)) {
            if (n == VEC_MAX_FIELDS || vec_field(tok, &f[n]) != 0) {
                bad = 1;
                if (n < VEC_MAX_FIELDS)
                    free(f[n].p);
                break;
            }
            n++;
        }
        if (bad) {
            k->total++;
            vec_fail(k, lineno, "malformed vector line", NULL);
        } else {
            vec_check(k, lineno, f, n);
        }
        while (n > 0)
            free(f[--n].p);
    }
    free(line);
    fclose(fp);

    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        k = &kinds[i];
        if (k->total == 0) {
            printf("not ok - vectors_%s: no vectors in %s\n", k->name, path);
            failed = 1;
        } else if (k->failed > 0) {
            printf("not ok - vectors_%s: %ld of %ld failed; first: %s\n",
                   k->name, k->failed, k->total, k->first);
            failed = 1;
        } else if (strcmp(k->name, "cookie") == 0) {
            printf("ok - vectors_%s (%ld, %ld accepted)\n", k->name,
                   k->total, k->extra);
        } else {
            printf("ok - vectors_%s (%ld)\n", k->name, k->total);
        }
    }
    if (unknown > 0) {
        printf("not ok - vectors_kinds: %ld lines of unknown kind\n",
               unknown);
        failed = 1;
    }
    return failed;
}
