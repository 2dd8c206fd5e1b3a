"""SSRF guard: which resolved addresses a scrape may connect to. Pure apart from the injected resolver."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Cloud metadata endpoints: refused even when an allow-list entry would cover them.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data", "metadata.azure.com"})


class BlockedAddress(Exception):
    """The URL's host resolves to an address a scrape must not reach."""


@dataclass(frozen=True)
class AllowList:
    """Private hosts explicitly allowed (by name, address or network)."""

    names: frozenset[str]
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    @classmethod
    def parse(cls, entries: Sequence[str]) -> AllowList:
        names: set[str] = set()
        nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for e in entries:
            try:
                nets.append(ipaddress.ip_network(e, strict=False))
            except ValueError:
                names.add(e.lower().rstrip("."))
        return cls(frozenset(names), tuple(nets))

    def covers(self, host: str, ip: IPAddress) -> bool:
        return host in self.names or any(ip in n for n in self.networks)


NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))  # RFC 6052, 8215


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries to an IPv4 host, if any: IPv4-mapped (::ffff:a.b.c.d),
    IPv4-compatible (::a.b.c.d, deprecated but still routed by some stacks), NAT64 (64:ff9b::a.b.c.d),
    6to4 (2002:AABB:CCDD::) and Teredo (the client's address). A gateway turns each into a connection to
    that IPv4 address, so each is judged as that address."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if any(ip in n for n in NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if int(ip) >> 32 == 0 and int(ip) > 1:  # ::a.b.c.d (not :: and ::1, which are IPv6's own)
        return ipaddress.IPv4Address(int(ip))
    return None


def check_address(host: str, address: str, allow: AllowList) -> IPAddress:
    """The address if a scrape may connect to it; BlockedAddress with the reason otherwise."""
    ip: IPAddress = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and (inner := embedded_ipv4(ip)) is not None:
        try:
            check_address(host, str(inner), allow)
        except BlockedAddress as e:
            raise BlockedAddress(f"{e} (embedded in {ip})") from None
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped  # connect over IPv4: the same host
        if allow.covers(host, ip) or allow.covers(host, inner) or inner.is_global:
            return ip
    if ip in METADATA_ADDRESSES:
        raise BlockedAddress(f"{host} resolves to the metadata endpoint {ip}")
    if ip.is_global or allow.covers(host, ip):
        return ip
    raise BlockedAddress(f"{host} resolves to the non-global address {ip}")


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def resolve_checked(host: str, port: int, allow: AllowList, resolver: Resolver) -> IPAddress:
    """Resolve `host` and check every address (a mixed answer is refused: DNS rebinding picks any)."""
    host = host.lower().rstrip(".")
    if host in METADATA_HOSTS:
        raise BlockedAddress(f"{host} is a metadata endpoint")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        return check_address(host, str(literal), allow)
    try:
        addresses = await resolver(host, port)
    except OSError as e:
        raise BlockedAddress(f"cannot resolve {host}: {e}") from e
    if not addresses:
        raise BlockedAddress(f"{host} has no addresses")
    checked = [check_address(host, a, allow) for a in addresses]
    return checked[0]
