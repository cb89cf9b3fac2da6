"""Input rules shared by models, forms and importers.

Each rule is a plain function that returns the normalised value or raises
ValueError with a message meant for the operator; `collect` turns that into a
field-keyed error for Django's ValidationError.
"""
import base64
import hashlib
import ipaddress
import re
from typing import Any, Callable

SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo", "ovf", "twos")

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Linux interface names: at most 15 bytes, no '/', ':' or whitespace; an alias
# label ("eth0:1") adds ':' and up to 15 - len(base) more characters.
DEVICE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}(:[A-Za-z0-9_-]+)?$")
HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
UNIX_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
SSH_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")


def collect(errors: dict, field: str, rule: Callable[..., Any], value: Any, *args: Any) -> None:
    """Run `rule` on a non-empty value; record its message under `field`."""
    if value in (None, ""):
        return
    try:
        rule(value, *args)
    except ValueError as exc:
        errors.setdefault(field, str(exc))


def name(value: str) -> str:
    if not NAME_RE.match(value):
        raise ValueError("Use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit.")
    return value


def ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(str(value).strip())
    except ValueError:
        raise ValueError(f"'{value}' is not a valid IPv4 or IPv6 address.") from None


def family_of(value: str) -> int:
    return ip(value).version


def same_family(vip: str, other: str, what: str = "the virtual server's VIP") -> None:
    if family_of(vip) != family_of(other):
        raise ValueError(f"{other} is IPv{family_of(other)} but {what} ({vip}) is IPv{family_of(vip)}.")


def port(value: int) -> int:
    if not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError("A port is a number from 1 to 65535.")
    return value


def weight(value: int) -> int:
    if not isinstance(value, int) or not 0 <= value <= 65535:
        raise ValueError("A weight is a number from 0 to 65535.")
    return value


def fwmark(value: int) -> int:
    if not isinstance(value, int) or not 1 <= value <= 0xFFFFFFFF:
        raise ValueError("A firewall mark is a number from 1 to 4294967295.")
    return value


def non_negative(value: int) -> int:
    if not isinstance(value, int) or value < 0:
        raise ValueError("Must be zero or more.")
    return value


def netmask(value: str, family: int = 4) -> str:
    """A dotted IPv4 netmask (contiguous ones) or, for IPv6, a prefix length."""
    text = str(value).strip()
    if family == 6:
        if not text.isdigit() or not 1 <= int(text) <= 128:
            raise ValueError("For IPv6 the netmask is a prefix length from 1 to 128.")
        return text
    try:
        ipaddress.IPv4Network(f"0.0.0.0/{text}")
    except ValueError:
        raise ValueError(f"'{text}' is not a valid IPv4 netmask (e.g. 255.255.255.0).") from None
    if text.isdigit():
        raise ValueError("Write the IPv4 netmask dotted, e.g. 255.255.255.0.")
    return text


def device(value: str) -> str:
    if not DEVICE_RE.match(value) or len(value.split(":")[0]) > 15:
        raise ValueError("Not a valid interface name (e.g. eth0 or eth0:1; at most 15 characters before ':').")
    return value


def scheduler(value: str) -> str:
    if value not in SCHEDULERS:
        raise ValueError(f"Unknown scheduler '{value}'; choose one of {', '.join(SCHEDULERS)}.")
    return value


def host(value: str) -> str:
    try:
        ip(value)
        return value
    except ValueError:
        pass
    if not HOSTNAME_RE.match(value):
        raise ValueError(f"'{value}' is neither an IP address nor a host name.")
    return value


def unix_user(value: str) -> str:
    if not UNIX_USER_RE.match(value):
        raise ValueError("Not a valid user name.")
    return value


def absolute_path(value: str) -> str:
    if not value.startswith("/") or "\x00" in value or "\n" in value:
        raise ValueError("Give an absolute path, e.g. /root/.ssh/id_ed25519.")
    return value


def _ssh_key_blob(value: str) -> bytes:
    parts = value.strip().split()
    # Accept "type base64" and a known_hosts line "host type base64".
    if len(parts) >= 3 and parts[1] in SSH_KEY_TYPES:
        parts = parts[1:]
    if len(parts) < 2 or parts[0] not in SSH_KEY_TYPES:
        raise ValueError(f"Expected '<type> <base64>' with type one of {', '.join(SSH_KEY_TYPES)}.")
    try:
        return base64.b64decode(parts[1], validate=True)
    except ValueError:
        raise ValueError("The key's base64 part is damaged.") from None


def ssh_public_key(value: str) -> str:
    _ssh_key_blob(value)
    return value


def ssh_fingerprint(value: str) -> str:
    """OpenSSH's SHA256 fingerprint, as `ssh-keygen -lf` prints it."""
    digest = hashlib.sha256(_ssh_key_blob(value)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")
