"""resp.py -- a minimal blocking Redis client (RESP2) for tests/bench/app.

Owns one TCP connection to the benchmark's redis-server and the few commands
the harness needs to check that the apps really did session work (DBSIZE,
RANDOMKEY, GET, TTL, FLUSHALL).  Standard library only, no pipelining, no
reconnects: a broken connection raises and fails the run.
"""
import socket

import redis_wire as wire  # (the RESP format)
from redis_wire import RedisError  # noqa: F401


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
        """Send one command and return its reply (bytes, int, list, None).
        Raises RedisError on an error reply, ConnectionError when the
        connection breaks."""
        self.sock.sendall(wire.encode(args))
        return wire.read(self.buf, decode=False)
