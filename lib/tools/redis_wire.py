"""redis_wire.py -- the RESP2 wire format, for every Python Redis client.

encode() turns a command into bytes; read() reads one reply from a binary
file object (socket.makefile("rb")).  Replies come back as str (or bytes
with decode=False), int, list or None.  An error reply raises RedisError;
a closed connection or a malformed reply raises ConnectionError (an
OSError).  The callers own their sockets: the launcher beside it,
lib/tools/stack.py (one command per connection), tests/redis/tier.py
(Conn), tests/pool/poollib.py (Redis.cmd) and tests/bench/app/resp.py.  It lives in lib/tools/ with the
launcher, which must not import from tests/; tests/run puts lib/tools on
every test's PYTHONPATH, so the tests import it the same way.
"""


class RedisError(Exception):
    """An error reply (-ERR, -NOPERM, ...) from Redis."""


def encode(args):
    """One command as a RESP array of bulk strings (bytes pass as they
    are, anything else as str())."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def read(f, decode=True):
    """Read one reply from f; see the module comment for the types."""
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed by Redis")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode() if decode else rest
    if kind == b"-":
        raise RedisError(rest.decode(errors="replace"))
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode(errors="replace") if decode else data
    if kind == b"*":
        n = int(rest)
        if n < 0:
            return None
        return [read(f, decode) for _ in range(n)]
    raise ConnectionError("bad RESP reply %r" % line)
