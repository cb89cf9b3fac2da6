"""Field validators shared by the importers, the backup loader and the Django forms.

Each function takes the raw value, returns the cleaned value, and raises
ValueError("human message") when the value is wrong. Messages name the offending
value but not the field: the caller knows where the value came from (a line of
lvs.cf, a JSON path, a form field) and adds that.
"""

from __future__ import annotations

import ipaddress
import re

SCHEDULERS = (
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh",
    "sed", "nq", "mh", "fo", "ovf", "twos",
)
PROTOCOLS = ("tcp", "udp", "sctp")
NETWORKS = ("nat", "direct", "tunnel")
FORWARDINGS = ("", "nat", "direct", "tunnel")
SERVICES = ("lvs", "fos")
RSH_COMMANDS = ("ssh", "rsh")
LOAD_MONITORS = ("none", "rup", "ruptime", "uptime")
ADMIN_STATES = ("enabled", "disabled", "draining")
CHECK_TYPES = ("tcp", "send_expect", "udp", "http", "https", "program", "dns", "icmp", "none")
INITIAL_STATES = ("up", "down")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")
DNS_TYPES = ("A", "AAAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT")

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# Linux accepts almost any byte in an interface name; we accept what operators
# actually use (eth0, ens3, bond0.100, br-lan, eth0:1, seth0:1) and refuse
# whitespace, '/' and anything that would need quoting on a command line.
DEVICE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_.-]+)?")
IFNAMSIZ = 16  # includes the trailing NUL, so 15 usable characters
HTTP_STATUS_ITEM_RE = re.compile(r"([1-5][0-9][0-9])(?:-([1-5][0-9][0-9]))?")

MAX_FWMARK = 4294967295
MAX_WEIGHT = 65535


def validate_name(value: str) -> str:
    if not isinstance(value, str) or not NAME_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid name (1 to 64 characters: letters, digits, "
            "'_', '.', '-', starting with a letter or digit)"
        )
    return value


def validate_ip(value: str) -> str:
    """An IPv4 or IPv6 address, returned in its canonical text form."""
    try:
        return str(ipaddress.ip_address(value.strip() if isinstance(value, str) else value))
    except ValueError:
        raise ValueError(f"{value!r} is not a valid IP address") from None


def validate_optional_ip(value: str) -> str:
    return "" if value == "" else validate_ip(value)


def ip_family(value: str) -> int:
    """4 or 6 for a valid address."""
    return ipaddress.ip_address(value).version


def validate_same_family(vip: str, other: str, what: str = "real server") -> None:
    if ip_family(vip) != ip_family(other):
        raise ValueError(
            f"{what} address {other} is IPv{ip_family(other)} but the virtual "
            f"server address {vip} is IPv{ip_family(vip)}"
        )


def validate_int(value, minimum: int | None = None, maximum: int | None = None) -> int:
    """A whole number, from an int or from its decimal text ("  42 " is fine, "4x" is not)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a whole number")
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[+-]?[0-9]+", text):
            raise ValueError(f"{value!r} is not a whole number")
        value = int(text)
    if not isinstance(value, int):
        raise ValueError(f"{value!r} is not a whole number")
    if minimum is not None and value < minimum:
        if maximum is None:
            raise ValueError(f"{value} is less than {minimum}")
        raise ValueError(f"{value} is not between {minimum} and {maximum}")
    if maximum is not None and value > maximum:
        if minimum is None:
            raise ValueError(f"{value} is more than {maximum}")
        raise ValueError(f"{value} is not between {minimum} and {maximum}")
    return value


def validate_port(value) -> int:
    try:
        return validate_int(value, 1, 65535)
    except ValueError:
        raise ValueError(f"{value!r} is not a port number (1 to 65535)") from None


def validate_optional_port(value) -> int | None:
    return None if value is None or value == "" else validate_port(value)


def validate_non_negative(value) -> int:
    """Seconds of persistence or a timeout: 0 or more."""
    try:
        return validate_int(value, 0)
    except ValueError:
        raise ValueError(f"{value!r} is not a whole number of 0 or more") from None


def validate_positive(value) -> int:
    try:
        return validate_int(value, 1)
    except ValueError:
        raise ValueError(f"{value!r} is not a whole number of 1 or more") from None


def validate_weight(value) -> int:
    try:
        return validate_int(value, 0, MAX_WEIGHT)
    except ValueError:
        raise ValueError(f"{value!r} is not a weight (a whole number from 0 to {MAX_WEIGHT})") from None


def validate_fwmark(value) -> int | None:
    if value is None or value == "":
        return None
    try:
        return validate_int(value, 1, MAX_FWMARK)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a firewall mark (a whole number from 1 to {MAX_FWMARK})"
        ) from None


def validate_netmask(value: str, family: int) -> str:
    """A dotted netmask for IPv4 (255.255.255.0), a prefix length for IPv6 (64).

    Empty is allowed: it means "no mask given" (the caller decides the default).
    """
    if value == "":
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a netmask")
    text = value.strip()
    if family == 4:
        try:
            ipaddress.IPv4Network(f"0.0.0.0/{text}")
        except ValueError:
            raise ValueError(f"{value!r} is not a valid IPv4 netmask") from None
        if not re.fullmatch(r"\d+\.\d+\.\d+\.\d+", text):
            raise ValueError(f"{value!r} is not a dotted IPv4 netmask such as 255.255.255.0")
        return text
    if family == 6:
        if not re.fullmatch(r"[0-9]{1,3}", text) or int(text) > 128:
            raise ValueError(f"{value!r} is not an IPv6 prefix length (0 to 128)")
        return str(int(text))
    raise ValueError(f"unknown address family {family!r}")


def validate_device(value: str) -> str:
    """An interface name, optionally with an alias label: eth0, bond0.100, eth0:1."""
    if value == "":
        return ""
    if (
        not isinstance(value, str)
        or not DEVICE_RE.fullmatch(value)
        or value.split(":")[0] in (".", "..")
    ):
        raise ValueError(f"{value!r} is not a valid device name (such as eth0, bond0.100 or eth0:1)")
    if len(value) > IFNAMSIZ - 1:
        raise ValueError(f"device name {value!r} is longer than {IFNAMSIZ - 1} characters")
    return value


def validate_choice(value: str, choices: tuple[str, ...], what: str) -> str:
    if value not in choices:
        shown = " ".join(c if c else "''" for c in choices)
        raise ValueError(f"unknown {what} {value!r} (one of: {shown})")
    return value


def validate_scheduler(value: str) -> str:
    return validate_choice(value, SCHEDULERS, "scheduler")


def validate_protocol(value: str) -> str:
    return validate_choice(value, PROTOCOLS, "protocol")


def validate_forwarding(value: str) -> str:
    return validate_choice(value, FORWARDINGS, "forwarding method")


def validate_network(value: str) -> str:
    return validate_choice(value, NETWORKS, "network type")


def validate_bool(value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{value!r} is not true or false")
    return value


def validate_bool01(value: str) -> bool:
    """lvs.cf booleans: exactly 0 or 1."""
    text = value.strip() if isinstance(value, str) else value
    if text in ("0", 0):
        return False
    if text in ("1", 1):
        return True
    raise ValueError(f"{value!r} is not 0 or 1")


def validate_http_status(value: str) -> str:
    """Codes and ranges separated by commas: "200", "200-399", "200,301-302"."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("HTTP status must list at least one code or range, such as 200-399")
    items = [item.strip() for item in value.split(",")]
    for item in items:
        match = HTTP_STATUS_ITEM_RE.fullmatch(item)
        if not match:
            raise ValueError(f"{item!r} is not an HTTP status code or range such as 200-399")
        if match.group(2) and int(match.group(2)) < int(match.group(1)):
            raise ValueError(f"HTTP status range {item!r} ends before it starts")
    return ",".join(items)


def validate_http_path(value: str) -> str:
    if not isinstance(value, str) or not value.startswith("/") or any(c.isspace() for c in value):
        raise ValueError(f"{value!r} is not an HTTP path (it must start with '/' and have no spaces)")
    return value


def validate_dns_type(value: str) -> str:
    return validate_choice(value, DNS_TYPES, "DNS record type")


def validate_dns_name(value: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 253 or any(c.isspace() for c in value):
        raise ValueError(f"{value!r} is not a DNS name")
    return value


def validate_path(value: str) -> str:
    """An absolute file path (the ipvsadm binary)."""
    if not isinstance(value, str) or not value.startswith("/") or any(c.isspace() for c in value):
        raise ValueError(f"{value!r} is not an absolute path")
    return value


def validate_single_line(value: str) -> str:
    """Free text that ends up on one line of a configuration file."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not text")
    if "\n" in value or "\r" in value or "\0" in value:
        raise ValueError("text must be on one line")
    return value


def validate_text(value: str) -> str:
    """Free text (send and expect strings may hold \\r\\n)."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not text")
    if "\0" in value:
        raise ValueError("text must not contain a NUL character")
    return value


def validate_director_names(value) -> list[str]:
    """The directors a virtual server is deployed to: valid names, each once; returned sorted.

    Empty means every enabled director. Whether each director exists is the Django
    side's question (a backup may come from another installation).
    """
    if not isinstance(value, list):
        raise ValueError(f"{value!r} is not a list of director names")
    seen: set[str] = set()
    for name in value:
        try:
            validate_name(name)
        except ValueError as exc:
            raise ValueError(f"director {exc}") from None
        if name in seen:
            raise ValueError(f"director {name!r} is named twice")
        seen.add(name)
    return sorted(value)
