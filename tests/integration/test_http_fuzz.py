#!/usr/bin/env python3
"""test_http_fuzz.py -- seeded raw-HTTP fuzz of the whole chain, through nginx.

Real nginx (nginx/app/*.conf), the real pool and Redis from
lib/tools/stack.py.  A generator writes raw requests over sockets: bad
methods and request lines, odd, long and repeated cookies (and the real
session cookie, whole and tampered), header lines and header sections
around nginx's limits, Content-Length and Transfer-Encoding in every
combination (both, bad chunk sizes, negative, huge), pipelined requests,
requests cut short, sent in pieces.  Every answer must be JSON
(Content-Type application/json and a body that parses; on the internal
server a 200 for /metrics is Prometheus text), with no 5xx but 503 (501
and 505 only where the request asked for them: an unknown
Transfer-Encoding, an HTTP/2+ request line), and no pool worker may crash
(fcgi_app_worker_restarts_total{reason="crash"} before and after; nginx's
error log for crashed workers).

Connections nginx closes without an answer are counted by why: the request
was cut short on purpose, nginx was still waiting for the rest of it (we
then close our side), or earlier answers had closed the connection.  A
complete, unmutated request that gets no answer fails.

Bounded and reproducible: FUZZ_HTTP_SEED (default 20261204; "random"
draws one, printed),
FUZZ_HTTP_SECONDS (default 25) and FUZZ_HTTP_COUNT (default 6000) bound
the run; case i is generated from (seed, i) alone, so FUZZ_HTTP_CASE=i
replays one case of a seed.  Ports 20600-20612.
"""
import json
import os
import random
import re
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))

from tap import Suite, Skip
from stack import Stack, APP_BIN
from httpc import headers_of, http_get

BASE = 20600
# A fixed seed by default, so that the suite (and CI) runs the same cases
# every time; FUZZ_HTTP_SEED=random draws a new one (printed), for a
# developer exploring further.
_SEED_ENV = os.environ.get("FUZZ_HTTP_SEED") or "20261204"
SEED = (random.SystemRandom().randrange(1 << 32) if _SEED_ENV == "random"
        else int(_SEED_ENV))
SECONDS = float(os.environ.get("FUZZ_HTTP_SECONDS", "25"))
COUNT = int(os.environ.get("FUZZ_HTTP_COUNT", "6000"))
ONLY = os.environ.get("FUZZ_HTTP_CASE")
WORKERS = 4
# nginx's limits (nginx/app/server.conf), to aim at both sides of each.
LINE_MAX = 8192             # large_client_header_buffers 4 8k
BODY_MAX = 16384            # client_max_body_size 16k
IDLE_S = 1.0                # silence before we close our side
t = Suite()


# --- the generator -----------------------------------------------------------

class Case:
    """One connection's worth of bytes and what we know about them."""

    def __init__(self, index):
        self.index = index
        self.server = "http"
        self.requests = []      # (method as sent, bytes) per request
        self.writes = []        # (bytes, pause after, in s)
        self.cut = False        # cut short on purpose; our side closed
        self.clean = True       # every request well-formed and complete

    def data(self):
        return b"".join(r for _, r in self.requests)


def pick(rng, weighted):
    items, weights = zip(*weighted)
    return rng.choices(items, weights)[0]


def junk(rng, n, alphabet=None):
    if alphabet is None:
        return bytes(rng.randrange(256) for _ in range(n))
    return bytes(rng.choice(alphabet) for _ in range(n))


PRINTABLE = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" \
            b"-._~!$&'()*+,;=:@%/?"


def gen_method(rng):
    m = pick(rng, [
        (b"GET", 70), (b"HEAD", 8), (b"POST", 10), (b"PUT", 3),
        (b"DELETE", 3), (b"OPTIONS", 3), (b"TRACE", 3), (b"CONNECT", 2),
        (b"PATCH", 2), (b"PROPFIND", 1), (b"get", 2), (b"G ET", 1),
        (b"GET\t", 1), (b"\x00GET", 1), (b"G\xc3\x89T", 1), (b"", 1),
        (None, 2)])
    if m is None:
        m = junk(rng, rng.choice([1, 8, 40, 300]),
                 b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    return m


def gen_name(rng):
    return pick(rng, [
        (b"frank", 5), (junk(rng, rng.randrange(1, 20), PRINTABLE), 5),
        ("\u00e9l\u00e8ve".encode(), 1), (b"%ff%fe", 1), (b"%", 1),
        (b"a%00b", 1), (b"..%2f..", 1), (junk(rng, 6), 1),
        (b"%C0%AF", 1), (b"\xf0\x9f\x99\x82", 1)])


def gen_target(rng, method, version):
    if rng.random() < 0.05:
        # A request line right around LINE_MAX (with its CRLF).
        want = LINE_MAX + rng.randrange(-3, 4)
        fixed = len(method) + len(b"  ") + len(version) + 2 + len(b"/hello/")
        return b"/hello/" + b"a" * max(1, want - fixed)
    target = pick(rng, [
        (b"/", 20), (b"/healthz", 4), (b"/readyz", 3), (b"/session", 10),
        (b"/hello/" + gen_name(rng), 20), (b"/metrics", 4),
        (b"/_nginx_error/400", 1), (b"/nope", 2), (b"//hello//x", 1),
        (b"/hello/%", 1), (b"/%00", 1), (b"/../x", 1), (b"*", 1),
        (b"http://x/hello/abs", 1), (b"/%2e%2e/x", 1), (b"", 1),
        (b"/hello/a b", 1), (junk(rng, rng.randrange(1, 30)), 1)])
    if rng.random() < 0.15:
        target += b"?" + junk(rng, rng.randrange(0, 40), PRINTABLE)
    return target


def gen_version(rng):
    return pick(rng, [
        (b"HTTP/1.1", 120), (b"HTTP/1.0", 10), (None, 2), (b"HTTP/2.0", 1),
        (b"HTTP/1.9", 1), (b"HTTP/0.9", 1), (b"http/1.1", 1),
        (b"HTTP/1.1 x", 1), (b"HTTP/1", 1), (b"HTTP/01.1", 1),
        (b"HTTP/3.0", 1), (b"HTTP/1.1\x00", 1)])


def gen_cookies(rng, good):
    """Cookie header lines (without CRLF)."""
    kind = pick(rng, [("none", 40), ("good", 15), ("tampered", 6),
                      ("junk", 6), ("many", 5), ("dup", 6), ("long", 8),
                      ("odd", 6), ("empty", 2)])
    if kind == "none":
        return []
    if kind == "good":
        return [b"Cookie: " + good]
    if kind == "tampered":
        i = rng.randrange(len(good))
        return [b"Cookie: " + good[:i] + bytes([rng.choice(PRINTABLE)])
                + good[i + 1:]]
    if kind == "junk":
        return [b"Cookie: connect.sid=" + junk(rng, rng.randrange(1, 200),
                                                PRINTABLE)]
    if kind == "many":
        n = rng.randrange(20, 500)
        return [b"Cookie: " + b"; ".join(b"c%d=%s" % (i, b"v" * 10)
                                         for i in range(n))]
    if kind == "dup":
        return [b"Cookie: " + rng.choice([good, b"connect.sid=x", b"a=b"])
                for _ in range(rng.randrange(2, 6))]
    if kind == "long":
        # One Cookie line right around LINE_MAX (with its CRLF).
        want = LINE_MAX + rng.randrange(-3, 4)
        prefix = b"Cookie: connect.sid="
        return [prefix + b"a" * (want - len(prefix) - 2)]
    if kind == "odd":
        return [b"Cookie: " + rng.choice([
            b";;;", b"=", b"connect.sid", b"connect.sid=\"quoted\"",
            b"connect.sid=%00", b"connect.sid=s%3A.", b"\tconnect.sid=x",
            b"connect.sid=s%3A" + b"A" * 40 + b".", b"\xff\xfe=\x80",
            b"connect.sid=" + good.split(b"=", 1)[-1] + b"; connect.sid=x"])]
    return [b"Cookie:"]


def gen_other_headers(rng):
    """(header lines, clean): clean when every line is well-formed and
    the header section stays within nginx's buffers."""
    out, clean = [], True
    for _ in range(rng.choice([0, 0, 0, 0, 1, 2, 3])):
        line, ok = pick(rng, [
            ((b"User-Agent: fuzz/" + junk(rng, 5, PRINTABLE), True), 8),
            ((b"Accept: */*", True), 6), ((b"X-A : b", False), 1),
            ((b"NoColon", False), 1), ((b"X_Under: 1", True), 1),
            ((b"App-Internal: 1", True), 1),
            ((b"X-Fold: a\r\n continued", False), 1),
            ((b"X-Nul: a\x00b", False), 1), ((b"\xc3\xa9: x", False), 1),
            ((b": empty-name", False), 1),
            ((b"Expect: 100-continue", True), 2),
            ((b"Connection: keep-alive", True), 1),
            ((b"Connection: upgrade\r\nUpgrade: websocket", True), 1),
            ((b"X-Long: " + b"v" * rng.randrange(7000, 8300), False), 1),
            ((b"Range: bytes=0-1", True), 1),
            ((b"If-None-Match: *", True), 1)])
        out.append(line)
        clean = clean and ok
    if rng.random() < 0.05:
        # Several long lines: around the 4 large buffers nginx allows.
        out += [b"X-H%d: %s" % (i, b"h" * 7000)
                for i in range(rng.randrange(3, 7))]
        clean = False
    if rng.random() < 0.03:
        # Many small headers, past 32k in total or just under it.
        out += [b"X-%05d: %s" % (i, b"c" * 60)
                for i in range(rng.randrange(300, 520))]
        clean = False
    return out, clean


def chunked(rng, body):
    """A valid chunked encoding of body (random chunk sizes, sometimes
    with extensions or a trailer)."""
    out, i = b"", 0
    while i < len(body):
        n = rng.randrange(1, max(2, len(body) - i + 1))
        ext = b";x=y" if rng.random() < 0.1 else b""
        out += b"%x%s\r\n%s\r\n" % (n, ext, body[i:i + n])
        i += n
    trailer = b"X-Trailer: 1\r\n" if rng.random() < 0.1 else b""
    return out + b"0\r\n" + trailer + b"\r\n"


def gen_body(rng):
    """(framing header lines, body bytes, clean, complete)."""
    size = pick(rng, [(0, 3), (rng.randrange(1, 100), 8),
                      (BODY_MAX + rng.randrange(-2, 3), 2),
                      (rng.randrange(BODY_MAX, 3 * BODY_MAX), 1)])
    body = junk(rng, size, PRINTABLE)
    kind = pick(rng, [
        ("none", 130), ("cl", 15), ("cl-short", 3), ("cl-long", 3),
        ("cl-bad", 5), ("cl-dup", 2), ("te", 10), ("te-bad", 8),
        ("te-open", 2), ("both", 3), ("te-other", 4), ("te-dup", 1)])
    cl = b"Content-Length: %d" % len(body)
    te = b"Transfer-Encoding: chunked"
    if kind == "none":
        return [], b"", True, True
    if kind == "cl":
        return [cl], body, True, True
    if kind == "cl-short":      # more bytes than announced: a 2nd request
        return [b"Content-Length: %d" % (len(body) // 2)], body, False, True
    if kind == "cl-long":       # fewer bytes than announced: nginx waits
        return [b"Content-Length: %d" % (len(body) + 10)], body, False, \
            False
    if kind == "cl-bad":
        v = rng.choice([b"-1", b"99999999999999999999", b"1e3", b" 5",
                        b"+5", b"0x10", b"5, 5", b"", b"9223372036854775807",
                        b"-0"])
        return [b"Content-Length: " + v], body, False, True
    if kind == "cl-dup":
        other = rng.choice([len(body), len(body) + 1])
        return [cl, b"Content-Length: %d" % other], body, False, True
    if kind == "te":
        return [te], chunked(rng, body), True, True
    if kind == "te-bad":
        bad = rng.choice([
            b"zz\r\nabc\r\n0\r\n\r\n", b"-1\r\nabc\r\n0\r\n\r\n",
            b"fffffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
            b"3\r\nabcXX\r\n0\r\n\r\n", b"0x3\r\nabc\r\n0\r\n\r\n",
            b"3 \r\nabc\r\n0\r\n\r\n", b"\r\n\r\n", b"3\nabc\n0\n\n",
            b"7fffffffffffffff\r\nabc\r\n0\r\n\r\n",
            b"5\r\nabc\r\n0\r\n\r\n", b"1;" + b"e" * 9000 + b"\r\nx\r\n0"
            b"\r\n\r\n"])
        return [te], bad, False, True
    if kind == "te-open":       # no last chunk: nginx waits
        return [te], b"3\r\nabc\r\n", False, False
    if kind == "both":
        return [cl, te], chunked(rng, body), False, True
    if kind == "te-other":
        v = rng.choice([b"gzip", b"chunked, gzip", b"gzip, chunked",
                        b"identity", b"Chunked", b" chunked", b"chunked\x00",
                        b"chunked;q=1", b"xchunked"])
        return [b"Transfer-Encoding: " + v], chunked(rng, body), False, True
    return [te, te], chunked(rng, body), False, True


def gen_request(rng, good, last):
    """(method, bytes, clean, complete) of one request."""
    method, version = gen_method(rng), gen_version(rng)
    target = gen_target(rng, method, version or b"")
    clean = (method in (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE",
                        b"OPTIONS", b"PATCH")
             and version in (b"HTTP/1.1", b"HTTP/1.0")
             and target.startswith(b"/") and len(target) < 8000)
    if version is None:
        # HTTP/0.9: a request line and nothing else.
        return method, b"%s %s\r\n" % (method, target), False, True
    lines = [b"%s %s %s" % (method, target, version)]
    host = pick(rng, [(b"Host: x", 94), (None, 2), (b"Host: x\r\nHost: y", 1),
                      (b"Host:", 1), (b"Host: a b", 1), (b"Host: [::1]", 1),
                      (b"Host: " + b"h" * 300, 1)])
    if host is not None:
        lines.append(host)
    clean = clean and host == b"Host: x"
    cookies = gen_cookies(rng, good)
    clean = clean and all(len(c) < 8000 for c in cookies)
    lines += cookies
    other, other_clean = gen_other_headers(rng)
    clean = clean and other_clean
    lines += other
    framing, body, body_clean, complete = gen_body(rng)
    clean = clean and body_clean and len(body) <= BODY_MAX
    lines += framing
    if last and rng.random() < 0.7:
        lines.append(b"Connection: close")
    eol = pick(rng, [(b"\r\n", 95), (b"\n", 4), (b"\r", 1)])
    clean = clean and eol == b"\r\n"
    head = eol.join(lines) + eol + eol
    return method, head + body, clean, complete


def gen_case(seed, index, good):
    rng = random.Random(f"{seed}:{index}")
    c = Case(index)
    c.server = "internal" if rng.random() < 0.15 else "http"
    n = pick(rng, [(1, 70), (2, 15), (3, 8), (5, 7)])
    complete = True
    for i in range(n):
        method, data, clean, done = gen_request(rng, good, i == n - 1)
        c.requests.append((method, data))
        c.clean = c.clean and clean
        complete = complete and done
    data = c.data()
    if rng.random() < 0.1:
        data = data[:rng.randrange(1, len(data))]
        c.cut = True
    elif not complete:
        c.clean = False
    if rng.random() < 0.3 and len(data) > 1:
        cuts = sorted(rng.sample(range(1, len(data)),
                                 min(len(data) - 1, rng.randrange(1, 6))))
        prev = 0
        for x in cuts + [len(data)]:
            c.writes.append((data[prev:x], rng.choice([0, 0.001, 0.01])))
            prev = x
    else:
        c.writes.append((data, 0))
    return c


# --- talking to nginx --------------------------------------------------------

class Outcome:
    def __init__(self):
        self.data = b""
        self.peer_closed = False    # nginx closed (EOF or reset)
        self.reset = False
        self.we_closed = False      # we shut our side after silence
        self.send_failed = False


def run_case(port, case):
    o = Outcome()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        for data, pause in case.writes:
            try:
                s.sendall(data)
            except OSError:
                o.send_failed = True    # nginx answered and closed early
                break
            if pause:
                time.sleep(pause)
        if case.cut:
            s.shutdown(socket.SHUT_WR)
            o.we_closed = True
        s.settimeout(IDLE_S)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                d = s.recv(65536)
            except socket.timeout:
                if o.we_closed:
                    break
                # nginx waits for more: say there is no more.
                s.shutdown(socket.SHUT_WR)
                o.we_closed = True
                continue
            except ConnectionResetError:
                o.peer_closed = o.reset = True
                break
            if not d:
                o.peer_closed = True
                break
            o.data += d
            answers, _ = parse_answers(o.data, case)
            if len(answers) >= len(case.requests) and not o.we_closed:
                break
    finally:
        s.close()
    return o


# --- reading what came back --------------------------------------------------

class Answer:
    def __init__(self, status, headers, body, bodyless=False):
        self.status = status        # None: an HTTP/0.9 answer (body only)
        self.headers = headers      # lower-case name -> [values]
        self.body = body
        self.bodyless = bodyless    # HEAD, 204, 304: no body by rule

    def header(self, name):
        v = self.headers.get(name)
        return v[0] if v else None


def parse_answers(data, case):
    """Split data into answers.  Returns (answers, rest): rest is bytes
    that do not make a whole answer (b"" when everything parsed)."""
    return _parse_from(data, 0, [m for m, _ in case.requests], [])


def _whole(parsed):
    """True when a parse used every byte and its HTTP/0.9 answers (the
    body alone) are JSON or /metrics, as every answer here must be."""
    answers, rest = parsed
    if rest:
        return False
    for a in answers:
        if a.status is None and not a.body.startswith(b"# HELP "):
            try:
                json.loads(a.body)
            except ValueError:
                return False
    return True


def _parse_from(data, pos, methods, answers):
    """parse_answers from pos, after answers."""
    answers = list(answers)
    while pos < len(data):
        if not data.startswith(b"HTTP/", pos):
            if not b"HTTP/".startswith(data[pos:pos + 5]):
                # HTTP/0.9: the body alone, up to the close.
                answers.append(Answer(None, {}, data[pos:]))
                return answers, b""
            return answers, data[pos:]
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            return answers, data[pos:]
        head = data[pos:end]
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        try:
            status = int(parts[1])
        except (IndexError, ValueError):
            return answers, data[pos:]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers.setdefault(name.strip().lower().decode("latin-1"),
                               []).append(value.strip().decode("latin-1"))
        pos = end + 4
        if 100 <= status < 200:
            continue                # interim (100 Continue)
        method = methods[len(answers)] if len(answers) < len(methods) \
            else b"GET"
        cl = headers.get("content-length", [None])[0]
        te = headers.get("transfer-encoding", [""])[0].lower()
        bodyless = method == b"HEAD" or status in (204, 304)
        if bodyless and status >= 400 and cl is not None \
                and not data.startswith(b"HTTP/", pos) \
                and len(data) - pos >= int(cl) > 0:
            # Either nginx did not take the request for a HEAD (its request
            # line was rejected before the method counted) and sent the
            # body, or it did and what follows is an HTTP/0.9 answer (no
            # status line) to a later request.  The bytes alone cannot
            # tell; the reading that accounts for the whole stream wins
            # (a 2xx to a HEAD is never this: only an error answer can be).
            n = int(cl)
            with_body = answers + [Answer(status, headers,
                                          data[pos:pos + n])]
            taken = _parse_from(data, pos + n, methods, with_body)
            if _whole(taken):
                return taken
        if bodyless:
            body = b""
        elif te == "chunked":
            body, used = dechunk(data, pos)
            if body is None:
                return answers, data[pos:]
            pos = used
        elif cl is not None:
            n = int(cl)
            if len(data) - pos < n:
                return answers, data[pos:]
            body = data[pos:pos + n]
            pos += n
        else:
            body = data[pos:]
            pos = len(data)
        answers.append(Answer(status, headers, body, bodyless))
    return answers, b""


def dechunk(data, pos):
    """Decode a chunked body at pos: (body, position after it), or
    (None, pos) when it is not all there."""
    body = b""
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return None, pos
        size = int(data[pos:eol].split(b";")[0], 16)
        pos = eol + 2
        if size == 0:
            end = data.find(b"\r\n", pos)
            return (None, pos) if end < 0 else (body, end + 2)
        if len(data) < pos + size + 2:
            return None, pos
        body += data[pos:pos + size]
        pos += size + 2


# --- judging -----------------------------------------------------------------

def judge(case, answer):
    """Why answer breaks the rules, or None."""
    sent = case.data().lower()
    if answer.status is None:
        if case.server == "internal" and answer.body.startswith(b"# HELP "):
            return None     # "GET /metrics" as HTTP/0.9: /metrics itself
        try:
            json.loads(answer.body)
        except ValueError:
            return f"HTTP/0.9 answer is not JSON: {answer.body[:80]!r}"
        return None
    st = answer.status
    if st >= 500 and st != 503:
        if st == 501 and b"transfer-encoding" in sent:
            pass        # RFC 9112 6.1: a transfer coding it does not know
        elif st == 505 and re.search(rb"http/(?!1\.)\d", sent):
            pass        # an HTTP major version it does not speak
        else:
            return f"status {st}"
    ctype = answer.header("content-type") or ""
    if (case.server == "internal" and st == 200
            and ctype.startswith("text/plain; version=0.0.4")):
        return None     # /metrics itself
    if ctype != "application/json":
        return f"status {st}: Content-Type {ctype!r}"
    if answer.header("x-content-type-options") != "nosniff":
        return f"status {st}: no X-Content-Type-Options"
    if not answer.bodyless:
        try:
            json.loads(answer.body)
        except ValueError:
            return f"status {st}: body is not JSON: {answer.body[:80]!r}"
    return None


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.cases = 0
        self.statuses = {}
        self.http09 = 0
        self.silent = {}        # why a connection ended without an answer
        self.failures = []

    def note_silent(self, why):
        self.silent[why] = self.silent.get(why, 0) + 1


def check_case(case, o, tally):
    answers, rest = parse_answers(o.data, case)
    problems = []
    for a in answers:
        why = judge(case, a)
        if why:
            problems.append(why)
    if rest and not (o.peer_closed or o.we_closed):
        problems.append(f"unparsed answer bytes: {rest[:80]!r}")
    elif rest:
        problems.append(f"answer cut short: {rest[:80]!r}")
    unanswered = len(case.requests) - len(answers)
    with tally.lock:
        tally.cases += 1
        for a in answers:
            if a.status is None:
                tally.http09 += 1
            else:
                tally.statuses[a.status] = tally.statuses.get(a.status,
                                                              0) + 1
        if unanswered > 0 and not answers:
            if case.cut:
                tally.note_silent("request cut short on purpose")
            elif o.we_closed:
                tally.note_silent("nginx waited for the rest of a request")
            elif case.clean:
                problems.append("no answer to a complete request")
            else:
                tally.note_silent("malformed request, closed unanswered")
        elif unanswered > 0:
            last = answers[-1]
            closes = last.status is None or "close" in (
                last.header("connection") or "").lower()
            if closes:
                tally.note_silent("pipelined after an answer that closed")
            elif case.cut or o.we_closed:
                tally.note_silent("pipelined, rest cut short or waited for")
            elif case.clean:
                problems.append(f"{unanswered} pipelined request(s) "
                                "unanswered on an open connection")
            else:
                tally.note_silent("pipelined after a malformed request")
        if problems:
            tally.failures.append((case, o, problems))


# --- the case ----------------------------------------------------------------

def setup():
    if not os.access(APP_BIN, os.X_OK):
        raise Skip(f"{APP_BIN} not built (make -C fcgi-app)")
    s = Stack(base_port=BASE, collector=False).__enter__()
    try:
        st, hdrs, _ = http_get(s.ports["http"], "/")
        assert st == 200, st
        good = headers_of(hdrs, "Set-Cookie")[0].split(";")[0].encode()
        assert good.startswith(b"connect.sid=s%3A"), good
    except BaseException:
        s.close()
        raise
    return {"s": s, "good": good}


def teardown(ctx):
    if ctx is not None:
        ctx["s"].close()


def crashes(s):
    st, _, body = http_get(s.ports["internal"], "/metrics")
    assert st == 200, st
    m = re.search(rb'^fcgi_app_worker_restarts_total\{reason="crash"\} '
                  rb'(\d+)$', body, re.M)
    assert m, "no crash counter on /metrics"
    return int(m.group(1))


def describe(case, o, problems):
    return (f"case {case.index} ({case.server}; repeat with "
            f"FUZZ_HTTP_SEED={SEED} FUZZ_HTTP_CASE={case.index}): "
            f"{'; '.join(problems)}\n    sent {case.data()[:300]!r}"
            f"{' (cut)' if case.cut else ''}\n    got  {o.data[:300]!r} "
            f"(nginx closed: {o.peer_closed}, reset: {o.reset}, we "
            f"closed: {o.we_closed}, send failed: {o.send_failed})")


@t.case
def raw_requests_through_nginx_get_json(ctx):
    s, good = ctx["s"], ctx["good"]
    print(f"# http fuzz: seed {SEED} (FUZZ_HTTP_SEED={SEED} repeats it), "
          f"up to {COUNT} cases or {SECONDS:.0f}s", flush=True)
    print(f"http fuzz: seed {SEED}", file=sys.stderr, flush=True)
    crashes_before = crashes(s)
    pool_pid = s.pid("fcgi-app")
    tally = Tally()
    ports = {"http": s.ports["http"], "internal": s.ports["internal"]}
    if ONLY is not None:
        indexes = iter([int(ONLY)])
    else:
        indexes = iter(range(COUNT))
    lock = threading.Lock()
    deadline = time.monotonic() + SECONDS

    def worker():
        while time.monotonic() < deadline:
            with lock:
                i = next(indexes, None)
            if i is None:
                return
            case = gen_case(SEED, i, good)
            o = run_case(ports[case.server], case)
            check_case(case, o, tally)

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True)
               for _ in range(WORKERS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(SECONDS + 60)
    dt = time.monotonic() - t0
    summary = (f"{tally.cases} cases in {dt:.1f}s, seed {SEED}; answers "
               f"by status {dict(sorted(tally.statuses.items()))}, "
               f"HTTP/0.9 {tally.http09}; closed without an answer: "
               f"{tally.silent}")
    print("# " + summary, flush=True)
    print(summary, file=sys.stderr)
    for case, o, problems in tally.failures[:8]:
        print(describe(case, o, problems), file=sys.stderr)
    # The chain still serves, and nothing crashed on the way.
    st, _, _ = http_get(s.ports["http"], "/")
    assert st == 200, f"after the fuzz: GET / {st}"
    assert s.procs["fcgi-app"].alive() and s.pid("fcgi-app") == pool_pid
    after = crashes(s)
    with open(s.log_path("nginx-error"), errors="replace") as f:
        nginx_crashes = [ln for ln in f.read().splitlines()
                         if "exited on signal" in ln or "[alert]" in ln
                         or "[emerg]" in ln]
    assert not tally.failures, (
        f"{len(tally.failures)} of {tally.cases} cases broke the rules "
        f"(seed {SEED}); first: "
        + describe(*tally.failures[0]).replace("\n", " "))
    assert after == crashes_before, \
        f"pool workers crashed: {after - crashes_before} (seed {SEED})"
    assert not nginx_crashes, f"nginx: {nginx_crashes[:3]}"
    assert ONLY is not None or tally.cases >= 200, \
        f"only {tally.cases} cases ran"


t.run(setup, teardown)
