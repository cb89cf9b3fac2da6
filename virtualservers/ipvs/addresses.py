"""IP addresses and endpoints written the way ipvsadm writes them.

ipvsadm prints addresses with glibc's inet_ntop and endpoints as "ADDR:PORT", with
brackets around IPv6 addresses ("[2001:db8::1]:80"). Python's ipaddress compresses
IPv6 the same way except for IPv4-compatible and IPv4-mapped addresses, which glibc
prints with a dotted tail ("::ffff:192.0.2.1"); `normalize_address` follows glibc so a
parsed table and a rendered one agree on every string.
"""

from __future__ import annotations

import ipaddress
import socket
from functools import lru_cache


@lru_cache(maxsize=65536)
def normalize_address(text: str) -> tuple[str, int]:
    """(canonical text, family 4|6) of an IP address; ValueError if it is not one.

    Host names, zone ids ("fe80::1%eth0"), prefixes, brackets and IPv4 with leading
    zeros are refused: the kernel table holds plain addresses, and accepting other
    spellings would let two spellings of one address compare unequal.
    """
    if not isinstance(text, str) or not text.isascii():
        raise ValueError(f"not an IP address: {text!r}")
    # inet_pton is strict (dotted quad only, no leading zeros) and fast; the cache
    # makes repeated addresses, as in every table, nearly free.
    try:
        if ":" in text:
            return ntop6(int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")), 6
        socket.inet_pton(socket.AF_INET, text)
    except (OSError, ValueError):
        raise ValueError(f"not an IP address: {text!r}") from None
    return text, 4


def ntop6(value: int) -> str:
    """A 128-bit address as glibc's inet_ntop(AF_INET6) prints it."""
    words = [(value >> (112 - 16 * i)) & 0xFFFF for i in range(8)]
    best_base, best_len = -1, 0
    cur_base, cur_len = -1, 0
    for i, word in enumerate(words):
        if word == 0:
            if cur_base == -1:
                cur_base, cur_len = i, 1
            else:
                cur_len += 1
        elif cur_base != -1:
            if best_base == -1 or cur_len > best_len:
                best_base, best_len = cur_base, cur_len
            cur_base = -1
    if cur_base != -1 and (best_base == -1 or cur_len > best_len):
        best_base, best_len = cur_base, cur_len
    if best_len < 2:
        best_base = -1

    out: list[str] = []
    for i, word in enumerate(words):
        if best_base != -1 and best_base <= i < best_base + best_len:
            if i == best_base:
                out.append(":")
            continue
        if i != 0:
            out.append(":")
        # glibc prints an IPv4-compatible (::a.b.c.d) or IPv4-mapped tail dotted.
        if i == 6 and best_base == 0 and (
                best_len == 6 or (best_len == 5 and words[5] == 0xFFFF)):
            out.append(str(ipaddress.IPv4Address(value & 0xFFFFFFFF)))
            break
        out.append(f"{word:x}")
    if best_base != -1 and best_base + best_len == 8:
        out.append(":")
    return "".join(out)


def format_endpoint(address: str, port: int) -> str:
    """ADDRESS:PORT as ipvsadm -n prints it: "192.0.2.1:80", "[2001:db8::1]:80"."""
    if ":" in address:
        return f"[{address}]:{port}"
    return f"{address}:{port}"


def split_endpoint(text: str) -> tuple[str, int | None]:
    """(normalized address, port or None) from "A:P", "[A6]:P", "A" or a bare IPv6.

    Mirrors ipvsadm's parse_service(): a bracketed IPv6 needs ":PORT"; an unbracketed
    text that is a whole IPv6 address has no port. Port names and host names are
    refused (everything lbadmin reads comes from `ipvsadm -n`).
    """
    if text.startswith("["):
        close = text.find("]")
        if close == -1 or text[close + 1:close + 2] != ":":
            raise ValueError(f"bad endpoint {text!r}: expected [IPV6]:PORT")
        address, port_text = text[1:close], text[close + 2:]
        return normalize_address(address)[0], _port(port_text, text)
    if text.count(":") > 1:
        return normalize_address(text)[0], None
    address, sep, port_text = text.partition(":")
    canonical = normalize_address(address)[0]
    return canonical, (_port(port_text, text) if sep else None)


def _port(text: str, whole: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 5 or int(text) > 65535:
        raise ValueError(f"bad port in {whole!r}: expected a number 0..65535")
    return int(text)


@lru_cache(maxsize=65536)
def address_order(address: str) -> int:
    """Sort key putting addresses in ipvsadm's order (numeric, as 128-bit words).

    ipvsadm compares destinations word by word with an IPv4 address in the first
    32-bit word, so an IPv4 address sorts as if shifted into the top word.
    """
    if ":" in address:
        return int.from_bytes(socket.inet_pton(socket.AF_INET6, address), "big")
    return int.from_bytes(socket.inet_pton(socket.AF_INET, address), "big") << 96
