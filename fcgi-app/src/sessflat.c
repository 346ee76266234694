/* sessflat.c -- the canonical session document, held without a JSON tree
 *
 * Why: on a kept-cookie request jansson's json_loadb() was 41 % of a
 * worker's instructions (callgrind, 3,000 requests: about 27,500 of
 * 66,000 per request), building a hash table and strtod()-ing numbers for
 * a 150-byte document whose shape the app itself wrote.  Matching that
 * shape byte for byte costs a few hundred.  The template is the one
 * session_new() documents in session.h; see sessflat.h for the exact
 * rules and why everything else goes the general way.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "sessflat.h"

/* The literal pieces between the four values, in order. */
#define SESSFLAT_P0 "{\"cookie\":{\"originalMaxAge\":"
#define SESSFLAT_P1 ",\"expires\":\""
#define SESSFLAT_P2 "\",\"httpOnly\":true,\"path\":\"/\"},\"views\":"
#define SESSFLAT_P3 ",\"createdAt\":\""
#define SESSFLAT_P4 "\"}"

/* A cursor over the input: p advances, end bounds it. */
struct sessflat_in {
    const char *p;
    const char *end;
};

/* Consume the literal lit (n bytes).  0 / -1. */
static int
sessflat_lit(struct sessflat_in *in, const char *lit, size_t n)
{
    if ((size_t) (in->end - in->p) < n || memcmp(in->p, lit, n) != 0)
        return -1;
    in->p += n;
    return 0;
}

/* Consume an integer as JSON.stringify writes one: "0", or 1..15 digits
 * not starting with 0.  0 and *out set / -1. */
static int
sessflat_int(struct sessflat_in *in, int64_t *out)
{
    int64_t v = 0;
    int     n = 0;

    while (in->p < in->end && *in->p >= '0' && *in->p <= '9') {
        if (++n > SESSFLAT_MAX_DIGITS || (n == 2 && v == 0))
            return -1;
        v = v * 10 + (*in->p++ - '0');
    }
    if (n == 0)
        return -1;
    *out = v;
    return 0;
}

/* Consume the 24 characters of a toISOString() date into out (NUL
 * added).  Only the shape is checked: whether the date exists is
 * session.c's question, answered the same for both forms. */
static int
sessflat_iso(struct sessflat_in *in, char *out)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    int i;

    if (in->end - in->p < SESSFLAT_ISO_LEN)
        return -1;
    for (i = 0; i < SESSFLAT_ISO_LEN; i++) {
        char c = in->p[i];

        if (shape[i] == 'd' ? (c < '0' || c > '9') : c != shape[i])
            return -1;
        out[i] = c;
    }
    out[i] = '\0';
    in->p += SESSFLAT_ISO_LEN;
    return 0;
}

#define SESSFLAT_LIT(in, s) sessflat_lit((in), (s), sizeof(s) - 1)

/* See sessflat.h. */
int
sessflat_parse(const char *p, size_t len, struct sessflat *out)
{
    struct sessflat_in in;

    if (p == NULL)
        return -1;
    in.p = p;
    in.end = p + len;
    if (SESSFLAT_LIT(&in, SESSFLAT_P0) != 0
        || sessflat_int(&in, &out->max_age) != 0
        || SESSFLAT_LIT(&in, SESSFLAT_P1) != 0
        || sessflat_iso(&in, out->expires) != 0
        || SESSFLAT_LIT(&in, SESSFLAT_P2) != 0
        || sessflat_int(&in, &out->views) != 0
        || SESSFLAT_LIT(&in, SESSFLAT_P3) != 0
        || sessflat_iso(&in, out->created) != 0
        || SESSFLAT_LIT(&in, SESSFLAT_P4) != 0)
        return -1;
    return in.p == in.end ? 0 : -1;
}

/* See sessflat.h. */
int
sessflat_write(const struct sessflat *f, struct buf *out)
{
    buf_appends(out, SESSFLAT_P0);
    buf_append_ll(out, (long long) f->max_age);
    buf_appends(out, SESSFLAT_P1);
    buf_append(out, f->expires, SESSFLAT_ISO_LEN);
    buf_appends(out, SESSFLAT_P2);
    buf_append_ll(out, (long long) f->views);
    buf_appends(out, SESSFLAT_P3);
    buf_append(out, f->created, SESSFLAT_ISO_LEN);
    return buf_appends(out, SESSFLAT_P4);
}
