"""The real node's cluster DNS (scoutly.testing.dns): answers for the cluster domain, relays the rest."""

from __future__ import annotations

import socket
import struct

from scoutly.testing.dns import answer, parse_question

RECORDS = {"kubernetes.default.svc.cluster.local": "10.96.1.1"}


def _query(name: str, qtype: int = 1) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return (
        b"\xab\xcd\x01\x00"
        + struct.pack("!HHHH", 1, 0, 0, 0)
        + labels
        + b"\x00"
        + struct.pack("!HH", qtype, 1)
    )


def test_the_kubernetes_service_resolves_to_its_cluster_ip() -> None:
    reply = answer(_query("Kubernetes.default.svc.cluster.local"), RECORDS)
    assert reply is not None
    assert reply[:2] == b"\xab\xcd"  # the query's id
    flags, qd, an = struct.unpack("!HHH", reply[2:8])
    assert flags & 0x000F == 0 and qd == 1 and an == 1
    assert socket.inet_ntoa(reply[-4:]) == "10.96.1.1"


def test_other_cluster_names_do_not_exist_and_aaaa_has_no_answer() -> None:
    missing = answer(_query("nosuch.default.svc.cluster.local"), RECORDS)
    assert missing is not None and struct.unpack("!H", missing[2:4])[0] & 0x000F == 3  # NXDOMAIN
    aaaa = answer(_query("kubernetes.default.svc.cluster.local", qtype=28), RECORDS)
    assert aaaa is not None and struct.unpack("!H", aaaa[6:8])[0] == 0


def test_names_outside_the_cluster_are_relayed_and_junk_is_refused() -> None:
    assert answer(_query("boards-api.greenhouse.io"), RECORDS) is None
    assert parse_question(b"\x00" * 5) is None
