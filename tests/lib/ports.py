"""ports.py -- is a TCP port free on this host?

    port_free(3000)   # True when a server could bind it now

Free means bindable with SO_REUSEADDR (as servers bind) on both the
IPv4 wildcard and loopback, as nginx or docker-proxy would bind it:
connections left in TIME_WAIT do not count, a listener on either
address does.  Standard library only.
"""
import socket


def port_free(port):
    """True when nothing holds TCP port on 0.0.0.0 or 127.0.0.1."""
    for addr in ("0.0.0.0", "127.0.0.1"):
        with socket.socket(socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((addr, port))
            except OSError:
                return False
    return True
