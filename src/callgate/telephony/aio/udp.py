"""UDP sockets for RTP: a bound pair on an even port and the next one (RFC 3550 11)."""

from __future__ import annotations

import ipaddress
import random
import socket


def ip_family(host: str) -> socket.AddressFamily | None:
    """AF_INET or AF_INET6 for an IP address literal; None for a name."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return socket.AF_INET6 if address.version == 6 else socket.AF_INET


def bound_pair(family: socket.AddressFamily, host: str) -> tuple[socket.socket, socket.socket]:
    """Two non-blocking UDP sockets on `host`, on an even port and the next one."""
    for _ in range(100):
        port = random.randrange(16384, 32767) & ~1
        rtp = socket.socket(family, socket.SOCK_DGRAM)
        try:
            rtp.bind((host, port))
        except OSError:
            rtp.close()
            continue
        rtcp = socket.socket(family, socket.SOCK_DGRAM)
        try:
            rtcp.bind((host, port + 1))
        except OSError:
            rtp.close()
            rtcp.close()
            continue
        rtp.setblocking(False)
        rtcp.setblocking(False)
        return rtp, rtcp
    raise OSError(f"no free pair of RTP/RTCP ports on {host}")
