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

from virtualservers.formats import validate as rules

UNIX_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
SSH_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")

# The configuration rules live in one place, the pure formats package, so a
# form, a model's clean() and an lvs.cf or keepalived import refuse the same
# things with the same words.
SCHEDULERS = rules.SCHEDULERS
name = rules.validate_name
port = rules.validate_port
weight = rules.validate_weight
fwmark = rules.validate_fwmark
non_negative = rules.validate_non_negative
netmask = rules.validate_netmask
device = rules.validate_device
scheduler = rules.validate_scheduler
same_family = rules.validate_same_family


def collect(errors: dict, field: str, rule: Callable[..., Any], value: Any, *args: Any) -> None:
    """Run `rule` on a non-empty value; record its message under `field`."""
    if value in (None, ""):
        return
    try:
        rule(value, *args)
    except ValueError as exc:
        errors.setdefault(field, str(exc)[:1].upper() + str(exc)[1:] + ("" if str(exc).endswith(".") else "."))


def ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(rules.validate_ip(str(value)))


def family_of(value: str) -> int:
    return ip(value).version


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
