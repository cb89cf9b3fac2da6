"""Field validators shared by the importers, the backup loader and the Django forms.

Each function takes the raw value, returns the cleaned value, and raises
ValueError("human message") when the value is wrong. Messages name the offending
value but not the field: the caller knows where the value came from (a line of
lvs.cf, a JSON path, a form field) and adds that.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
import shlex

from .choices import (
    ADMIN_STATE_CHOICES,
    CHECK_TYPE_CHOICES,
    DNS_TYPE_CHOICES,
    FORWARDING_CHOICES,
    HTTP_METHOD_CHOICES,
    INITIAL_STATE_CHOICES,
    LOAD_MONITOR_CHOICES,
    NETWORK_CHOICES,
    PROTOCOL_CHOICES,
    RSH_COMMAND_CHOICES,
    SCHED_FLAG_CHOICES,
    SCHED_FLAGS_OF,
    SCHEDULER_CHOICES,
    SERVICE_CHOICES,
    check_type_fields,
    values,
)

# The values of each choice list (labels and the lists themselves: choices.py).
SCHEDULERS = values(SCHEDULER_CHOICES)
SCHED_FLAGS = values(SCHED_FLAG_CHOICES)
PROTOCOLS = values(PROTOCOL_CHOICES)
NETWORKS = values(NETWORK_CHOICES)
FORWARDINGS = values(FORWARDING_CHOICES)
SERVICES = values(SERVICE_CHOICES)
RSH_COMMANDS = values(RSH_COMMAND_CHOICES)
LOAD_MONITORS = values(LOAD_MONITOR_CHOICES)
ADMIN_STATES = values(ADMIN_STATE_CHOICES)
CHECK_TYPES = values(CHECK_TYPE_CHOICES)
INITIAL_STATES = values(INITIAL_STATE_CHOICES)
HTTP_METHODS = values(HTTP_METHOD_CHOICES)
DNS_TYPES = values(DNS_TYPE_CHOICES)

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# Linux accepts almost any byte in an interface name; we accept what operators
# actually use (eth0, ens3, bond0.100, br-lan, eth0:1, seth0:1) and refuse
# whitespace, '/' and anything that would need quoting on a command line.
DEVICE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_.-]+)?")
IFNAMSIZ = 16  # includes the trailing NUL, so 15 usable characters
# One item of an accepted-status list: a code or a range, 100 to 599. ASCII digits only
# (\d would take other scripts' digits). monitoring.checks.matching uses the same syntax.
HTTP_STATUS_ITEM_RE = re.compile(r"([1-5][0-9][0-9])(?:-([1-5][0-9][0-9]))?")

# --- bounds: the Django models' CheckConstraints use these too --------------------------
DAY = 86400
MAX_PORT = 65535
MAX_FWMARK = 4294967295  # the kernel's mark is 32 bits
MAX_WEIGHT = 65535  # ipvsadm refuses more
MAX_SYNCD_ID = 255  # the sync daemon's id is one byte
# ipvsadm refuses -p and --set (tcp, tcpfin, udp) values above 31 days
# (ipvs.model.MAX_TIMEOUT, proven equal by a test).
MAX_IPVS_TIMEOUT = 31 * DAY
# A server left draining for more than a week has been forgotten. The bound also keeps
# drain_started_at + drain_timeout inside what datetime can hold.
MAX_DRAIN_TIMEOUT = 7 * DAY
# No check needs to wait a day between tries or for an answer, nor ramp up for longer.
MAX_CHECK_SECONDS = DAY
# Successes or failures in a row. lvs.cf's reentry 7200 s at a 1 s timeout gives 7200.
MAX_CHECK_COUNT = 10000
# Heartbeat interval and dead time: a day is far beyond any useful failover.
MAX_HEARTBEAT_SECONDS = DAY
# The serial number lvs.cf carries; the largest integer every database column holds.
MAX_SERIAL_NO = 2**31 - 1

def validate_name(value: str) -> str:
    if not isinstance(value, str) or not NAME_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid name (1 to 64 characters: letters, digits, "
            "'_', '.', '-', starting with a letter or digit)"
        )
    return value


def validate_ip(value: str) -> str:
    """An IPv4 or IPv6 address, returned in its canonical text form (IPv6 compressed,
    lower case). An IPv4-mapped IPv6 address is refused (ipv4_mapped_problem)."""
    try:
        address = ipaddress.ip_address(value.strip() if isinstance(value, str) else value)
    except ValueError:
        raise ValueError(f"{value!r} is not a valid IP address") from None
    problem = ipv4_mapped_problem(address)
    if problem:
        raise ValueError(problem)
    return str(address)


def ipv4_mapped_problem(value) -> str | None:
    """Why an IPv4-mapped IPv6 address (::ffff:a.b.c.d) cannot stand for a host, or None.

    It names an IPv4 host, reached over IPv4: IPVS would file it as IPv6, so it can be
    neither the destination of an IPv6 service nor of an IPv4 one, and Python prints it
    in hex (::ffff:a0a:d), where nobody recognises the host."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is None:
        return None
    return (f"an IPv4-mapped address (::ffff:{mapped}) is an IPv4 host: "
            f"use {mapped} with an IPv4 virtual server")


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


def _bounded(value, minimum: int, maximum: int, what: str, unit: str = "") -> int:
    """A whole number in [minimum, maximum]; the message names what it is and the range."""
    try:
        return validate_int(value, minimum, maximum)
    except ValueError:
        of = f" of {unit}" if unit else ""
        raise ValueError(f"{value!r} is not {what} (a whole number{of} from {minimum} to {maximum})") from None


def validate_serial_no(value) -> int:
    return _bounded(value, 0, MAX_SERIAL_NO, "a serial number")


def validate_persistence(value) -> int:
    """Persistence timeout in seconds; 0 turns persistence off."""
    return _bounded(value, 0, MAX_IPVS_TIMEOUT, "a persistence timeout", "seconds")


def validate_ipvs_timeout(value) -> int:
    """ipvsadm --set tcp / tcpfin / udp timeouts in seconds; 0 keeps the kernel's value."""
    return _bounded(value, 0, MAX_IPVS_TIMEOUT, "a connection timeout", "seconds")


def validate_drain_timeout(value) -> int:
    return _bounded(value, 0, MAX_DRAIN_TIMEOUT, "a drain timeout", "seconds")


def validate_check_seconds(value) -> int:
    """A check's interval or timeout."""
    return _bounded(value, 1, MAX_CHECK_SECONDS, "a check time", "seconds")


def validate_slow_start(value) -> int:
    return _bounded(value, 0, MAX_CHECK_SECONDS, "a slow start time", "seconds")


def validate_check_count(value) -> int:
    """rise / fall: checks in a row."""
    return _bounded(value, 1, MAX_CHECK_COUNT, "a number of checks")


def validate_heartbeat_seconds(value) -> int:
    """The heartbeat interval (keepalive) or dead time."""
    return _bounded(value, 1, MAX_HEARTBEAT_SECONDS, "a heartbeat time", "seconds")


def validate_syncd_id(value) -> int:
    return _bounded(value, 0, MAX_SYNCD_ID, "a sync daemon id")


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


def split_sched_flags(value) -> list[str]:
    """A virtual server's scheduler flags as stored: "mh-fallback,mh-port" (or a list)."""
    if isinstance(value, (list, tuple)):
        return [str(flag) for flag in value]
    return [flag.strip() for flag in str(value or "").split(",") if flag.strip()]


def validate_sched_flags(value, scheduler: str | None = None) -> str:
    """Known flags, each once, and (given the scheduler) only the ones it reads; returned
    as stored, in the order of SCHED_FLAG_CHOICES."""
    flags = split_sched_flags(value)
    for flag in flags:
        validate_choice(flag, SCHED_FLAGS, "scheduler flag")
        if scheduler is not None and flag not in SCHED_FLAGS_OF.get(scheduler, ()):
            owner = flag.split("-")[0]
            raise ValueError(f"the {flag} flag belongs to the {owner} scheduler, not to {scheduler}")
    if len(set(flags)) != len(flags):
        raise ValueError("a scheduler flag is given twice")
    return ",".join(flag for flag in SCHED_FLAGS if flag in flags)


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


def _no_nul(value: str) -> str:
    if "\0" in value:
        raise ValueError("text must not contain a NUL character")
    return value


def validate_http_path(value: str) -> str:
    if not isinstance(value, str) or not value.startswith("/") or any(c.isspace() or c == "\0" for c in value):
        raise ValueError(f"{value!r} is not an HTTP path (it must start with '/' and have no spaces)")
    return value


def validate_dns_type(value: str) -> str:
    return validate_choice(value, DNS_TYPES, "DNS record type")


def validate_dns_name(value: str) -> str:
    if (
        not isinstance(value, str) or not value or len(value) > 253
        or any(c.isspace() or c == "\0" for c in value)
    ):
        raise ValueError(f"{value!r} is not a DNS name (1 to 253 characters, no spaces)")
    return value


def validate_path(value: str) -> str:
    """An absolute file path (the ipvsadm binary)."""
    if not isinstance(value, str) or not value.startswith("/") or any(c.isspace() or c == "\0" for c in value):
        raise ValueError(f"{value!r} is not an absolute path without spaces")
    return value


def validate_single_line(value: str) -> str:
    """Free text that ends up on one line of a configuration file."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not text")
    _no_nul(value)
    if "\n" in value or "\r" in value:
        raise ValueError("text must be on one line")
    return value


def validate_text(value: str) -> str:
    """Free text (send and expect strings may hold \\r\\n)."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not text")
    return _no_nul(value)


def validate_debug_level(value: str) -> str:
    """lvs.cf's debug_level: a word such as NONE or 2, never blank."""
    validate_single_line(value)
    if not value.strip():
        raise ValueError("give a debug level, such as NONE")
    return value


def validate_regex(value: str) -> str:
    """A pattern the checks can use: they compile it over bytes, as written."""
    validate_text(value)
    try:
        re.compile(value.encode())
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    return value


def validate_send_program(value: str) -> str:
    """A check program: one line, split into argv the way the program check splits it."""
    validate_single_line(value)
    try:
        shlex.split(value)
    except ValueError as exc:
        raise ValueError(f"cannot split the command line: {exc}") from None
    return value


def validate_program_location(value: str, directory: str) -> str:
    """A check program may only be named inside the operator's directory: an absolute
    path, written without '.', '..' or '//' (so the text says where it points), below
    `directory`. The checker resolves symlinks and checks ownership again on every run
    (monitoring.checks.program_check.resolve_program)."""
    validate_send_program(value)
    words = shlex.split(value)
    if not words:
        return value
    program, folder = words[0], posixpath.normpath(directory)
    if "%h" in program or "%p" in program:
        raise ValueError("the program's own path cannot hold %h or %p")
    if (not program.startswith("/") or posixpath.normpath(program) != program
            or not program.startswith(folder.rstrip("/") + "/")):
        raise ValueError(f"the program must be a file in {folder}, the check program "
                         f"directory the operator set up; {program} is not")
    return value


# --- rules across fields ------------------------------------------------------------------


def health_check_problems(hc) -> dict[str, str]:
    """What a health check lacks for its type, keyed by field.

    `hc` is anything with the HealthCheck field names (a HealthCheckConfig, a model row).
    The field rules run first; these only look at which fields the type needs.
    """
    problems: dict[str, str] = {}
    if hc.check_type == "send_expect" and not hc.send and not hc.expect:
        problems["send"] = "a send/expect check needs a send string, an expect string or both"
    if hc.check_type == "program" and not (hc.send_program or "").strip():
        problems["send_program"] = "a program check needs the program to run"
    if hc.check_type == "dns" and not hc.dns_name:
        problems["dns_name"] = "a DNS check needs the name to query"
    if hc.use_regex:
        # '*' is "any reply" for expect, never a pattern (monitoring.checks.matching). Only
        # the fields this type reads: a pattern kept from another type is not one.
        read = check_type_fields(hc.check_type)
        for name in (n for n in ("expect", "http_body", "dns_expect") if n in read):
            value = getattr(hc, name)
            if value and not (name == "expect" and value == "*"):
                try:
                    validate_regex(value)
                except ValueError as exc:
                    problems.setdefault(name, str(exc))
    return problems


def virtual_server_problems(vs) -> dict[str, str]:
    """Rules across a virtual server's fields (the address families aside), keyed by field."""
    problems: dict[str, str] = {}
    if vs.pmask and not vs.persistent:
        problems["pmask"] = "a persistence netmask needs a persistence timeout"
    if vs.sorry_port is not None and vs.sorry_port != "" and not vs.sorry_server:
        problems["sorry_port"] = "a sorry port needs a sorry server"
    if vs.fwmark and vs.protocol == "sctp":
        problems["fwmark"] = "firewall-mark services carry TCP and UDP; SCTP is not supported with marks"
    if getattr(vs, "sched_flags", ""):
        try:
            validate_sched_flags(vs.sched_flags, vs.scheduler)
        except ValueError as exc:
            problems["sched_flags"] = str(exc)
    return problems


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
