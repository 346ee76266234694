"""fcgi_client.py -- a small FastCGI client (stdlib only) for tests.

Speaks the responder role of the FastCGI 1.0 spec: BEGIN_REQUEST, PARAMS,
STDIN, then reads STDOUT/STDERR until END_REQUEST.  Supports keeping the
connection open (FCGI_KEEP_CONN) for several requests, and sending crafted
raw records (e.g. a params record whose lengths lie).

    c = Client(("127.0.0.1", 23001))        # or "/path/to.sock"
    r = c.request("GET", "/hello/x")       # -> Response
    r.status, r.headers["content-type"], r.body
    c.close()

    get(addr, "/", cookie="...")           # one request, fresh connection
"""
import socket
import struct

VERSION = 1
BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST = 1, 2, 3
PARAMS, STDIN, STDOUT, STDERR = 4, 5, 6, 7
RESPONDER = 1
KEEP_CONN = 1


class ProtocolError(Exception):
    pass


def record(rtype, content, request_id=1, padding=0):
    """One raw record (content up to 65535 bytes)."""
    assert len(content) <= 0xFFFF
    return struct.pack("!BBHHBx", VERSION, rtype, request_id, len(content),
                       padding) + content + b"\0" * padding


def encode_length(n):
    if n < 128:
        return bytes([n])
    return struct.pack("!I", n | 0x80000000)


def encode_params(params):
    out = b""
    for k, v in params.items():
        k = k.encode() if isinstance(k, str) else k
        v = v.encode() if isinstance(v, str) else v
        out += encode_length(len(k)) + encode_length(len(v)) + k + v
    return out


def stream_records(rtype, data, request_id=1):
    out = b""
    for i in range(0, len(data), 65535):
        out += record(rtype, data[i:i + 65535], request_id)
    return out + record(rtype, b"", request_id)


def begin_record(keep=False, request_id=1):
    return record(BEGIN_REQUEST,
                  struct.pack("!HB5x", RESPONDER, KEEP_CONN if keep else 0),
                  request_id)


class Response:
    def __init__(self, raw, stderr, app_status):
        self.raw = raw
        self.stderr = stderr
        self.app_status = app_status
        head, sep, body = raw.partition(b"\r\n\r\n")
        if not sep:
            raise ProtocolError(f"no header end in {raw[:200]!r}")
        self.body = body
        self.headers = {}
        self.header_list = []
        for line in head.split(b"\r\n"):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            self.header_list.append((name, value))
            self.headers[name] = value
        self.status = int(self.headers.get("status", "200").split()[0])

    def json(self):
        import json
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.body[:80]!r}>"


def connect(addr, timeout=5.0):
    if isinstance(addr, str):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    elif ":" in addr[0]:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(addr)
    return s


def default_params(method, uri, extra=None):
    p = {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "REQUEST_METHOD": method,
        "REQUEST_URI": uri,
        "SCRIPT_NAME": uri.split("?")[0],
        "QUERY_STRING": uri.partition("?")[2],
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "3000",
    }
    if extra:
        p.update(extra)
    return p


class Client:
    """A FastCGI connection; keep=True asks the app to keep it open."""

    def __init__(self, addr, keep=False, timeout=5.0):
        self.addr = addr
        self.keep = keep
        self.sock = connect(addr, timeout)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def _read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ProtocolError("connection closed by the app")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_record(self):
        hdr = self._read_exact(8)
        ver, rtype, rid, clen, plen = struct.unpack("!BBHHBx", hdr)
        if ver != VERSION:
            raise ProtocolError(f"bad version {ver}")
        content = self._read_exact(clen)
        self._read_exact(plen)
        return rtype, rid, content

    def read_response(self, request_id=1):
        out, err = b"", b""
        while True:
            rtype, rid, content = self.read_record()
            if rid != request_id:
                raise ProtocolError(f"record for request {rid}")
            if rtype == STDOUT:
                out += content
            elif rtype == STDERR:
                err += content
            elif rtype == END_REQUEST:
                app_status, proto = struct.unpack("!IB3x", content)
                return Response(out, err, app_status)
            else:
                raise ProtocolError(f"unexpected record type {rtype}")

    def request(self, method="GET", uri="/", params=None, body=b"",
                headers=None):
        """Send one request; params override the defaults; headers maps
        HTTP header names to values (turned into HTTP_* params)."""
        p = default_params(method, uri, params)
        for k, v in (headers or {}).items():
            p["HTTP_" + k.upper().replace("-", "_")] = v
        if body:
            p.setdefault("CONTENT_LENGTH", str(len(body)))
        data = (begin_record(self.keep) + stream_records(PARAMS,
                encode_params(p)) + stream_records(STDIN, body))
        self.sock.sendall(data)
        return self.read_response()

    def drain_to_eof(self, timeout=2.0):
        """Read until the app closes.  Returns (bytes read, True) or
        (bytes read, False) if it is still open after timeout."""
        import time
        deadline = time.monotonic() + timeout
        data = self.buf
        self.buf = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return data, False
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return data, False
            except ConnectionResetError:
                return data, True
            if not chunk:
                return data, True
            data += chunk

    def at_eof(self, timeout=2.0):
        """True if the app closes the connection within timeout."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True


def get(addr, uri="/", cookie=None, method="GET", params=None, body=b"",
        timeout=5.0, headers=None):
    """One request on a fresh connection."""
    h = dict(headers or {})
    if cookie is not None:
        h["Cookie"] = cookie
    with Client(addr, timeout=timeout) as c:
        return c.request(method, uri, params=params, body=body, headers=h)
