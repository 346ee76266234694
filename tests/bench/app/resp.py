"""resp.py -- a minimal blocking Redis client (RESP2) for tests/bench/app.

Owns one TCP connection to the benchmark's redis-server and the few commands
the harness needs to check that the apps really did session work (DBSIZE,
RANDOMKEY, GET, TTL, FLUSHALL).  Standard library only, no pipelining, no
reconnects: a broken connection raises and fails the run.
"""
import socket


class RedisError(Exception):
    """An error reply (-ERR ...) or a protocol problem."""


class Redis:
    def __init__(self, host, port, password=None, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = self.sock.makefile("rb")
        if password:
            self.call("AUTH", password)

    def close(self):
        try:
            self.buf.close()
        finally:
            self.sock.close()

    def call(self, *args):
        """Send one command and return its decoded reply (bytes, int, list,
        None).  Raises RedisError on an error reply."""
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))
        return self._read()

    def _read(self):
        line = self.buf.readline()
        if not line.endswith(b"\r\n"):
            raise RedisError("connection closed")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RedisError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.buf.read(n + 2)
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self._read() for _ in range(n)]
        raise RedisError(f"bad reply type {line!r}")
