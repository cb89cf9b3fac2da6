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

from django.db import models

from virtualservers.formats import validate as rules
from virtualservers.ipvs.executors import parse_host_key
from virtualservers.formats.choices import Choices, values

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
serial_no = rules.validate_serial_no
persistence = rules.validate_persistence
ipvs_timeout = rules.validate_ipvs_timeout
drain_timeout = rules.validate_drain_timeout
check_seconds = rules.validate_check_seconds
slow_start = rules.validate_slow_start
check_count = rules.validate_check_count
heartbeat_seconds = rules.validate_heartbeat_seconds
syncd_id = rules.validate_syncd_id
single_line = rules.validate_single_line
text = rules.validate_text
send_program = rules.validate_send_program
program_location = rules.validate_program_location
http_path = rules.validate_http_path
http_status = rules.validate_http_status
dns_name = rules.validate_dns_name
debug_level = rules.validate_debug_level
path = rules.validate_path
health_check_problems = rules.health_check_problems
virtual_server_problems = rules.virtual_server_problems


def text_choices(name: str, pairs: Choices, *, module: str, qualname: str | None = None,
                 member_names: dict[str, str] | None = None) -> type[models.TextChoices]:
    """A TextChoices enum made from a pure (value, label) list of formats/choices.py, so
    code reads `Scheduler.WLC` while the list itself is written once. Members are named
    after their values in capitals unless `member_names` says otherwise."""
    names = member_names or {}
    members = [(names.get(value, value.upper()), (value, label)) for value, label in pairs]
    return models.TextChoices(name, members, module=module, qualname=qualname or name)


def one_of(field: str, pairs: Choices) -> models.Q:
    """The CheckConstraint condition: `field` holds one of the list's values."""
    return models.Q(**{f"{field}__in": list(values(pairs))})


def between(field: str, minimum: int, maximum: int, *, null: bool = False) -> models.Q:
    """The CheckConstraint condition: minimum <= field <= maximum (or NULL when allowed)."""
    condition = models.Q(**{f"{field}__gte": minimum, f"{field}__lte": maximum})
    return models.Q(**{f"{field}__isnull": True}) | condition if null else condition


def add_problems(errors: dict, problems: dict[str, str]) -> None:
    """Record a pure rule's {field: message} where the field has no message yet."""
    for field, message in problems.items():
        errors.setdefault(field, _sentence(message))


def collect(errors: dict, field: str, rule: Callable[..., Any], value: Any, *args: Any) -> None:
    """Run `rule` on a non-empty value; record its message under `field`."""
    if value in (None, ""):
        return
    try:
        rule(value, *args)
    except ValueError as exc:
        errors.setdefault(field, _sentence(str(exc)))


def sentence(message: str) -> str:
    """A message as a sentence: a capital first letter and a full stop (unless it ends
    with one, or a question or exclamation mark), so that two of them never run together."""
    message = message.strip()
    if not message:
        return message
    return message[:1].upper() + message[1:] + ("" if message.endswith((".", "?", "!")) else ".")


_sentence = sentence


def ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(rules.validate_ip(str(value)))


def family_of(value: str) -> int:
    return ip(value).version


def family_if_valid(value) -> int | None:
    """4 or 6 for a usable address, None for an invalid or IPv4-mapped one: for rules
    across fields, which leave such an address to its field's own message."""
    try:
        return family_of(value) if value else None
    except ValueError:
        return None


def host(value: str) -> str:
    """An IP address (returned in its canonical form) or a host name."""
    problem = rules.ipv4_mapped_problem(value)
    if problem:
        raise ValueError(_sentence(problem))
    try:
        return str(ip(value))
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
    """A key the SSH client can really load (paramiko, as the executors will), checked when
    saved: "ssh-ed25519 AAAA" looks like a key and would fail every apply later."""
    _ssh_key_blob(value)
    parts = value.strip().split()
    line = " ".join(parts[1:3] if len(parts) >= 3 and parts[1] in SSH_KEY_TYPES else parts[:2])
    try:
        parse_host_key(line)
    except ValueError:
        raise ValueError("The key does not load: copy the whole line that ssh-keyscan prints.") from None
    return value


def ssh_fingerprint(value: str) -> str:
    """OpenSSH's SHA256 fingerprint, as `ssh-keygen -lf` prints it."""
    digest = hashlib.sha256(_ssh_key_blob(value)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")
