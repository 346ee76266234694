"""dnsd.py -- a DNS server on loopback for one name, for tests and benchmarks.

    d = Dns(20820, "fcgi-app.test")   # 127.0.0.1:20820, UDP, a thread
    d.addrs = ["127.0.0.2"]           # A answers (None: NXDOMAIN)
    d.silent = True                   # no answer at all
    d.queries                         # queries for the name so far
    d.close()

Standard library only.
"""
import socket
import struct
import threading


class Dns:
    """A DNS server on 127.0.0.1:port (UDP) for one name: A queries for it
    get self.addrs (NXDOMAIN when None), anything else NXDOMAIN; with
    self.silent, no answer at all.  self.queries counts queries for the
    name.  RFC 1035 section 4: a 12-byte header, the question copied back,
    one answer record per address, the name as a pointer to the
    question's (0xc00c)."""

    def __init__(self, port, name):
        self.name = name.lower()
        self.addrs = []
        self.silent = False
        self.queries = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self.th = threading.Thread(target=self.serve, daemon=True)
        self.th.start()

    def serve(self):
        while not self.stop.is_set():
            try:
                q, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            r = self.answer(q)
            if r is not None:
                self.sock.sendto(r, peer)

    def answer(self, q):
        if len(q) < 12:
            return None
        qid, flags = struct.unpack("!HH", q[:4])
        labels, i = [], 12
        while i < len(q) and q[i]:
            labels.append(q[i + 1:i + 1 + q[i]].decode("ascii", "replace"))
            i += 1 + q[i]
        if i + 5 > len(q):
            return None
        qtype = struct.unpack("!H", q[i + 1:i + 3])[0]
        question = q[12:i + 5]
        name = ".".join(labels).lower()
        if name == self.name:
            self.queries += 1
            if self.silent:
                return None
        addrs = self.addrs if name == self.name else None
        rd = flags & 0x0100
        if addrs is None:
            return struct.pack("!HHHHHH", qid, 0x8083 | rd, 1, 0, 0, 0) \
                + question
        answers = [a for a in addrs] if qtype == 1 else []
        out = struct.pack("!HHHHHH", qid, 0x8080 | rd, 1, len(answers), 0,
                          0) + question
        for a in answers:
            out += struct.pack("!HHHIH", 0xc00c, 1, 1, 0, 4) \
                + socket.inet_aton(a)
        return out

    def close(self):
        self.stop.set()
        self.th.join(2)
        self.sock.close()
