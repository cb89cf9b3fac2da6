"""The order in which ipvsadm lists services and destinations.

ipvsadm sorts with libipvs's comparators, which subtract 32-bit unsigned values and
read the difference as a signed int. Values more than 2**31 apart therefore compare
"backwards": 10.0.0.1 sorts after 192.168.1.1. This module reproduces that comparison,
so render() matches the real `ipvsadm -S -n` text (seen on the lab VM). When the
wrapped comparison is not even transitive on a set (a cycle such as 1.x < 10.x < 100.x
< 192.x < 1.x), ipvsadm's own order depends on the kernel's order and glibc's sort;
then only the parsed tables are guaranteed equal, not the text.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cmp_to_key
from typing import TYPE_CHECKING

from .addresses import address_order

if TYPE_CHECKING:
    from .model import Destination, Service

_AF = {4: 2, 6: 10}                                        # AF_INET, AF_INET6
_PROTO = {"tcp": 6, "udp": 17, "sctp": 132, "fwmark": 6}   # fwmark services are held as TCP
_HALF = 1 << 31


def _wrapped(a: int, b: int) -> int:
    """(int)(uint32_t)(a - b), as C computes it."""
    diff = (a - b) & 0xFFFFFFFF
    return diff - (1 << 32) if diff & _HALF else diff


def _words(address: str) -> tuple[int, int, int, int]:
    """The four 32-bit words of an address as the kernel stores it (IPv4 in the first)."""
    value = address_order(address) if address else 0
    return ((value >> 96) & 0xFFFFFFFF, (value >> 64) & 0xFFFFFFFF,
            (value >> 32) & 0xFFFFFFFF, value & 0xFFFFFFFF)


def _compare_addresses(first: str, second: str, family: int) -> int:
    a, b = _words(first), _words(second)
    if family == 6:
        for x, y in zip(a, b):
            result = _wrapped(x, y)
            if result:
                return result
        return 0
    return _wrapped(a[0], b[0])


def compare_destinations(d1: Destination, d2: Destination) -> int:
    """libipvs's ipvs_cmp_dests(): address (by the first one's family), then port."""
    return _compare_addresses(d1.address, d2.address, d1.family) or d1.port - d2.port


def compare_services(s1: Service, s2: Service) -> int:
    """libipvs's ipvs_cmp_services(): fwmark, family, protocol, address, port."""
    k1, k2 = s1.key, s2.key
    return (_wrapped(k1.fwmark, k2.fwmark) or _AF[k1.family] - _AF[k2.family]
            or _PROTO[k1.kind] - _PROTO[k2.kind]
            or _compare_addresses(k1.address, k2.address, k1.family) or k1.port - k2.port)


def _span_under_half(values: list[int]) -> bool:
    return not values or max(values) - min(values) < _HALF


def sorted_destinations(destinations: Iterable[Destination]) -> list[Destination]:
    items = list(destinations)
    orders = [address_order(d.address) for d in items]
    if all(":" not in d.address for d in items) and (
            not orders or max(orders) - min(orders) < _HALF << 96):
        # No difference wraps: the plain numeric order is ipvsadm's, and faster.
        # (address, port) is unique within a service, so items are never compared.
        return [d for _, _, d in sorted(zip(orders, [d.port for d in items], items))]
    return sorted(items, key=cmp_to_key(compare_destinations))


def sorted_services(services: Iterable[Service]) -> list[Service]:
    items = list(services)
    if (_span_under_half([s.key.fwmark for s in items])
            and all(s.key.family == 4 or s.key.is_fwmark for s in items)
            and _span_under_half([_words(s.key.address)[0] for s in items if s.key.address])):
        return sorted(items, key=lambda s: s.key.sort_key())
    return sorted(items, key=cmp_to_key(compare_services))
