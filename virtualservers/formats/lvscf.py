"""Piranha's /etc/sysconfig/ha/lvs.cf: read all of it, write what Piranha accepts.

Reading takes every key and block that Piranha's own parser (lvsconfig.c) takes, and
gives two kinds of findings, each "PATH:LINE: message":

- errors (LvsCfError, the first one found) refuse the whole file: a key Piranha does not
  know, a value neither Piranha nor lbadmin can read, a stray brace. An import that
  silently drops part of a load balancer is worse than one that stops.
- warnings (returned with the configuration) say what lbadmin did with something Piranha
  accepts and lbadmin cannot hold as written: a key lbadmin has no use for (ignored, with
  Piranha's meaning), a duplicate key (the later line wins, as in Piranha), pmask without
  persistence (ignored, as lvsd did), a virtual or real server with no address line
  (skipped: lbadmin has no row without an address; the GUI's "added but never filled in"
  has 0.0.0.0 and active = 0, and imports as written, an inactive draft), a failover block
  (skipped: lbadmin has no failover services), a
  name lbadmin cannot hold (renamed), a host name (resolved once, when a resolver is
  given), a no-break space pasted from a web page (read as a space).

Where Piranha's parser and its GUI disagree, the parser wins, since it is what ran: a
virtual server without timeout / reentry was checked every 10 s with reentry 180 s.

lvs.cf has no place for a real server's check_address / check_port, a health check's
slow_start or a virtual server's directors: lvscf_report() lists them when set, and
an import gives their defaults (the Django side keeps the directors of a virtual
server an import replaces).

Quoted strings decode \\\\ \\" \\' \\n \\r \\t; any other backslash pair is kept as
written, so a regular expression such as "HTTP/1\\.[01]" reads as the operator meant.
The model holds decoded text (a real CR LF in `send`); rendering escapes it again.
"""

from __future__ import annotations

import math
import re
import socket
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

from . import validate as v
from .config import (
    ClusterConfig,
    Config,
    HealthCheckConfig,
    RealServerConfig,
    RedundancyConfig,
    VirtualServerConfig,
    config_problems,
)

# What Piranha's parser gives a virtual server that omits the key (lvsInitVirtualServer;
# the GUI writes 6 and 15 explicitly, but a hand-written file ran with these).
DEFAULT_TIMEOUT = 10
DEFAULT_REENTRY = 180

# When /etc/services is missing (minimal containers) these still resolve.
WELL_KNOWN_PORTS = {
    "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53, "dns": 53,
    "http": 80, "www": 80, "pop3": 110, "ntp": 123, "epmap": 135, "imap": 143, "imap2": 143,
    "snmp": 161, "ldap": 389, "https": 443, "smtps": 465, "submissions": 465,
    "submission": 587, "ldaps": 636, "imaps": 993, "pop3s": 995, "ms-sql-s": 1433,
    "mysql": 3306, "ms-wbt-server": 3389, "postgresql": 5432, "http-alt": 8080,
}

# lvs.cf (nanny) knows no SCTP: the protocols it can carry, in the order of v.PROTOCOLS.
LVSCF_PROTOCOLS = tuple(p for p in v.PROTOCOLS if p != "sctp")

_BLANK = "[ \t\r\f\v]"
_BLOCK_RE = re.compile(rf"(virtual|failover|server){_BLANK}+([^ \t\r\f\v{{]+){_BLANK}*(\{{)?")
_KEY_RE = re.compile(rf"([A-Za-z_][A-Za-z0-9_]*){_BLANK}*={_BLANK}*(.*)", re.DOTALL)
# Unicode spaces other than the plain one (the no-break space a web page pastes, ...).
_ODD_SPACES = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "r": "\r", "t": "\t"}


class LvsCfError(ValueError):
    """A file that cannot be imported, with the line at fault."""

    def __init__(self, path: str, line: int, message: str):
        self.path, self.line, self.message = path, line, message
        super().__init__(f"{path}:{line}: {message}")


class LvsCfUnsupported(ValueError):
    """A configuration that lvs.cf cannot carry (IPv6, SCTP)."""

    def __init__(self, reasons: list[str]):
        self.reasons = reasons
        super().__init__("lvs.cf cannot express: " + "; ".join(reasons))


# --- lexing ----------------------------------------------------------------------------


def service_port(name: str, lookup: Callable[[str], int] = socket.getservbyname) -> int:
    """A port from a number or an /etc/services name ("https" -> 443)."""
    if re.fullmatch(r"[0-9]+", name):
        return v.validate_port(name)
    try:
        return lookup(name)
    except OSError:
        pass
    if name.lower() in WELL_KNOWN_PORTS:
        return WELL_KNOWN_PORTS[name.lower()]
    raise ValueError(f"{name!r} is not a port number or a known service name")


def _strip_comment(line: str) -> str:
    """Drop a # comment that is outside quotes."""
    quote = None
    i = 0
    while i < len(line):
        c = line[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c == "#":
            return line[:i]
        i += 1
    return line


def _plain_spaces(line: str) -> tuple[str, str]:
    """The line with every Unicode space outside quotes made a plain one, and the first
    such space ("" if none). Inside quotes a string keeps what it holds."""
    if not _ODD_SPACES.search(line):
        return line, ""
    out, first, quote, i = [], "", None, 0
    while i < len(line):
        c = line[i]
        if quote:
            if c == "\\" and i + 1 < len(line):
                out.append(line[i:i + 2])
                i += 2
                continue
            if c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c == "#":
            out.append(line[i:])
            break
        elif _ODD_SPACES.fullmatch(c):
            first = first or c
            c = " "
        out.append(c)
        i += 1
    return "".join(out), first


def _words(raw: str) -> list[tuple[str, bool]]:
    """Split a value into words; each is (text, was_quoted)."""
    words: list[tuple[str, bool]] = []
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c in " \t\r\f\v":
            i += 1
            continue
        if c in "\"'":
            quote, i, text = c, i + 1, []
            while True:
                if i >= n:
                    raise ValueError("unclosed quote")
                c = raw[i]
                if c == "\\" and i + 1 < n:
                    nxt = raw[i + 1]
                    text.append(_ESCAPES.get(nxt, "\\" + nxt))
                    i += 2
                    continue
                if c == quote:
                    i += 1
                    break
                text.append(c)
                i += 1
            if i < n and raw[i] not in " \t\r\f\v":
                raise ValueError("unexpected text right after a closing quote")
            words.append(("".join(text), True))
            continue
        start = i
        while i < n and raw[i] not in " \t\r\f\v":
            if raw[i] in "\"'":
                raise ValueError("a quote in the middle of a word")
            i += 1
        words.append((raw[start:i], False))
    return words


def _one_word(raw: str) -> str:
    words = _words(raw)
    if not words:
        raise ValueError("missing value")
    if len(words) > 1:
        raise ValueError(f"expected one value, found {len(words)}")
    return words[0][0]


def _string(raw: str) -> str:
    """A string value: one quoted word, or the unquoted rest of the line."""
    raw = raw.strip(" \t\r\f\v")
    if raw[:1] in ("'", '"'):
        return _one_word(raw)
    return raw


# --- value converters: raw text after '=' -> python value ------------------------------

# A host name as Piranha's getHostname() took it (it resolved names at start-up).
_HOST_NAME_RE = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9][A-Za-z0-9-]{0,62})*\.?")


class _HostName(ValueError):
    """An address written as a host name: the parser resolves it, or refuses it."""

    def __init__(self, name: str, message: str):
        self.name = name
        super().__init__(message)


def _ipv4(text: str) -> str:
    try:
        address = v.validate_ip(text)
    except ValueError as exc:
        if _HOST_NAME_RE.fullmatch(text) and len(text) <= 253:
            raise _HostName(text, str(exc)) from None
        raise
    if v.ip_family(address) != 4:
        raise ValueError(f"{text!r} is an IPv6 address; lvs.cf has no IPv6")
    return address


def _int(check: Callable[[int], int]) -> Callable[[str], int]:
    return lambda raw: check(_one_word(raw))


def _bool(raw: str) -> bool:
    return v.validate_bool01(_one_word(raw))


def _choice(choices: tuple[str, ...], what: str) -> Callable[[str], str]:
    return lambda raw: v.validate_choice(_one_word(raw), choices, what)


def _optional_ipv4(raw: str) -> str:
    words = _words(raw)
    if not words:
        return ""
    return _ipv4(_one_word(raw))


def _address_and_device(raw: str) -> tuple[str, str]:
    words = [w for w, _ in _words(raw)]
    if not words:
        raise ValueError("missing value")
    if len(words) > 2:
        raise ValueError("expected an address and optionally a device, such as 192.0.2.50 eth0:1")
    device = v.validate_device(words[1]) if len(words) == 2 else ""
    return _ipv4(words[0]), device


def _netmask4(raw: str) -> str:
    words = _words(raw)
    return v.validate_netmask(_one_word(raw), 4) if words else ""


def _device(raw: str) -> str:
    words = _words(raw)
    return v.validate_device(_one_word(raw)) if words else ""


def _any_int(raw: str) -> int:
    """Piranha's getNum(): any whole number (monitor_links is on when not 0)."""
    return v.validate_int(_one_word(raw))


def _port(raw: str) -> int:
    return service_port(_one_word(raw))


def _rsh_command(raw: str) -> str:
    """Piranha ran whatever rsh_command named (for the uptime load monitor only)."""
    words = _words(raw)
    program = words[0][0].rsplit("/", 1)[-1] if words else ""
    return program if program in v.RSH_COMMANDS else raw.strip()


def _list(raw: str) -> list[str]:
    """`dirs = [ a b ]`, Piranha's only list."""
    words = [w for w, _ in _words(raw)]
    if len(words) < 2 or words[0] != "[" or words[-1] != "]":
        raise ValueError("expected a list such as [ /var/www /etc/httpd ]")
    return words[1:-1]


# Global keys: lvs.cf key -> (section, field, converter)
GLOBAL_KEYS: dict[str, tuple[str, str, Callable]] = {
    "serial_no": ("cluster", "serial_no", _int(v.validate_serial_no)),
    "service": ("cluster", "service", _choice(v.SERVICES, "service")),
    "primary": ("cluster", "primary", _optional_ipv4),
    "primary_private": ("cluster", "primary_private", _optional_ipv4),
    "network": ("cluster", "network", _choice(v.NETWORKS, "network type")),
    "nat_router": ("cluster", "nat_router", _address_and_device),
    "nat_nmask": ("cluster", "nat_nmask", _netmask4),
    "tcp_timeout": ("cluster", "tcp_timeout", _int(v.validate_ipvs_timeout)),
    "tcpfin_timeout": ("cluster", "tcpfin_timeout", _int(v.validate_ipvs_timeout)),
    "udp_timeout": ("cluster", "udp_timeout", _int(v.validate_ipvs_timeout)),
    "debug_level": ("cluster", "debug_level", _one_word),
    "rsh_command": ("cluster", "rsh_command", _rsh_command),
    "hard_shutdown": ("cluster", "hard_shutdown", _bool),
    "active_cmd": ("cluster", "active_cmd", _string),
    "inactive_cmd": ("cluster", "inactive_cmd", _string),
    "ipvsadm": ("cluster", "ipvsadm_path", lambda raw: v.validate_path(_one_word(raw))),
    "backup_active": ("redundancy", "backup_active", _bool),
    "backup": ("redundancy", "backup", _optional_ipv4),
    "backup_private": ("redundancy", "backup_private", _optional_ipv4),
    "heartbeat": ("redundancy", "heartbeat", _bool),
    "heartbeat_port": ("redundancy", "heartbeat_port", _port),
    "keepalive": ("redundancy", "keepalive", _int(v.validate_heartbeat_seconds)),
    "deadtime": ("redundancy", "deadtime", _int(v.validate_heartbeat_seconds)),
    "monitor_links": ("redundancy", "monitor_links", _any_int),
    "syncdaemon": ("redundancy", "syncdaemon", _bool),
    "syncd_iface": ("redundancy", "syncd_iface", _device),
    "syncd_id": ("redundancy", "syncd_id", _int(v.validate_syncd_id)),
}

# Keys Piranha's parser takes and lbadmin has no place for: key -> (converter, why).
# The value is still read (a value Piranha refused is refused), then left out.
IGNORED_GLOBAL_KEYS: dict[str, tuple[Callable, str]] = {
    "primary_shared": (_one_word, "the primary's shared SCSI disk for failover services; lbadmin has no failover "
                                  "services and reserves no disk"),
    "backup_shared": (_one_word, "the backup's shared SCSI disk for failover services; lbadmin has no failover "
                                 "services and reserves no disk"),
    "reservation_conflict_action": (_choice(("nothing", "preempt"), "reservation conflict action"),
                                    "what pulse did on a SCSI reservation conflict; lbadmin reserves no disk"),
    "sync": (_bool, "Piranha read it and never used it"),
}
IGNORED_VIRTUAL_KEYS: dict[str, tuple[Callable, str]] = {
    "client_monitor": (_string, "the health checker program (nanny); lbadmin runs its own checks"),
    "master": (_one_word, "Piranha read it and never used it"),
    "dirs": (_list, "Piranha read it and never used it"),
    "start_cmd": (_string, "used only in failover blocks"),
    "stop_cmd": (_string, "used only in failover blocks"),
}
# Host names looked up per file at most: each may wait for DNS (an upload is a web request).
MAX_HOST_NAMES = 50
# Addresses Piranha resolved when written as a host name (getHostname); the others
# (sorry_server, netmasks) it read with inet_aton, numbers only.
HOST_KEYS = {"primary", "primary_private", "backup", "backup_private", "nat_router", "address"}

# Virtual keys: lvs.cf key -> converter. Health-check keys are gathered separately.
VIRTUAL_KEYS: dict[str, Callable] = {
    "address": _address_and_device,
    "vip_nmask": _netmask4,
    "active": _bool,
    "port": _port,
    "protocol": _choice(LVSCF_PROTOCOLS, "protocol"),
    "fwmark": _int(v.validate_fwmark),
    "scheduler": _choice(v.SCHEDULERS, "scheduler"),
    "persistent": _int(v.validate_persistence),
    "pmask": _netmask4,
    # Piranha passed any program name to nanny -U; lbadmin has none (a warning says so).
    "load_monitor": _one_word,
    "quiesce_server": _bool,
    "sorry_server": _optional_ipv4,
    # health check
    "send": _string,
    "expect": _string,
    "use_regex": _bool,
    "send_program": _string,
    "timeout": _int(v.validate_check_seconds),
    "reentry": _int(v.validate_non_negative),
}
CHECK_KEYS = ("send", "expect", "use_regex", "send_program", "timeout", "reentry")

SERVER_KEYS: dict[str, Callable] = {
    "address": lambda raw: _ipv4(_one_word(raw)),
    "active": _bool,
    "weight": lambda raw: v.validate_weight(_one_word(raw)),
    "port": _port,
}


def _usable_name(name: str) -> str:
    """A name lbadmin can hold, as close to `name` as possible ("[server_name]" -> "server_name")."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
    cleaned = re.sub(r"^[^A-Za-z0-9]+", "", cleaned).rstrip("-")[:64]
    return cleaned or "unnamed"


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    for n in range(2, 10_000):
        candidate = f"{name[:60]}-{n}"
        if candidate not in taken:
            return candidate
    raise ValueError(f"too many blocks named {name!r}")


# --- parsing ---------------------------------------------------------------------------


@dataclass
class _Block:
    kind: str  # "virtual", "failover" or "server"
    name: str
    line: int
    values: dict = field(default_factory=dict)
    key_lines: dict = field(default_factory=dict)
    servers: list = field(default_factory=list)
    opened: bool = False
    skipped: bool = False  # a failover block and its servers: keys checked, values not read


class _Parser:
    def __init__(self, text: str, path: str, resolve: Callable[[str], str] | None):
        self.text, self.path, self.resolve = text, path, resolve
        self.config = Config(cluster=ClusterConfig(), redundancy=RedundancyConfig())
        self.findings: list[tuple[int, str]] = []  # warnings: (line, message)
        self.inactive_by_default: list[tuple[int, str]] = []  # blocks with no `active` line: (line, what)
        self.global_lines: dict[str, int] = {}
        self.stack: list[_Block] = []
        self.virtuals: list[_Block] = []
        self.failovers: list[_Block] = []
        self.resolved: dict[str, str] = {}  # host name -> address, each looked up once
        # path tuple (as in config.Problem) -> (line, lvs.cf key) for late checks
        self.where: dict[tuple, tuple[int, str]] = {}

    def fail(self, line: int, message: str):
        raise LvsCfError(self.path, line, message)

    def warn(self, line: int, message: str) -> None:
        self.findings.append((line, message))

    def run(self) -> tuple[Config, list[str]]:
        text = self.text
        if text.startswith("\ufeff"):
            self.warn(1, "a byte order mark (written by some Windows editors) before the first line: ignored")
            text = text[1:]
        # Piranha ended a line at CR or LF: CRLF files and old Mac files read alike.
        for lineno, raw_line in enumerate(re.split(r"\r\n|\r|\n", text), start=1):
            raw_line, odd = _plain_spaces(raw_line)
            if odd:
                self.warn(lineno, f"a no-break or other Unicode space (U+{ord(odd):04X}, often pasted from "
                                  "a web page) read as a plain space")
            line = _strip_comment(raw_line).strip(" \t\r\f\v")
            if line:
                self.statement(lineno, line)
        if self.stack:
            block = self.stack[-1]
            self.fail(block.line, f"{block.kind} {block.name!r} is never closed (missing '}}')")
        self.build()
        # In the file's order (a stable sort: one line's warnings keep theirs).
        findings = sorted(self.findings, key=lambda finding: finding[0])
        return self.config, [f"{self.path}:{line}: {message}" for line, message in findings]

    def statement(self, lineno: int, line: str) -> None:
        if self.stack and not self.stack[-1].opened:
            if line == "{":
                self.stack[-1].opened = True
                return
            block = self.stack[-1]
            self.fail(lineno, f"expected '{{' after {block.kind} {block.name!r}")
        if line == "}":
            if not self.stack:
                self.fail(lineno, "unexpected '}' (no block is open)")
            self.stack.pop()
            return
        if line == "{":
            self.fail(lineno, "unexpected '{'")
        match = _BLOCK_RE.fullmatch(line)
        if match:
            self.open(lineno, match.group(1), match.group(2), bool(match.group(3)))
            return
        match = _KEY_RE.fullmatch(line)
        if not match:
            self.fail(lineno, f"cannot read {line!r} (expected 'key = value', a block or '}}')")
        key, raw = match.group(1), match.group(2)
        self.key_value(lineno, key, raw)

    def open(self, lineno: int, kind: str, name: str, opened: bool) -> None:
        parent = self.stack[-1] if self.stack else None
        if kind in ("virtual", "failover") and parent is not None:
            self.fail(lineno, f"a {kind} block cannot be inside {parent.kind} {parent.name!r}")
        if kind == "server" and (parent is None or parent.kind == "server"):
            where = f"{parent.kind} {parent.name!r}" if parent else "the global section"
            self.fail(lineno, f"a server block must be inside a virtual block, not in {where}")
        if kind == "failover":
            siblings = self.failovers
        else:
            siblings = parent.servers if parent else self.virtuals
        skipped = kind == "failover" or (parent is not None and parent.skipped)
        block = _Block(kind, name, lineno, opened=opened, skipped=skipped)
        siblings.append(block)
        self.stack.append(block)

    def usable_name(self, block: _Block, taken: dict[str, int], scope: str) -> str:
        """Piranha took any name, twice too; lbadmin needs each valid and unique: renamed, with a warning."""
        try:
            usable = v.validate_name(block.name)
        except ValueError:
            usable = _usable_name(block.name)
        if usable in taken:
            renamed = _unique(usable, set(taken))
            self.warn(block.line, f"a second {block.kind} named {usable!r}{scope} (first on line {taken[usable]}): "
                                  f"imported as {renamed!r}")
            usable = renamed
        elif usable != block.name:
            self.warn(block.line, f"{block.kind} name {block.name!r} is not one lbadmin can hold (1 to 64 letters, "
                                  f"digits, '_', '.', '-', starting with a letter or digit): imported as {usable!r}")
        taken[usable] = block.line
        return usable

    def key_value(self, lineno: int, key: str, raw: str) -> None:
        block = self.stack[-1] if self.stack else None
        if block is None:
            table, ignored, scope, seen = GLOBAL_KEYS, IGNORED_GLOBAL_KEYS, "the global section", self.global_lines
        elif block.kind == "server":
            table, ignored, scope, seen = SERVER_KEYS, {}, f"server {block.name!r}", block.key_lines
        else:
            table, ignored, scope, seen = VIRTUAL_KEYS, IGNORED_VIRTUAL_KEYS, f"{block.kind} {block.name!r}", block.key_lines
        if key not in table and key not in ignored:
            known = (*GLOBAL_KEYS, *VIRTUAL_KEYS, *SERVER_KEYS, *IGNORED_GLOBAL_KEYS, *IGNORED_VIRTUAL_KEYS)
            if key in known:
                self.fail(lineno, f"key {key!r} does not belong in {scope}")
            self.fail(lineno, f"unknown key {key!r}")
        if key in seen:
            self.warn(lineno, f"duplicate key {key!r} (first set on line {seen[key]}): the later value, "
                              f"on line {lineno}, is used, as Piranha did")
        seen[key] = lineno
        if block is not None and block.skipped:
            return
        if key in ignored:
            converter, why = ignored[key]
        else:
            converter = table[key][2] if block is None else table[key]
        value = self.convert(lineno, key, raw, converter)
        if key in ignored:
            self.warn(lineno, f"{key} ignored: {why}")
            return
        if block is None:
            self.set_global(lineno, key, value)
        else:
            block.values[key] = value

    def convert(self, lineno: int, key: str, raw: str, converter: Callable):
        try:
            return converter(raw)
        except _HostName as host:
            if key not in HOST_KEYS or self.resolve is None:
                self.fail(lineno, f"{key}: {host}")
            address = self.resolved.get(host.name)
            if address is None:
                if len(self.resolved) >= MAX_HOST_NAMES:
                    self.fail(lineno, f"{key}: more than {MAX_HOST_NAMES} host names; write addresses")
                try:
                    address = v.validate_ip(self.resolve(host.name))
                except (OSError, ValueError, UnicodeError) as exc:
                    self.fail(lineno, f"{key}: host name {host.name!r} does not resolve to an IPv4 address ({exc})")
                self.resolved[host.name] = address
            self.warn(lineno, f"{key}: host name {host.name!r} resolved to {address}; lbadmin keeps the address "
                              "(Piranha looked the name up at each start)")
            try:
                return converter(raw.replace(host.name, address, 1))
            except ValueError as exc:
                self.fail(lineno, f"{key}: {exc}")
        except ValueError as exc:
            self.fail(lineno, f"{key}: {exc}")

    def set_global(self, lineno: int, key: str, value) -> None:
        section, name, _ = GLOBAL_KEYS[key]
        target = getattr(self.config, section)
        if key == "nat_router":
            target.nat_router_ip, target.nat_router_device = value
            self.where[(section, "nat_router_ip")] = (lineno, key)
            self.where[(section, "nat_router_device")] = (lineno, key)
            return
        if key == "monitor_links":
            if value not in (0, 1):
                self.warn(lineno, f"monitor_links {value} read as 1 (Piranha: any number but 0 is on)")
            value = value != 0
        if key == "rsh_command" and value not in v.RSH_COMMANDS:
            self.warn(lineno, f"rsh_command {value!r} ignored: lbadmin knows ssh and rsh, and uses neither "
                              "(Piranha ran it only for the uptime load monitor)")
            return
        setattr(target, name, value)
        self.where[(section, name)] = (lineno, key)

    def build(self) -> None:
        if self.config.cluster.service == "fos" and self.failovers:
            line = self.global_lines["service"]
            self.warn(line, "service = fos: Piranha ran the failover blocks and not the virtual servers; lbadmin "
                            "has no failover services and imports the virtual servers")
        for block in self.failovers:
            self.warn(block.line, f"failover {block.name!r} skipped: lbadmin has no failover services "
                                  "(Piranha's FOS, start_cmd / stop_cmd); run the service under keepalived or a "
                                  "cluster manager")
        names: dict[str, int] = {}  # name -> line, of the virtual servers imported
        for block in self.virtuals:
            address = block.values.get("address", ("", ""))[0]
            if not address:
                # The GUI's "added but never filled in" has 0.0.0.0 and active = 0: it
                # imports as written, an inactive draft. Without an address there is no row.
                self.warn(block.line, f"virtual {block.name!r} skipped: it has no address, and lbadmin cannot "
                                      "hold a virtual server without one")
                continue
            vs_index = len(self.config.virtual_servers)
            self.config.virtual_servers.append(self.build_virtual(vs_index, block, self.usable_name(block, names, "")))
        if self.inactive_by_default:
            line, first = self.inactive_by_default[0]
            more = len(self.inactive_by_default) - 1
            self.warn(line, f"{first}{f' and {more} more block(s)' if more else ''} without an `active` line: "
                            "imported inactive, as Piranha read them (it ran only what says active = 1)")
        problems = config_problems(self.config)
        if problems:
            problem = problems[0]
            line, key = self.locate(problem.path)
            self.fail(line, f"{key}: {problem.message}" if key else problem.message)

    def build_virtual(self, vs_index: int, block: _Block, name: str) -> VirtualServerConfig:
        values, lines = block.values, block.key_lines
        path = ("virtual_servers", vs_index)
        self.where[path] = (block.line, "")
        self.where[path + ("name",)] = (block.line, "")
        address, device = values["address"]
        # Piranha zeroed each block: no `active` line means inactive (lvsd skips it).
        vs = VirtualServerConfig(name=name, address=address, device=device, active=False)
        if "active" not in values:
            self.inactive_by_default.append((block.line, f"virtual {name!r}"))
        for key in ("vip_nmask", "active", "port", "protocol", "fwmark", "scheduler",
                    "persistent", "pmask", "quiesce_server", "sorry_server"):
            if key in values:
                setattr(vs, key, values[key])
        for key, line in lines.items():
            self.where[path + (key,)] = (line, key)
        if "address" in lines:
            self.where[path + ("device",)] = (lines["address"], "address")
        if vs.pmask and not vs.persistent:
            self.warn(lines["pmask"], "pmask ignored: the virtual server has no persistence (Piranha ignored it too)")
            vs.pmask = ""
        monitor = values.get("load_monitor", "none")
        if monitor != "none":
            self.warn(lines["load_monitor"], f"load_monitor {monitor!r} not supported, skipped")
        vs.health_check = self.build_check(values, lines, path + ("health_check",))
        names: dict[str, int] = {}
        for server in block.servers:
            address = server.values.get("address", "")
            if not address:
                self.warn(server.line, f"server {server.name!r} in virtual {block.name!r} skipped: it has no "
                                       "address, and lbadmin cannot hold a real server without one")
                continue
            rs_path = path + ("real_servers", len(vs.real_servers))
            rs_name = self.usable_name(server, names, f" in virtual {block.name!r}")
            vs.real_servers.append(self.build_server(server, rs_path, rs_name))
        return vs

    def build_check(self, values: dict, lines: dict, path: tuple) -> HealthCheckConfig:
        timeout = values.get("timeout", DEFAULT_TIMEOUT)
        reentry = values.get("reentry", DEFAULT_REENTRY)
        send = values.get("send", "")
        expect = values.get("expect", "")
        program = values.get("send_program", "")
        if program:
            check_type = "program"
        elif send or expect:
            check_type = "send_expect"
        else:
            check_type = "tcp"
        for key in CHECK_KEYS:
            if key in lines:
                field_name = {"timeout": "interval", "reentry": "rise"}.get(key, key)
                self.where[path + (field_name,)] = (lines[key], key)
        if "timeout" in lines:
            self.where[path + ("timeout",)] = (lines["timeout"], "timeout")
        return HealthCheckConfig(
            check_type=check_type,
            send_program=program,
            send=send,
            expect=expect,
            use_regex=values.get("use_regex", False),
            interval=timeout,
            timeout=timeout,
            rise=max(1, math.ceil(reentry / timeout)),
            # nanny took a server out on its first failed check.
            fall=1,
        )

    def build_server(self, block: _Block, path: tuple, name: str) -> RealServerConfig:
        values = block.values
        self.where[path] = (block.line, "")
        self.where[path + ("name",)] = (block.line, "")
        for key, line in block.key_lines.items():
            self.where[path + (key,)] = (line, key)
        if "active" not in values:
            self.inactive_by_default.append((block.line, f"server {name!r}"))
        return RealServerConfig(
            name=name,
            address=values["address"],
            port=values.get("port"),
            weight=values.get("weight", 1),
            admin_state="enabled" if values.get("active", False) else "disabled",
        )

    def locate(self, path: tuple) -> tuple[int, str]:
        for end in range(len(path), 0, -1):
            found = self.where.get(tuple(path[:end]))
            if found:
                return found
        return 1, ""


def parse_lvscf(
    text: str, path: str = "lvs.cf", resolve: Callable[[str], str] | None = None,
) -> tuple[Config, list[str]]:
    """Read a whole lvs.cf. Returns (config, warnings); raises LvsCfError.

    `resolve` turns a host name into an IPv4 address (raising OSError or ValueError when
    it cannot), for the addresses Piranha let be host names; without it they are refused.
    """
    return _Parser(text, path, resolve).run()


# --- rendering -------------------------------------------------------------------------

_SAFE_WORD = re.compile(r"[A-Za-z0-9_./:%@+,=-]+")


def quote(value: str) -> str:
    """A double-quoted lvs.cf string that reads back as exactly `value`."""
    out = []
    for i, c in enumerate(value):
        if c == "\\":
            nxt = value[i + 1] if i + 1 < len(value) else ""
            # Only a backslash that would be read as an escape needs doubling: one before an
            # escape letter, before a character written as an escape (a CR becomes \r), or last.
            out.append("\\\\" if nxt in _ESCAPES or nxt in "\n\r\t" else "\\")
        elif c == '"':
            out.append('\\"')
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _word(value: str) -> str:
    return value if _SAFE_WORD.fullmatch(value) else quote(value)


def _b(value: bool) -> str:
    return "1" if value else "0"


@lru_cache(maxsize=1 << 16)
def _is_ipv6(address: str) -> bool:
    # Remembered: a render and its report ask four times per virtual server, and parsing
    # the address is most of what the cluster-wide render costs (4,000 parses at 1,000).
    try:
        return v.ip_family(address) == 6
    except ValueError:
        return False


def _skipped(config: Config) -> list[str]:
    """What render must leave out: lvs.cf has no IPv6 and no SCTP."""
    reasons = []
    for section, names in (
        ("cluster", ("primary", "primary_private", "nat_router_ip")),
        ("redundancy", ("backup", "backup_private")),
    ):
        for name in names:
            if _is_ipv6(getattr(getattr(config, section), name)):
                reasons.append(f"{section}.{name} {getattr(getattr(config, section), name)} is IPv6 (lvs.cf has no IPv6)")
    for vs in config.virtual_servers:
        if _is_ipv6(vs.address):
            reasons.append(f"virtual server {vs.name!r} is IPv6 (lvs.cf has no IPv6)")
        elif vs.protocol not in LVSCF_PROTOCOLS:
            reasons.append(f"virtual server {vs.name!r} uses {vs.protocol.upper()} (lvs.cf has only tcp and udp)")
    return reasons


def _vs_skipped(vs: VirtualServerConfig) -> bool:
    return _is_ipv6(vs.address) or vs.protocol not in LVSCF_PROTOCOLS


def lvscf_report(config: Config) -> list[str]:
    """Everything lvs.cf cannot carry, one line each: skipped parts first, then approximations."""
    notes = [f"skipped: {reason}" for reason in _skipped(config)]
    network = config.cluster.network
    if config.cluster.nat_router_device and not config.cluster.nat_router_ip:
        notes.append("cluster: nat_router_device without nat_router_ip is not written")
    for vs in config.virtual_servers:
        if _vs_skipped(vs):
            continue
        who = f"virtual server {vs.name!r}"
        hc = vs.health_check
        if vs.forwarding and vs.forwarding != network:
            notes.append(f"{who}: forwarding {vs.forwarding!r} differs from the global network {network!r} (lvs.cf has only the global one)")
        if vs.sorry_port is not None:
            notes.append(f"{who}: sorry_port {vs.sorry_port} not written (lvs.cf sends the sorry server the virtual port)")
        if vs.drain_timeout != 300:
            notes.append(f"{who}: drain_timeout {vs.drain_timeout} not written")
        if vs.sched_flags:
            notes.append(f"{who}: scheduler flags {vs.sched_flags} not written (lvs.cf has no keyword for them)")
        if hc.check_type not in ("tcp", "send_expect", "program"):
            notes.append(f"{who}: {hc.check_type} check written as a plain TCP connect")
        if hc.interval != hc.timeout:
            notes.append(f"{who}: check interval {hc.interval} and timeout {hc.timeout} differ; lvs.cf has one value, wrote {hc.interval}")
        if hc.fall != 1:
            notes.append(f"{who}: fall {hc.fall} not written (nanny removes a server on its first failure)")
        if hc.initial_state != "up":
            notes.append(f"{who}: initial state {hc.initial_state!r} not written")
        if hc.slow_start:
            notes.append(f"{who}: slow_start {hc.slow_start} s not written (nanny has no slow start)")
        if vs.directors:
            notes.append(f"{who}: directors {', '.join(vs.directors)} not written (lvs.cf names no directors)")
        for rs in vs.real_servers:
            if rs.admin_state == "draining":
                notes.append(f"{who}: real server {rs.name!r} is draining, written as inactive")
            if rs.forwarding and rs.forwarding != (vs.forwarding or network):
                notes.append(f"{who}: real server {rs.name!r} forwarding {rs.forwarding!r} not written")
            if rs.check_address:
                notes.append(f"{who}: real server {rs.name!r} check_address {rs.check_address} not written (nanny checks the server's own address)")
            if rs.check_port is not None:
                notes.append(f"{who}: real server {rs.name!r} check_port {rs.check_port} not written (nanny checks the server's own port)")
    return notes


def render_lvscf(config: Config, *, skip_unsupported: bool = False) -> str:
    """lvs.cf text in the Piranha GUI's style.

    IPv6 and SCTP cannot be written: they raise LvsCfUnsupported, or with
    skip_unsupported=True they are left out (lvscf_report() lists them).
    """
    skipped = _skipped(config)
    if skipped and not skip_unsupported:
        raise LvsCfUnsupported(skipped)
    c, r = config.cluster, config.redundancy
    lines: list[str] = []

    def put(key: str, value: str, indent: str = "") -> None:
        lines.append(f"{indent}{key} = {value}")

    def put_ip(key: str, value: str) -> None:
        if value and not _is_ipv6(value):
            put(key, value)

    put("serial_no", str(c.serial_no))
    put_ip("primary", c.primary)
    put_ip("primary_private", c.primary_private)
    put("service", c.service)
    put("backup_active", _b(r.backup_active))
    put_ip("backup", r.backup)
    put_ip("backup_private", r.backup_private)
    put("heartbeat", _b(r.heartbeat))
    put("heartbeat_port", str(r.heartbeat_port))
    put("keepalive", str(r.keepalive))
    put("deadtime", str(r.deadtime))
    put("network", c.network)
    if c.nat_router_ip and not _is_ipv6(c.nat_router_ip):
        put("nat_router", f"{c.nat_router_ip} {c.nat_router_device}".rstrip())
    if c.nat_nmask:
        put("nat_nmask", c.nat_nmask)
    put("debug_level", _word(c.debug_level))
    put("monitor_links", _b(r.monitor_links))
    put("syncdaemon", _b(r.syncdaemon))
    if r.syncd_iface:
        put("syncd_iface", r.syncd_iface)
    put("syncd_id", str(r.syncd_id))
    put("tcp_timeout", str(c.tcp_timeout))
    put("tcpfin_timeout", str(c.tcpfin_timeout))
    put("udp_timeout", str(c.udp_timeout))
    put("hard_shutdown", _b(c.hard_shutdown))
    put("rsh_command", c.rsh_command)
    if c.active_cmd:
        put("active_cmd", _word(c.active_cmd))
    if c.inactive_cmd:
        put("inactive_cmd", _word(c.inactive_cmd))
    put("ipvsadm", _word(c.ipvsadm_path))
    for vs in config.virtual_servers:
        if not _vs_skipped(vs):
            lines.extend(_render_virtual(vs))
    return "\n".join(lines) + "\n"


def _render_virtual(vs: VirtualServerConfig) -> list[str]:
    hc = vs.health_check
    ind, ind2 = " " * 5, " " * 9
    out = [f"virtual {vs.name} {{"]

    def put(key: str, value: str) -> None:
        out.append(f"{ind}{key} = {value}")

    put("active", _b(vs.active))
    put("address", f"{vs.address} {vs.device}".rstrip())
    if vs.vip_nmask:
        put("vip_nmask", vs.vip_nmask)
    if vs.sorry_server:
        put("sorry_server", vs.sorry_server)
    if vs.fwmark is not None:
        put("fwmark", str(vs.fwmark))
    put("port", str(vs.port))
    if vs.persistent:
        put("persistent", str(vs.persistent))
    if vs.pmask:
        put("pmask", vs.pmask)
    if hc.check_type in ("send_expect", "program"):
        if hc.send_program:
            put("send_program", quote(hc.send_program))
        if hc.send:
            put("send", quote(hc.send))
        if hc.expect:
            put("expect", quote(hc.expect))
    put("use_regex", _b(hc.use_regex))
    put("load_monitor", vs.load_monitor)
    put("scheduler", vs.scheduler)
    put("protocol", vs.protocol)
    put("timeout", str(hc.interval))
    put("reentry", str(hc.rise * hc.interval))
    put("quiesce_server", _b(vs.quiesce_server))
    for rs in vs.real_servers:
        out.append(f"{ind}server {rs.name} {{")
        out.append(f"{ind2}address = {rs.address}")
        out.append(f"{ind2}active = {_b(rs.admin_state == 'enabled')}")
        if rs.port is not None:
            out.append(f"{ind2}port = {rs.port}")
        out.append(f"{ind2}weight = {rs.weight}")
        out.append(f"{ind}}}")
    out.append("}")
    return out
