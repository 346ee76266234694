"""kaload.py -- keep-alive HTTP load that counts every failure by kind.

What a load tool such as wrk does (N connections, each sending its next
GET as soon as the previous answer is in, never retrying), but every
request that does not end in a whole answer is recorded with its time and
its kind, so that a test can say where each failure came from:

    before-answer  the connection closed (EOF or reset) before one byte of
                   the answer came: the server closed a kept connection the
                   request had already been sent on.  This is HTTP/1.1's
                   keep-alive race; RFC 9112 section 9.3.1 lets a client
                   retry such a request when it is idempotent, and browsers
                   do, but wrk and this client do not ("read error" in
                   wrk's output);
    mid-answer     the connection closed after part of the answer;
    connect        the connection could not be opened;
    timeout        no whole answer within the timeout;
    status NNN     a whole answer with a status other than 200.

    with Load("127.0.0.1", 3000, conns=16) as load:
        ...                       # the event under test
    load.requests, load.failures  # [(t, kind), ...] t: time.monotonic()
    load.retry_failures           # see below (and retry_failure_times)

After a before-answer failure the connection is opened again and its next
request goes out on it, as wrk does; that request is also the retry a
client following RFC 9112 would make, so retry_failures counts those that
failed too: what such a client would have lost.

Standard library only, like every test in tests/.  One thread runs an
asyncio loop with one task per connection.
"""
import asyncio
import threading
import time

BEFORE_ANSWER = "before-answer"
MID_ANSWER = "mid-answer"
CONNECT = "connect"
TIMEOUT = "timeout"


class _Closed(Exception):
    """The connection closed; .got: bytes of the answer received."""

    def __init__(self, got):
        super().__init__(got)
        self.got = got


class Load:
    """conns keep-alive connections to host:port, GET path back to back,
    until stopped (the with block's end).  timeout: seconds for one answer
    (wrk's default is 2)."""

    def __init__(self, host, port, conns=16, path="/", timeout=2.0):
        self.host = host
        self.port = port
        self.conns = conns
        self.timeout = timeout
        self.request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                        f"\r\n").encode()
        self.requests = 0           # answered with 200
        self.failures = []          # (time.monotonic(), kind)
        self.reconnects = 0         # connections the server closed cleanly
        self.retry_failures = 0     # first requests after a before-answer
                                    # failure that failed too
        self.retry_failure_times = []   # time.monotonic() of each of them
        self._stop = None
        self._loop = None
        self._thread = None

    # -- one connection ---------------------------------------------------

    async def _answer(self, reader):
        """Read one answer: (status, server keeps the connection)."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as e:
            raise _Closed(len(e.partial)) from None
        except ConnectionError:
            raise _Closed(0) from None
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, keep = 0, True
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and "close" in value.lower():
                keep = False
        try:
            await reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError):
            raise _Closed(len(head) + 1) from None
        return status, keep

    def _fail(self, kind, retry):
        self.failures.append((time.monotonic(), kind))
        if retry:
            self.retry_failures += 1
            self.retry_failure_times.append(self.failures[-1][0])

    async def _connection(self):
        retry = False       # the next request retries a before-answer one
        while not self._stop.is_set():
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port),
                    self.timeout)
            except (OSError, asyncio.TimeoutError):
                self._fail(CONNECT, retry)
                retry = False
                await asyncio.sleep(0.05)
                continue
            try:
                while not self._stop.is_set():
                    writer.write(self.request)
                    try:
                        status, keep = await asyncio.wait_for(
                            self._answer(reader), self.timeout)
                    except _Closed as e:
                        self._fail(BEFORE_ANSWER if e.got == 0
                                   else MID_ANSWER, retry)
                        retry = e.got == 0
                        break
                    except asyncio.TimeoutError:
                        self._fail(TIMEOUT, retry)
                        retry = False
                        break
                    if status == 200:
                        self.requests += 1
                    else:
                        self._fail(f"status {status}", retry)
                    retry = False
                    if not keep:
                        self.reconnects += 1
                        break
            finally:
                writer.close()

    async def _main(self):
        self._stop = asyncio.Event()
        self._started.set()
        await asyncio.gather(*(self._connection()
                               for _ in range(self.conns)))

    # -- start / stop ------------------------------------------------------

    def __enter__(self):
        self._started = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_until_complete, args=(self._main(),),
            daemon=True)
        self._thread.start()
        self._started.wait(10)
        return self

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(self.timeout + 10)
        self._loop.close()

    # -- results -----------------------------------------------------------

    def kinds(self, since=None, until=None):
        """{kind: count} of the failures between two time.monotonic()
        values (either end open)."""
        out = {}
        for t, kind in self.failures:
            if (since is None or t >= since) and (until is None or t < until):
                out[kind] = out.get(kind, 0) + 1
        return out
