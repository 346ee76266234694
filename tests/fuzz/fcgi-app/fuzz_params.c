/* fuzz_params.c -- libFuzzer harness: FastCGI params and body through the
 * app's real request path
 *
 * The input is read as a list of (name, value) params plus an optional
 * body (format below).  The harness ENCODES them as a well-formed FastCGI
 * 1.0 request (BEGIN_REQUEST with a fuzzed keep-conn flag, the name-value
 * stream split across PARAMS records, optional padding, the empty PARAMS
 * record, the body split across STDIN records, the empty STDIN record),
 * writes it into one end of a socketpair and runs the app's own path on
 * the other end: fcgi_request_read() -> handler_serve() -> (the loop
 * until the answer is written) -> fcgi_request_finish(), with a real
 * config (config_load() from the fixed
 * environment set in LLVMFuzzerInitialize) and real metrics and log.
 * Redis is 127.0.0.1:1, where nothing listens, so the session routes take
 * the 503 path: at once when the connect is refused, or when the 5 ms
 * REDIS_TIMEOUT_MS budget runs out during the store's retry pause.
 *
 * Checked on the bytes read back from the peer: only STDOUT records then
 * one END_REQUEST (REQUEST_COMPLETE) with our request id, nothing after;
 * a CGI head of well-formed "Name: value" lines with at most one Status
 * (a known code), one Content-Type (application/json, or the Prometheus
 * text type only for /metrics with APP_INTERNAL=1), one Content-Length
 * equal to the body length (the body is empty for HEAD); every JSON body
 * loads with jansson as an object; session routes never answer 200 with
 * Redis down; 405 carries Allow, 503 carries Retry-After; the connection
 * stays open only when BEGIN_REQUEST asked for it, and then a second
 * request (GET /healthz) on it must be answered 200 (nothing of the first
 * request may be left behind).  The app's log goes to a temporary file
 * that is read back after each request: whole lines without control
 * bytes, log_message() lines and one access line carrying the status,
 * the body bytes and its closing quote, whatever the fields held.
 *
 * Malformed FastCGI framing is NOT generated, on purpose: Debian's libfcgi
 * 2.4.2 aborts on a crafted params record whose lengths overflow int
 * (CVE-2025-23016, see fcgi.c trap 5).  That is known and contained (the
 * port is never exposed; a crashed worker is respawned), and a harness
 * that finds it on every run would find nothing else.  Lengths are always
 * encoded correctly here, in 1 or 4 bytes (FastCGI spec 3.4).
 *
 * Input format (all lengths bounded; what runs past the end is cut):
 *   byte 0   flags: 1 keep-conn, 2 4-byte lengths even below 128,
 *            4 pad records to 8 bytes
 *   byte 1   PARAMS record size (0: as large as possible)
 *   byte 2   STDIN record size (0: as large as possible)
 *   byte 3   request id - 1
 *   then items; an item starts with a tag byte t:
 *     t == 0xff       the rest of the input is the body
 *     t & 0x1f        name: index into fuzz_names, or (past its end) a
 *                     custom name: one length byte (% 64) then the bytes
 *     t & 0x40        value: one byte, index into fuzz_values
 *     else t & 0x80   value: 2-byte big-endian length (% 4097), bytes
 *     else            value: 1-byte length, bytes
 * FUZZ_PARAMS_TRACE=1 in the environment prints one line per request.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "config.h"
#include "cookie.h"
#include "fcgi.h"
#include "handler.h"
#include "loop.h"
#include "log.h"
#include "metrics.h"
#include "router.h"

extern char **environ;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(x) do {                                                 \
    if (!(x)) {                                                            \
        fprintf(stderr, "fuzz_params.c:%d: check failed: %s\n", __LINE__,  \
                #x);                                                       \
        abort();                                                           \
    }                                                                      \
} while (0)

#define FUZZ_PARAMS_MAX   64
#define FUZZ_NAME_MAX     63
#define FUZZ_VALUE_MAX    4096
#define FUZZ_BODY_MAX     4096
#define FUZZ_WIRE_MAX     ((size_t) 96 * 1024)   /* < the socket buffer */
#define FUZZ_RESP_MAX     ((size_t) 1024 * 1024)
#define FUZZ_BODY_LIMIT   "512"         /* APP_BODY_LIMIT: 413 reachable */
#define FUZZ_SECRET       "fuzz-params-secret-0123456789abcdef"

/* FastCGI 1.0 (spec section 8) */
#define FUZZ_FCGI_VERSION        1
#define FUZZ_FCGI_BEGIN_REQUEST  1
#define FUZZ_FCGI_END_REQUEST    3
#define FUZZ_FCGI_PARAMS         4
#define FUZZ_FCGI_STDIN          5
#define FUZZ_FCGI_STDOUT         6
#define FUZZ_FCGI_RESPONDER      1
#define FUZZ_FCGI_KEEP_CONN      1
#define FUZZ_FCGI_HEADER_LEN     8
#define FUZZ_FCGI_CONTENT_MAX    65535

#define FUZZ_F_KEEP   0x01
#define FUZZ_F_LONG   0x02
#define FUZZ_F_PAD    0x04

#define FUZZ_METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"

static const char *const fuzz_names[] = {
    "REQUEST_METHOD", "REQUEST_URI", "CONTENT_LENGTH", "HTTP_COOKIE",
    "REMOTE_ADDR", "SERVER_PROTOCOL", "HTTP_REFERER", "HTTP_USER_AGENT",
    "APP_INTERNAL", "CONTENT_TYPE", "QUERY_STRING", "DOCUMENT_URI",
    "SCRIPT_NAME", "HTTP_HOST", "SERVER_NAME", "GATEWAY_INTERFACE"
};

#define FUZZ_NNAMES (sizeof(fuzz_names) / sizeof(fuzz_names[0]))

/* Slot FUZZ_VALUE_COOKIE is filled in by LLVMFuzzerInitialize with a
 * cookie signed by FUZZ_SECRET, so a valid session id reaches the store. */
#define FUZZ_VALUE_COOKIE 0
static const char *fuzz_values[] = {
    NULL, "GET", "HEAD", "POST", "DELETE", "/", "/session", "/hello/world",
    "/healthz", "/readyz", "/metrics", "/hello/%C3%A9t%C3%A9?x=1#f", "1",
    "0", "-1", "", "HTTP/1.1", "127.0.0.1", "18446744073709551616",
    "1125899906842625", "connect.sid=s%3Aabc.def",
    "connect.sid=s%3AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.x; a=b",
    "Mozilla/5.0 \"quoted\" \\ \x01", "/hello/%00", "/hello/%FF", "513"
};

#define FUZZ_NVALUES (sizeof(fuzz_values) / sizeof(fuzz_values[0]))

static struct config         fuzz_cfg;
static struct loop          *fuzz_loop;
static struct handler       *fuzz_handler;
static struct fcgi_request  *fuzz_req;
static char                  fuzz_cookie[512];
static int                   fuzz_trace;   /* FUZZ_PARAMS_TRACE=1 */
static int                   fuzz_log_fd = -1;   /* the app's log file */

/* One decoded param. */
struct fuzz_param {
    const char *name;
    size_t      nlen;
    const char *value;
    size_t      vlen;
};

/* What the app saw, copied before fcgi_request_finish() frees it. */
struct fuzz_seen {
    char *method;
    char *uri;
    char *internal;
};

/* Die with a message: the harness itself cannot run.  Never returns. */
static void
fuzz_die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_params: %s: %s\n", what, detail);
    exit(1);
}

/* Open the app's log on a temporary file (<dir>/fuzz.log, as log_open()
 * names it) and keep a second descriptor on it, so each request's lines
 * can be read back and checked; the file is emptied before each request.
 * The names are removed at once: both descriptors keep the inode.  Exits
 * on failure. */
static void
fuzz_log_init(void)
{
    char dir[] = "/tmp/fuzz_params.XXXXXX";
    char path[64], err[256];

    if (mkdtemp(dir) == NULL) {
        fuzz_die("mkdtemp", strerror(errno));
    }
    snprintf(path, sizeof(path), "%s/fuzz.log", dir);
    if (log_open(dir, "fuzz", LOG_LEVEL_DEBUG, err, sizeof(err)) != 0) {
        fuzz_die("log_open", err);
    }
    fuzz_log_fd = open(path, O_RDWR | O_CLOEXEC);
    if (fuzz_log_fd == -1) {
        fuzz_die("open", strerror(errno));
    }
    unlink(path);
    rmdir(dir);
}

/* Make fuzz_cookie a "connect.sid=s%3A<id>.<sig>" the app accepts. */
static void
fuzz_cookie_init(void)
{
    struct buf  b;
    const char *semi;

    buf_init(&b);
    if (cookie_format(&b, "connect.sid", "fuzzsessionid0123456789AB",
                      FUZZ_SECRET, INT64_C(1795662062345), 0) != 0
        || b.oom)
    {
        fuzz_die("cookie_format", "failed");
    }
    semi = strchr(b.data, ';');
    if (semi == NULL || (size_t) (semi - b.data) >= sizeof(fuzz_cookie)) {
        fuzz_die("cookie_format", b.data);
    }
    memcpy(fuzz_cookie, b.data, (size_t) (semi - b.data));
    fuzz_cookie[semi - b.data] = '\0';
    fuzz_values[FUZZ_VALUE_COOKIE] = fuzz_cookie;
    buf_free(&b);
}

/* Unset every variable the app's config could read (REDIS_*, SESSION_*,
 * APP_*, LOG_*), whatever settings exist now or later, so the run does
 * not depend on the caller's environment.  Can't fail. */
static void
fuzz_env_clear(void)
{
    static const char *const prefixes[] = {
        "REDIS_", "SESSION_", "APP_", "LOG_"
    };
    char    name[256];
    char  **e;
    size_t  i, n;
    int     again = 1;

    while (again) {
        again = 0;
        for (e = environ; *e != NULL && !again; e++) {
            for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
                n = strcspn(*e, "=");
                if (strncmp(*e, prefixes[i], strlen(prefixes[i])) == 0
                    && n < sizeof(name))
                {
                    memcpy(name, *e, n);
                    name[n] = '\0';
                    unsetenv(name);
                    again = 1;       /* environ changed: scan again */
                    break;
                }
            }
        }
    }
}

/* Fixed environment, config, log, metrics, libfcgi, one handler and one
 * request object, as a worker thread has them.  Exits on failure. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[512];

    (void) argc;
    (void) argv;
    /* as main.c: our SIGPIPE disposition before libfcgi's init */
    signal(SIGPIPE, SIG_IGN);
    fuzz_env_clear();
    setenv("SESSION_SECRET", FUZZ_SECRET, 1);
    setenv("REDIS_HOST", "127.0.0.1", 1);
    setenv("REDIS_PORT", "1", 1);
    setenv("REDIS_CONNECT_TIMEOUT_MS", "5", 1);
    setenv("REDIS_TIMEOUT_MS", "5", 1);
    setenv("APP_HOSTNAME", "fuzz", 1);
    setenv("APP_BODY_LIMIT", FUZZ_BODY_LIMIT, 1);
    setenv("APP_WORKERS", "1", 1);
    setenv("LOG_LEVEL", "debug", 1);
    if (config_load(&fuzz_cfg, err, sizeof(err)) != 0) {
        fuzz_die("config_load", err);
    }
    fuzz_log_init();
    if (metrics_create(err, sizeof(err)) != 0) {
        fuzz_die("metrics_create", err);
    }
    if (fcgi_library_init(err, sizeof(err)) != 0) {
        fuzz_die("fcgi_library_init", err);
    }
    fuzz_loop = loop_create(err, sizeof(err));
    if (fuzz_loop == NULL) {
        fuzz_die("loop_create", err);
    }
    fuzz_handler = handler_create(&fuzz_cfg, fuzz_loop, err, sizeof(err));
    if (fuzz_handler == NULL) {
        fuzz_die("handler_create", err);
    }
    fuzz_req = fcgi_request_create();
    if (fuzz_req == NULL) {
        fuzz_die("fcgi_request_create", "out of memory");
    }
    fuzz_cookie_init();
    fuzz_trace = getenv("FUZZ_PARAMS_TRACE") != NULL;
    return 0;
}

/* Append one FastCGI record (header, content, optional zero padding). */
static void
fuzz_record(struct buf *w, int type, unsigned id, const char *p, size_t len,
            int pad)
{
    unsigned char h[FUZZ_FCGI_HEADER_LEN];
    size_t        padlen = pad ? (8 - len % 8) % 8 : 0;
    static const char zeros[8];

    h[0] = FUZZ_FCGI_VERSION;
    h[1] = (unsigned char) type;
    h[2] = (unsigned char) (id >> 8);
    h[3] = (unsigned char) id;
    h[4] = (unsigned char) (len >> 8);
    h[5] = (unsigned char) len;
    h[6] = (unsigned char) padlen;
    h[7] = 0;
    buf_append(w, (const char *) h, sizeof(h));
    buf_append(w, p, len);
    buf_append(w, zeros, padlen);
}

/* Append a stream: p[0..len) in records of at most chunk bytes (0: the
 * largest), then the empty record that ends it. */
static void
fuzz_stream(struct buf *w, int type, unsigned id, const char *p, size_t len,
            size_t chunk, int pad)
{
    size_t n;

    if (chunk == 0) {
        chunk = FUZZ_FCGI_CONTENT_MAX;
    }
    while (len > 0) {
        n = len < chunk ? len : chunk;
        fuzz_record(w, type, id, p, n, pad);
        p += n;
        len -= n;
    }
    fuzz_record(w, type, id, "", 0, pad);
}

/* Append a name-value length (spec 3.4): 1 byte below 128 unless
 * force_long, else 4 bytes with the high bit set. */
static void
fuzz_nv_len(struct buf *nv, size_t len, int force_long)
{
    unsigned char b[4];

    if (len < 128 && !force_long) {
        b[0] = (unsigned char) len;
        buf_append(nv, (const char *) b, 1);
        return;
    }
    b[0] = (unsigned char) (((len >> 24) & 0x7f) | 0x80);
    b[1] = (unsigned char) (len >> 16);
    b[2] = (unsigned char) (len >> 8);
    b[3] = (unsigned char) len;
    buf_append(nv, (const char *) b, 4);
}

/* Encode a whole request (BEGIN_REQUEST, PARAMS, STDIN) into w. */
static void
fuzz_encode(struct buf *w, unsigned id, int flags, size_t pchunk,
            size_t schunk, const struct fuzz_param *pv, size_t np,
            const char *body, size_t bodylen)
{
    unsigned char begin[8] = { 0, FUZZ_FCGI_RESPONDER, 0, 0, 0, 0, 0, 0 };
    struct buf    nv;
    size_t        i;
    int           pad = (flags & FUZZ_F_PAD) != 0;

    begin[2] = (flags & FUZZ_F_KEEP) ? FUZZ_FCGI_KEEP_CONN : 0;
    fuzz_record(w, FUZZ_FCGI_BEGIN_REQUEST, id, (const char *) begin,
                sizeof(begin), pad);
    buf_init(&nv);
    for (i = 0; i < np; i++) {
        fuzz_nv_len(&nv, pv[i].nlen, flags & FUZZ_F_LONG);
        fuzz_nv_len(&nv, pv[i].vlen, flags & FUZZ_F_LONG);
        buf_append(&nv, pv[i].name, pv[i].nlen);
        buf_append(&nv, pv[i].value, pv[i].vlen);
    }
    FUZZ_CHECK(!nv.oom);
    fuzz_stream(w, FUZZ_FCGI_PARAMS, id, nv.data ? nv.data : "", nv.len,
                pchunk, pad);
    fuzz_stream(w, FUZZ_FCGI_STDIN, id, body, bodylen, schunk, pad);
    buf_free(&nv);
}

/* Take n bytes from the input cursor; fewer if it runs out. */
static const char *
fuzz_take(const uint8_t **p, const uint8_t *end, size_t n, size_t *got)
{
    const char *s = (const char *) *p;

    if (n > (size_t) (end - *p)) {
        n = (size_t) (end - *p);
    }
    *p += n;
    *got = n;
    return s;
}

/* Decode the items after the 4 header bytes.  Returns the param count;
 * body and bodylen get the body (possibly empty). */
static size_t
fuzz_decode(const uint8_t *p, const uint8_t *end, struct fuzz_param *pv,
            const char **body, size_t *bodylen)
{
    size_t   np = 0, idx, n;
    unsigned t;

    *body = "";
    *bodylen = 0;
    while (p < end && np < FUZZ_PARAMS_MAX) {
        t = *p++;
        if (t == 0xff) {
            *body = fuzz_take(&p, end, FUZZ_BODY_MAX, bodylen);
            break;
        }
        idx = t & 0x1f;
        if (idx < FUZZ_NNAMES) {
            pv[np].name = fuzz_names[idx];
            pv[np].nlen = strlen(fuzz_names[idx]);
        } else {
            n = p < end ? (size_t) (*p++ % (FUZZ_NAME_MAX + 1)) : 0;
            pv[np].name = fuzz_take(&p, end, n, &pv[np].nlen);
        }
        if (t & 0x40) {
            idx = p < end ? (size_t) (*p++ % FUZZ_NVALUES) : 0;
            pv[np].value = fuzz_values[idx];
            pv[np].vlen = strlen(fuzz_values[idx]);
        } else {
            if (t & 0x80) {
                n = p < end ? (size_t) *p++ << 8 : 0;
                n |= p < end ? (size_t) *p++ : 0;
                n %= FUZZ_VALUE_MAX + 1;
            } else {
                n = p < end ? (size_t) *p++ : 0;
            }
            pv[np].value = fuzz_take(&p, end, n, &pv[np].vlen);
        }
        np++;
    }
    return np;
}

/* Write all of w to fd (it fits in the socket buffer). */
static void
fuzz_write_all(int fd, const struct buf *w)
{
    size_t  off = 0;
    ssize_t n;

    while (off < w->len) {
        n = write(fd, w->data + off, w->len - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        FUZZ_CHECK(n > 0);
        off += (size_t) n;
    }
}

/* Read what the app wrote (all of it is already there: the app's calls
 * are synchronous) into r, without blocking. */
static void
fuzz_read_all(int fd, struct buf *r)
{
    char    tmp[16384];
    ssize_t n;

    for (;;) {
        n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        if (n <= 0) {
            return;                /* EOF (shut down) or reset */
        }
        buf_append(r, tmp, (size_t) n);
        FUZZ_CHECK(!r->oom && r->len <= FUZZ_RESP_MAX);
    }
}

/* Check the record stream in r (STDOUT records, then END_REQUEST with
 * REQUEST_COMPLETE, nothing after) and collect the STDOUT bytes. */
static void
fuzz_check_records(const struct buf *r, unsigned id, struct buf *out)
{
    const unsigned char *p = (const unsigned char *) r->data;
    size_t               pos = 0, clen, plen;
    int                  ended = 0;

    while (pos < r->len) {
        FUZZ_CHECK(!ended);
        FUZZ_CHECK(r->len - pos >= FUZZ_FCGI_HEADER_LEN);
        FUZZ_CHECK(p[pos] == FUZZ_FCGI_VERSION);
        FUZZ_CHECK(((unsigned) p[pos + 2] << 8 | p[pos + 3]) == id);
        clen = (size_t) p[pos + 4] << 8 | p[pos + 5];
        plen = p[pos + 6];
        FUZZ_CHECK(r->len - pos - FUZZ_FCGI_HEADER_LEN >= clen + plen);
        if (p[pos + 1] == FUZZ_FCGI_STDOUT) {
            buf_append(out, r->data + pos + FUZZ_FCGI_HEADER_LEN, clen);
        } else {
            FUZZ_CHECK(p[pos + 1] == FUZZ_FCGI_END_REQUEST);
            FUZZ_CHECK(clen == 8);
            FUZZ_CHECK(p[pos + FUZZ_FCGI_HEADER_LEN + 4] == 0);
            ended = 1;
        }
        pos += FUZZ_FCGI_HEADER_LEN + clen + plen;
    }
    FUZZ_CHECK(ended);
    FUZZ_CHECK(!out->oom);
}

/* The parts of a response the checks look at. */
struct fuzz_resp {
    int         status;
    const char *ctype;
    size_t      ctype_len;
    long long   clen;
    int         allow;
    int         retry_after;
    const char *body;
    size_t      body_len;
};

/* 1 if s[0..n) equals the NUL-terminated lit. */
static int
fuzz_eq(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* Parse one header line l[0..n) into rs; checks its shape. */
static void
fuzz_header_line(const char *l, size_t n, struct fuzz_resp *rs)
{
    const char *colon = memchr(l, ':', n);
    const char *v;
    size_t      nlen, vlen, i;

    FUZZ_CHECK(colon != NULL && colon > l);
    nlen = (size_t) (colon - l);
    for (i = 0; i < nlen; i++) {
        FUZZ_CHECK(l[i] == '-' || (l[i] >= 'A' && l[i] <= 'Z')
                   || (l[i] >= 'a' && l[i] <= 'z'));
    }
    FUZZ_CHECK(n > nlen + 1 && colon[1] == ' ');
    v = colon + 2;
    vlen = n - nlen - 2;
    for (i = 0; i < vlen; i++) {
        FUZZ_CHECK((unsigned char) v[i] >= 0x20 && v[i] != 0x7f);
    }
    if (fuzz_eq(l, nlen, "Status")) {
        FUZZ_CHECK(rs->status == 0);
        FUZZ_CHECK(vlen > 4 && v[3] == ' ');
        for (i = 0; i < 3; i++) {
            FUZZ_CHECK(v[i] >= '0' && v[i] <= '9');
        }
        rs->status = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
        FUZZ_CHECK(rs->status != 200);   /* 200 is sent as no Status */
    } else if (fuzz_eq(l, nlen, "Content-Type")) {
        FUZZ_CHECK(rs->ctype == NULL);
        rs->ctype = v;
        rs->ctype_len = vlen;
    } else if (fuzz_eq(l, nlen, "Content-Length")) {
        FUZZ_CHECK(rs->clen < 0);
        FUZZ_CHECK(vlen > 0 && vlen < 12);
        rs->clen = 0;
        for (i = 0; i < vlen; i++) {
            FUZZ_CHECK(v[i] >= '0' && v[i] <= '9');
            rs->clen = rs->clen * 10 + (v[i] - '0');
        }
    } else if (fuzz_eq(l, nlen, "Allow")) {
        rs->allow = 1;
    } else if (fuzz_eq(l, nlen, "Retry-After")) {
        rs->retry_after = fuzz_eq(v, vlen, "1");
    }
}

/* Split the CGI response out[0..len) into head lines and body; fill rs. */
static void
fuzz_parse_resp(const struct buf *out, struct fuzz_resp *rs)
{
    const char *p = out->data, *end, *eol;

    memset(rs, 0, sizeof(*rs));
    rs->clen = -1;
    FUZZ_CHECK(p != NULL);
    end = memmem(p, out->len, "\r\n\r\n", 4);
    FUZZ_CHECK(end != NULL);
    while (p < end + 2) {
        eol = memmem(p, (size_t) (end + 2 - p), "\r\n", 2);
        FUZZ_CHECK(eol != NULL);
        FUZZ_CHECK(memchr(p, '\r', (size_t) (eol - p)) == NULL);
        FUZZ_CHECK(memchr(p, '\n', (size_t) (eol - p)) == NULL);
        fuzz_header_line(p, (size_t) (eol - p), rs);
        p = eol + 2;
    }
    rs->body = end + 4;
    rs->body_len = out->len - (size_t) (end + 4 - out->data);
    if (rs->status == 0) {
        rs->status = 200;
    }
}

/* Check one response against what the app was asked (seen) and whether
 * the connection was kept. */
static void
fuzz_check_resp(const struct fuzz_resp *rs, const struct fuzz_seen *seen,
                int keep_flag, int kept)
{
    struct route_match m;
    json_t            *j;
    json_error_t       jerr;
    int                head, json, bad_head;

    FUZZ_CHECK(rs->status == 200 || rs->status == 400 || rs->status == 404
               || rs->status == 405 || rs->status == 413
               || rs->status == 500 || rs->status == 503);
    FUZZ_CHECK(rs->ctype != NULL && rs->clen >= 0);
    json = fuzz_eq(rs->ctype, rs->ctype_len, "application/json");
    if (!json) {
        FUZZ_CHECK(fuzz_eq(rs->ctype, rs->ctype_len, FUZZ_METRICS_TYPE));
        FUZZ_CHECK(rs->status == 200);
        FUZZ_CHECK(seen->internal != NULL
                   && strcmp(seen->internal, "1") == 0);
    }
    head = seen->method != NULL && strcmp(seen->method, "HEAD") == 0;
    if (head) {
        FUZZ_CHECK(rs->body_len == 0);
    } else {
        FUZZ_CHECK((size_t) rs->clen == rs->body_len);
    }
    if (json && !head) {
        j = json_loadb(rs->body, rs->body_len, 0, &jerr);
        if (j == NULL) {
            fprintf(stderr, "fuzz_params: JSON body: %s: %.*s\n", jerr.text,
                    (int) rs->body_len, rs->body);
        }
        FUZZ_CHECK(j != NULL && json_is_object(j));
        if (rs->status != 200) {
            FUZZ_CHECK(json_is_string(json_object_get(j, "error")));
        }
        json_decref(j);
    }
    if (rs->status == 405) {
        FUZZ_CHECK(rs->allow);
    }
    if (rs->status == 503) {
        FUZZ_CHECK(rs->retry_after);
    }
    if (!keep_flag) {
        FUZZ_CHECK(kept < 0);
    }
    bad_head = seen->method == NULL || seen->uri == NULL
               || seen->method[0] == '\0' || seen->uri[0] != '/';
    if (bad_head) {
        FUZZ_CHECK(rs->status == 400 && kept < 0);
        return;
    }
    if (rs->status == 400 || rs->status == 413) {
        /* a refused head or body closes the connection, except a 400 for
         * a /hello name jsonw refused (not reachable: router checks) */
        router_match(seen->method, seen->uri, strlen(seen->uri), &m);
        if (m.id != ROUTE_BAD_REQUEST && m.id != ROUTE_HELLO) {
            FUZZ_CHECK(kept < 0);
        }
    }
    router_match(seen->method, seen->uri, strlen(seen->uri), &m);
    if (m.id == ROUTE_ROOT || m.id == ROUTE_SESSION
        || m.id == ROUTE_READYZ)
    {
        FUZZ_CHECK(rs->status != 200);      /* Redis is down */
    }
    if (m.id == ROUTE_HEALTHZ && rs->status == 200 && !head) {
        FUZZ_CHECK(fuzz_eq(rs->body, rs->body_len, "{\"status\":\"ok\"}"));
    }
}

/* 1 if l[0..n) starts like a log_message() line:
 * "YYYY-MM-DDTHH:MM:SS.mmmZ <level> [". */
static int
fuzz_log_message_line(const char *l, size_t n)
{
    static const char *const levels[] = {
        "error [", "warn [", "info [", "debug ["
    };
    static const char tmpl[] = "dddd-dd-ddTdd:dd:dd.dddZ ";
    size_t i, k = sizeof(tmpl) - 1;

    if (n < k) {
        return 0;
    }
    for (i = 0; i < k; i++) {
        if (tmpl[i] == 'd' ? (l[i] < '0' || l[i] > '9') : l[i] != tmpl[i]) {
            return 0;
        }
    }
    for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        if (n - k >= strlen(levels[i])
            && memcmp(l + k, levels[i], strlen(levels[i])) == 0)
        {
            return 1;
        }
    }
    return 0;
}

/* Check the log lines of one request: whole lines without control bytes,
 * log_message() lines and exactly one access line, which must carry
 * '" <status> <bytes> ' and end with the quoted user agent (a field that
 * broke the line or pushed the tail out fails here: its fragments are
 * neither).  The access line need not be last: a timer due in the turn
 * that finished the response may log after it (seen: the rate-limited
 * 503 warning's "N more like it" line). */
static void
fuzz_check_log(int status, size_t sent)
{
    char        want[64], *text;
    const char *l, *eol, *end;
    off_t       size;
    size_t      n, i, access = 0;

    size = lseek(fuzz_log_fd, 0, SEEK_END);
    FUZZ_CHECK(size > 0 && (size_t) size <= FUZZ_RESP_MAX);
    text = malloc((size_t) size);
    FUZZ_CHECK(text != NULL);
    FUZZ_CHECK(pread(fuzz_log_fd, text, (size_t) size, 0) == size);
    FUZZ_CHECK(text[size - 1] == '\n');
    end = text + size;
    snprintf(want, sizeof(want), "\" %d %zu ", status, sent);
    for (l = text; l < end; l = eol + 1) {
        eol = memchr(l, '\n', (size_t) (end - l));
        n = (size_t) (eol - l);
        for (i = 0; i < n; i++) {
            FUZZ_CHECK((unsigned char) l[i] >= 0x20 && l[i] != 0x7f);
        }
        if (fuzz_log_message_line(l, n)) {
            continue;
        }
        access++;
        if (access > 1 || n == 0 || l[n - 1] != '"'
            || memmem(l, n, want, strlen(want)) == NULL)
        {
            fprintf(stderr, "fuzz_params: line at byte %zu is neither a "
                    "log_message() line nor the one access line with '%s' "
                    "and the closing quote:\n--- whole log:\n%.*s---\n",
                    (size_t) (l - text), want, (int) size, text);
            FUZZ_CHECK(0);
        }
    }
    FUZZ_CHECK(access == 1);
    free(text);
}

/* Duplicate a param the app read (NULL stays NULL). */
static char *
fuzz_dup(const char *s)
{
    char *d;

    if (s == NULL) {
        return NULL;
    }
    d = strdup(s);
    FUZZ_CHECK(d != NULL);
    return d;
}

/* handler_serve()'s done callback: the response is written. */
static void
fuzz_done(void *arg)
{
    *(int *) arg = 1;
}

/* Serve the request already written to the peer of fd; returns what
 * fcgi_request_finish() returned (the fd if kept) and fills seen.  The
 * session routes finish on later loop turns (Redis refuses at once, or
 * REDIS_TIMEOUT_MS runs out): the loop runs until done. */
static int
fuzz_serve(int fd, struct fuzz_seen *seen)
{
    int kept, closing, done = 0, turns = 0;

    FUZZ_CHECK(ftruncate(fuzz_log_fd, 0) == 0);
    FUZZ_CHECK(fcgi_request_read(fuzz_req, fd) == 0);
    handler_serve(fuzz_handler, fuzz_req, fuzz_done, &done);
    while (!done) {
        FUZZ_CHECK(++turns < 10000);
        (void) loop_turn(fuzz_loop, 100, NULL);
    }
    seen->method = fuzz_dup(fcgi_request_param(fuzz_req, "REQUEST_METHOD"));
    seen->uri = fuzz_dup(fcgi_request_param(fuzz_req, "REQUEST_URI"));
    seen->internal = fuzz_dup(fcgi_request_param(fuzz_req, "APP_INTERNAL"));
    kept = fcgi_request_finish(fuzz_req, &closing);
    if (kept >= 0) {
        FUZZ_CHECK(kept == fd);
    } else if (closing >= 0) {
        FUZZ_CHECK(closing == fd);
        close(closing);
    }
    return kept;
}

/* Free the copies in seen. */
static void
fuzz_seen_free(struct fuzz_seen *seen)
{
    free(seen->method);
    free(seen->uri);
    free(seen->internal);
    memset(seen, 0, sizeof(*seen));
}

/* Read and check one response of request id on peer. */
static void
fuzz_collect(int peer, unsigned id, const struct fuzz_seen *seen,
             int keep_flag, int kept)
{
    struct buf       r, out;
    struct fuzz_resp rs;

    buf_init(&r);
    buf_init(&out);
    fuzz_read_all(peer, &r);
    fuzz_check_records(&r, id, &out);
    fuzz_parse_resp(&out, &rs);
    if (fuzz_trace) {
        fprintf(stderr, "fuzz_params: %.40s %.80s -> %d %.*s kept=%d "
                "len=%lld\n",
                seen->method ? seen->method : "(none)",
                seen->uri ? seen->uri : "(none)", rs.status,
                (int) rs.ctype_len, rs.ctype ? rs.ctype : "", kept >= 0,
                rs.clen);
    }
    fuzz_check_resp(&rs, seen, keep_flag, kept);
    fuzz_check_log(rs.status, rs.body_len);
    buf_free(&r);
    buf_free(&out);
}

/* On a kept connection: GET /healthz must now be answered 200. */
static void
fuzz_second_request(int peer, int fd, unsigned id)
{
    static const struct fuzz_param pv[] = {
        { "REQUEST_METHOD", 14, "GET", 3 },
        { "REQUEST_URI", 11, "/healthz", 8 }
    };
    struct fuzz_seen seen = { NULL, NULL, NULL };
    struct buf       w, r, out;
    struct fuzz_resp rs;
    int              kept;

    buf_init(&w);
    buf_init(&r);
    buf_init(&out);
    fuzz_encode(&w, id, 0, 0, 0, pv, 2, "", 0);
    FUZZ_CHECK(!w.oom);
    fuzz_write_all(peer, &w);
    kept = fuzz_serve(fd, &seen);
    FUZZ_CHECK(kept < 0);
    fuzz_read_all(peer, &r);
    fuzz_check_records(&r, id, &out);
    fuzz_parse_resp(&out, &rs);
    fuzz_check_resp(&rs, &seen, 0, kept);
    FUZZ_CHECK(rs.status == 200);
    fuzz_check_log(rs.status, rs.body_len);
    fuzz_seen_free(&seen);
    buf_free(&w);
    buf_free(&r);
    buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_param  pv[FUZZ_PARAMS_MAX];
    struct fuzz_seen   seen = { NULL, NULL, NULL };
    struct timeval     tv = { 2, 0 };
    struct buf         w;
    const char        *body;
    size_t             np, bodylen;
    unsigned           id;
    int                sv[2], flags, kept;

    if (size < 4) {
        return 0;
    }
    flags = data[0];
    id = (unsigned) data[3] + 1;
    np = fuzz_decode(data + 4, data + size, pv, &body, &bodylen);
    buf_init(&w);
    fuzz_encode(&w, id, flags, data[1], data[2], pv, np, body, bodylen);
    FUZZ_CHECK(!w.oom);
    if (w.len > FUZZ_WIRE_MAX) {
        buf_free(&w);
        return 0;
    }
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    /* as worker.c does on accepted sockets: bounded reads and writes */
    setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(sv[1], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    fuzz_write_all(sv[0], &w);
    buf_free(&w);

    kept = fuzz_serve(sv[1], &seen);
    fuzz_collect(sv[0], id, &seen, flags & FUZZ_F_KEEP, kept);
    fuzz_seen_free(&seen);
    if (kept >= 0) {
        fuzz_second_request(sv[0], kept, id % 65535 + 1);
    }
    close(sv[0]);
    return 0;
}
