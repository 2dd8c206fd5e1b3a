"""Cluster DNS for the real node, in place of CoreDNS: answers the A record of the `kubernetes` Service
(kopf's in-cluster login goes to https://kubernetes.default.svc), NXDOMAIN for other names of the cluster
domain, and relays every other query to the machine's own resolver.

Run as `python -m scoutly.testing.dns --listen 10.88.1.1 --record kubernetes.default.svc.cluster.local=10.96.1.1`.
"""

from __future__ import annotations

import argparse
import socket
import socketserver
import struct
from pathlib import Path

CLUSTER_DOMAIN = "cluster.local"
_A, _AAAA, _IN = 1, 28, 1


def parse_question(packet: bytes) -> tuple[str, int, int] | None:
    """(name, qtype, end offset of the question) of a one-question query; None when malformed."""
    if len(packet) < 12 or struct.unpack("!H", packet[4:6])[0] != 1:
        return None
    labels, i = [], 12
    while i < len(packet):
        n = packet[i]
        if n == 0:
            break
        if n & 0xC0:  # compression pointers do not occur in a query's question
            return None
        labels.append(packet[i + 1 : i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    if i + 5 > len(packet):
        return None
    qtype = struct.unpack("!H", packet[i + 1 : i + 3])[0]
    return ".".join(labels).lower(), qtype, i + 5


def answer(packet: bytes, records: dict[str, str]) -> bytes | None:
    """The reply to a query about the cluster domain, or None for a name to relay upstream."""
    q = parse_question(packet)
    if q is None:
        return None
    name, qtype, end = q
    if not (name == CLUSTER_DOMAIN or name.endswith("." + CLUSTER_DOMAIN)):
        return None
    ip = records.get(name)
    rcode = 0 if ip else 3  # NXDOMAIN
    answers = b""
    if ip and qtype == _A:
        # a pointer to the question's name (offset 12), type A, class IN, TTL 30, 4 bytes of address
        answers = struct.pack("!HHHIH", 0xC00C, _A, _IN, 30, 4) + socket.inet_aton(ip)
    flags = 0x8180 | rcode  # response, recursion desired + available
    header = packet[:2] + struct.pack("!HHHHH", flags, 1, 1 if answers else 0, 0, 0)
    return header + packet[12:end] + answers


def upstream_servers(resolv_conf: Path = Path("/etc/resolv.conf")) -> list[str]:
    out = []
    for line in resolv_conf.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            out.append(parts[1])
    return out or ["127.0.0.1"]


def serve(listen: str, records: dict[str, str], upstream: list[str]) -> None:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data, sock = self.request
            reply = answer(data, records)
            if reply is None:
                for server in upstream:
                    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as up:
                        up.settimeout(3)
                        try:
                            up.sendto(data, (server, 53))
                            reply = up.recv(4096)
                            break
                        except OSError:
                            continue
            if reply is not None:
                sock.sendto(reply, self.client_address)

    with socketserver.ThreadingUDPServer((listen, 53), Handler) as server:
        server.daemon_threads = True
        server.serve_forever()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--listen", required=True)
    p.add_argument("--record", action="append", default=[], help="NAME=IPv4")
    args = p.parse_args()
    records = dict(r.lower().split("=", 1) for r in args.record)
    serve(args.listen, records, upstream_servers())


if __name__ == "__main__":
    main()
