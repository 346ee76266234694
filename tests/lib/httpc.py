"""httpc.py -- the tests' HTTP client side.

Owns: the one request helper every tier uses (http_get: one request on a
fresh connection, the answer's headers as ordered pairs that can also be
looked up by name), sending exact bytes to nginx (requests http.client
refuses to build: garbage request lines, NUL, oversized headers) and
reading or parsing what comes back, strictly enough to catch HTML or a
malformed answer.
"""
import http.client
import json
import re
import socket


class Headers(list):
    """An answer's header (name, value) pairs in order (a name may repeat,
    as Set-Cookie does).  get(name) is the first value of that name, in
    any case, or default."""

    def get(self, name, default=None):
        v = header_of(self, name)
        return default if v is None else v


def http_get(port, path, headers=None, method="GET", body=None,
             timeout=10.0, source=None, cookie=None):
    """One request to 127.0.0.1:port on a fresh connection, from the
    loopback address source (None: the kernel's choice), with cookie as
    its Cookie header if given: (status, Headers, body bytes).  Raises
    OSError or http.client.HTTPException when nothing answers."""
    h = dict(headers or {})
    if cookie:
        h["Cookie"] = cookie
    c = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=timeout,
        source_address=(source, 0) if source else None)
    try:
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        return r.status, Headers(r.getheaders()), r.read()
    finally:
        c.close()


def session_workers(port, n):
    """The set of "worker" names in n answers to GET /session, each on a
    fresh connection (so each may go to another pool instance); every
    answer must be 200."""
    seen = set()
    for _ in range(n):
        st, _, body = http_get(port, "/session")
        assert st == 200, (st, body)
        seen.add(json.loads(body)["worker"])
    return seen


def session_cookie(headers):
    """('connect.sid=...', session id) from the Set-Cookie header of an
    answer's headers (Headers, or a dict with lower-case names)."""
    sc = headers.get("set-cookie") or ""
    m = re.match(r"(connect\.sid=s%3A([A-Za-z0-9_-]+)\.[^;]+)", sc)
    assert m, f"no session cookie in {sc!r}"
    return m.group(1), m.group(2)


def raw(port, data, timeout=5.0):
    """Send data on a fresh connection, read until close or timeout.

    Returns the bytes received (b"" when nginx closed without a word)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
        c.sendall(data)
        return read_answer(c)


def read_answer(c):
    """Read from connected socket c until one whole answer with a
    Content-Length is in, the peer closes, or c's timeout passes; return
    the bytes read."""
    chunks = []
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            chunks.append(d)
            if _complete(b"".join(chunks)):
                break
    except (socket.timeout, ConnectionResetError):
        pass
    return b"".join(chunks)


def _complete(buf):
    """True when buf holds a whole response with a Content-Length."""
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


class Response:
    """A parsed HTTP/1.x response: status, headers (lower-case names,
    list of values), body."""

    def __init__(self, data):
        head, sep, body = data.partition(b"\r\n\r\n")
        if not sep:
            raise ValueError(f"no header end in {data[:200]!r}")
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise ValueError(f"bad status line {lines[0][:100]!r}")
        self.status = int(parts[1])
        self.headers = {}
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon:
                raise ValueError(f"bad header line {line[:100]!r}")
            self.headers.setdefault(name.decode().strip().lower(), []).append(
                value.decode("latin-1").strip())
        self.body = body

    def header(self, name):
        v = self.headers.get(name.lower())
        return v[0] if v else None


def check_json(status, content_type, body):
    """Assert that an answer is JSON (never HTML); return the document."""
    assert b"<html" not in body.lower(), f"HTML body: {body[:200]!r}"
    assert content_type is not None, "no Content-Type"
    assert content_type.split(";")[0].strip() == "application/json", \
        f"status {status}: Content-Type {content_type!r}"
    try:
        return json.loads(body)
    except ValueError as e:
        raise AssertionError(f"status {status}: body is not JSON "
                             f"({e}): {body[:200]!r}")


def header_of(pairs, name):
    """First value of a header in http.client's (name, value) pairs."""
    for k, v in pairs:
        if k.lower() == name.lower():
            return v
    return None


def headers_of(pairs, name):
    return [v for k, v in pairs if k.lower() == name.lower()]


SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def check_security_headers(get_all):
    """get_all(name) -> list of values.  Each header exactly once."""
    for name, want in SECURITY_HEADERS.items():
        got = get_all(name)
        assert got == [want], f"{name}: {got!r}"
    csp = get_all("content-security-policy")
    assert len(csp) == 1 and "default-src 'none'" in csp[0] \
        and "frame-ancestors 'none'" in csp[0], f"CSP: {csp!r}"
