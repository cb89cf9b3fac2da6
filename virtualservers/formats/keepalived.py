"""keepalived.conf: the virtual_server part, both ways.

render_keepalived() writes one virtual_server block per active virtual server, with
a real_server block and checker per enabled real server. parse_keepalived() reads the
same subset back, from real files as people write them: comments anywhere on a line, CRLF,
odd spaces pasted from the web, braces anywhere, `include` (through a loader the caller
gives; the parser itself reads no file). Two kinds of findings, both "PATH:LINE: ...":
errors (KeepalivedError) refuse the file: broken syntax, bad values, what lbadmin cannot
represent (FNAT). Warnings say what lbadmin did and let the import go on: everything
keepalived would accept but lbadmin has no equivalent for (global_defs, vrrp_*, quorum,
a digest...), a setting given twice (the later wins, as in keepalived), unknown keywords,
a virtual_server_group expanded into the services it names, several checkers on one real
server (the strongest kept), SMTP_CHECK read as a send/expect on the 220 greeting, a
MISC_CHECK program outside the check program directory read as a connect check.

A real server's check_address / check_port are its checker's connect_ip / connect_port
(a connect_port equal to the server's own port reads back as no override). MISC_CHECK
has neither keyword: there the check target is substituted for %h and %p, as lbadmin's
own program check does. A health check's slow_start and a virtual server's directors
have no keepalived equivalent: keepalived_report() lists them.

Keyword spelling follows keepalived's own parser (keepalived/check/check_parser.c and
the checkers' install_keyword calls), lexing lib/parser.c, and keepalived.conf(5).
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass, field
from typing import Callable

from . import validate as v
from .choices import SCHED_FLAGS_OF
from .config import (
    Config,
    HealthCheckConfig,
    RealServerConfig,
    VirtualServerConfig,
    config_problems,
    effective_forwarding,
    format_path,
)

LB_KINDS = {"NAT": "nat", "DR": "direct", "TUN": "tunnel"}
LB_KIND_OF = {value: key for key, value in LB_KINDS.items()}
CHECKERS = {
    "TCP_CHECK": "tcp", "HTTP_GET": "http", "SSL_GET": "https", "MISC_CHECK": "program",
    "DNS_CHECK": "dns", "UDP_CHECK": "udp", "PING_CHECK": "icmp",
}
CHECKER_OF = {
    "tcp": "TCP_CHECK", "send_expect": "TCP_CHECK", "http": "HTTP_GET", "https": "SSL_GET",
    "program": "MISC_CHECK", "dns": "DNS_CHECK", "udp": "UDP_CHECK", "icmp": "PING_CHECK",
}
# keepalived's defaults where a keyword is absent (keepalived.conf(5)).
KA_DELAY_LOOP = 60
KA_CONNECT_TIMEOUT = 5
KA_PERSISTENCE_TIMEOUT = 360
KA_RETRY = {"MISC_CHECK": 0, "DNS_CHECK": 3}  # everything else: 1
KA_HTTP_STATUS = "200-299"
KA_DNS_TYPE, KA_DNS_NAME = "SOA", "."


class KeepalivedError(ValueError):
    def __init__(self, path: str, line: int, message: str):
        self.path, self.line, self.message = path, line, message
        super().__init__(f"{path}:{line}: {message}")


# --- lexing into a tree ----------------------------------------------------------------

# Includes may nest this deep (keepalived.conf -> conf.d/*.conf -> ... ), and bring at most
# this many files in all: enough for any real layout, a stop for a loop or a runaway glob.
MAX_INCLUDE_DEPTH = 8
MAX_INCLUDED_FILES = 500

# loader(pattern, including_path) -> [(path, text), ...]: the files an `include` names,
# in keepalived's order (glob, sorted), read and decoded. It raises IncludeError to refuse
# (cannot read, not UTF-8); it returns [] when nothing matches.
Loader = Callable[[str, str], "list[tuple[str, str]]"]


class IncludeError(ValueError):
    """A loader's refusal, in words: 'cannot read conf.d/web.conf: permission denied'."""


@dataclass
class Node:
    keyword: str
    args: list[str]
    line: int
    children: list[Node] | None = None  # None: a plain statement, not a block
    path: str = "keepalived.conf"
    order: int = 0  # position in the whole text, included files spliced in: sorts the findings

    def describe(self) -> str:
        return " ".join([self.keyword, *self.args])


@dataclass
class _Token:
    text: str
    line: int
    quoted: bool = False
    path: str = "keepalived.conf"
    order: int = 0


# Spaces other than ASCII ones, as pasted from a web page or a word processor.
_ODD_SPACES = {"\u00a0": "no-break space", "\u202f": "narrow no-break space", "\u2007": "figure space",
               "\u3000": "ideographic space", "\u2009": "thin space", "\u2002": "en space", "\u2003": "em space"}
_UNREAD_INCLUDE = ("not read: one uploaded file cannot bring the files it includes "
                   "(manage.py import_keepalived PATH reads them)")


class _Lexer:
    """Lines of tokens from a file and the files it includes, spliced where each include stands.

    Lexing follows keepalived's lib/parser.c: a comment starts at an unquoted # or ! anywhere
    on a line (\\# and \\! are the characters themselves); a quoted string is one word;
    '{' and '}' are words of their own wherever they stand.
    """

    def __init__(self, loader: Loader | None, findings: list[tuple[int, str]]):
        self.loader = loader
        self.findings = findings
        self.order = 0
        self.files = 0
        self.unread: list[tuple[_Token, str]] = []  # include lines that brought nothing, and why

    def warn(self, path: str, line: int, order: int, message: str) -> None:
        self.findings.append((order, f"{path}:{line}: {message}"))

    def lines(self, text: str, path: str, chain: tuple[str, ...] = ()):
        chain = chain + (path,)
        if text.startswith("\ufeff"):
            text = text[1:]
            self.warn(path, 1, self.order + 1, "byte order mark at the start of the file ignored")
        for lineno, raw in enumerate(text.split("\n"), start=1):
            self.order += 1
            tokens = self.tokens(raw.rstrip("\r"), path, lineno)
            if not tokens:
                continue
            first = tokens[0]
            if first.text == "include" and not first.quoted:
                yield from self.include(tokens, chain)
            else:
                yield tokens

    def tokens(self, raw: str, path: str, lineno: int) -> list[_Token]:
        order = self.order
        stripped = raw.strip()
        if stripped.startswith(("@", "$")):
            what = "conditional line" if stripped.startswith("@") else "parameter definition"
            self.warn(path, lineno, order, f"{what} not imported")
            return []
        tokens: list[_Token] = []
        odd: list[str] = []

        def add(text: str, quoted: bool = False) -> None:
            tokens.append(_Token(text, lineno, quoted, path, order))

        i, n = 0, len(raw)
        while i < n:
            c = raw[i]
            if c.isspace():
                if c in _ODD_SPACES and _ODD_SPACES[c] not in odd:
                    odd.append(_ODD_SPACES[c])
                i += 1
            elif c in "#!":
                break
            elif c in "{}":
                add(c)
                i += 1
            elif c == '"':
                end = raw.find('"', i + 1)
                if end < 0:
                    raise KeepalivedError(path, lineno, "unclosed quote")
                add(raw[i + 1:end], quoted=True)
                i = end + 1
            else:
                word = []
                while i < n and not raw[i].isspace() and raw[i] not in '{}"#!':
                    if raw[i] == "\\" and i + 1 < n and raw[i + 1] in "#!":
                        i += 1
                    word.append(raw[i])
                    i += 1
                add("".join(word))
        for name in odd:
            code = next(k for k, v in _ODD_SPACES.items() if v == name)
            self.warn(path, lineno, order, f"a {name} (U+{ord(code):04X}) read as a space")
        return tokens

    def include(self, tokens: list[_Token], chain: tuple[str, ...]):
        head = tokens[0]
        path, line = head.path, head.line
        if len(tokens) != 2 or tokens[1].text in ("{", "}") and not tokens[1].quoted:
            raise KeepalivedError(path, line, "include: give one file name or pattern")
        pattern = tokens[1].text
        if self.loader is None:
            self.unread.append((head, f"include {pattern} {_UNREAD_INCLUDE}"))
            self.warn(path, line, head.order, f"include {pattern} {_UNREAD_INCLUDE}")
            return
        if len(chain) > MAX_INCLUDE_DEPTH:
            raise KeepalivedError(path, line, f"include {pattern}: includes nested more than {MAX_INCLUDE_DEPTH} deep")
        try:
            files = self.loader(pattern, path)
        except IncludeError as exc:
            raise KeepalivedError(path, line, f"include {pattern}: {exc}") from None
        if not files:
            self.unread.append((head, f"include {pattern} matches no file"))
            self.warn(path, line, head.order, f"include {pattern}: no file matches; nothing included")
        for included, text in files:
            if included in chain:
                loop = " -> ".join(chain[chain.index(included):] + (included,))
                raise KeepalivedError(path, line, f"include {pattern}: an include loop ({loop})")
            self.files += 1
            if self.files > MAX_INCLUDED_FILES:
                raise KeepalivedError(path, line, f"include {pattern}: more than {MAX_INCLUDED_FILES} included files")
            yield from self.lines(text, included, chain)


def parse_tree(text: str, path: str, findings: list[tuple[int, str]], loader: Loader | None = None,
               lexer: _Lexer | None = None) -> list[Node]:
    lexer = lexer or _Lexer(loader, findings)
    root: list[Node] = []
    stack: list[tuple[list[Node], Node | None]] = [(root, None)]
    for tokens in lexer.lines(text, path):
        current: list[_Token] = []

        def flush() -> Node | None:
            if not current:
                return None
            first = current[0]
            node = Node(first.text, [t.text for t in current[1:]], first.line, path=first.path, order=first.order)
            stack[-1][0].append(node)
            current.clear()
            return node

        for token in tokens:
            if token.text == "{" and not token.quoted:
                node = flush()
                if node is None:
                    siblings = stack[-1][0]
                    # A '{' on a line of its own opens the block of the statement above.
                    if siblings and siblings[-1].children is None:
                        node = siblings[-1]
                    else:
                        raise KeepalivedError(token.path, token.line, "unexpected '{'")
                node.children = []
                stack.append((node.children, node))
            elif token.text == "}" and not token.quoted:
                flush()
                if len(stack) == 1:
                    raise KeepalivedError(token.path, token.line, "unexpected '}' (no block is open)")
                stack.pop()
            else:
                current.append(token)
        flush()
    if len(stack) > 1:
        opener = stack[-1][1]
        raise KeepalivedError(opener.path, opener.line, f"block '{opener.describe()}' is never closed (missing '}}')")
    return root


# --- interpreting ----------------------------------------------------------------------


def _safe_name(text: str) -> str:
    """A valid name from an address: ':' becomes '_', and "::1" becomes "0__1" (names start alphanumeric)."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", text)
    return name if name[:1].isalnum() else "0" + name


@dataclass
class _CheckerSettings:
    """delay_loop & co: set on the virtual server, overridden by real server, then checker."""

    delay_loop: float | None = None
    connect_timeout: float | None = None
    retry: int | None = None
    delay_before_retry: float | None = None
    alpha: bool | None = None
    virtualhost: str | None = None

    def merged(self, other: _CheckerSettings) -> _CheckerSettings:
        result = _CheckerSettings(**vars(self))
        for key, value in vars(other).items():
            if value is not None:
                setattr(result, key, value)
        return result


@dataclass
class _ParsedCheck:
    line: int
    check: HealthCheckConfig
    # Where this real server's check goes, when not to the server itself.
    connect_ip: str = ""
    connect_port: int | None = None
    keyword: str = ""
    # What lbadmin made of this checker: said only when it is the one imported.
    notes: list[tuple[Node, str]] = field(default_factory=list)


# Keywords that may stand several times in one block; any other given twice: the later wins.
_REPEATABLE = frozenset({"real_server", "url", "host", "digest", "include", *CHECKERS, "SMTP_CHECK",
                         "FILE_CHECK", "BFD_CHECK"})
# Old and new spellings of one setting (keepalived/check/check_parser.c, check_http.c).
_SAME_KEY = {"lvs_sched": "lb_algo", "lvs_method": "lb_kind", "nb_get_retry": "retry"}
# Scheduler flags: ipvsadm's names, and keepalived's own flag-N (flag-3 is read by no scheduler).
_SCHED_FLAG_KEYWORDS = {"sh-port", "sh-fallback", "mh-port", "mh-fallback", "flag-1", "flag-2", "flag-3"}
# The keywords keepalived knows in each block (install_keyword calls): any other is unknown.
_COMMON_CHECK_KEYWORDS = {"retry", "delay_before_retry", "warmup", "connect_timeout", "delay_loop", "alpha",
                          "log_all_failures", "connect_ip", "connect_port", "bindto", "bind_port", "bind_if",
                          "fwmark", "nb_get_retry"}
_KNOWN = {
    "virtual_server": {"ip_family", "retry", "delay_before_retry", "warmup", "connect_timeout", "delay_loop",
                       "inhibit_on_failure", "lb_algo", "lvs_sched", "hashed", "ops", "flag-1", "flag-2",
                       "flag-3", "sh-port", "sh-fallback", "mh-port", "mh-fallback", "lb_kind", "lvs_method",
                       "persistence_engine", "persistence_timeout", "persistence_granularity", "protocol",
                       "ha_suspend", "smtp_alert", "virtualhost", "snmp_name", "alpha", "omega", "quorum_up",
                       "quorum_down", "quorum", "hysteresis", "weight", "sorry_server", "sorry_server_inhibit",
                       "sorry_server_lvs_method", "real_server", "nb_get_retry"},
    "real_server": {"weight", "lvs_method", "uthreshold", "lthreshold", "inhibit_on_failure", "notify_up",
                    "notify_down", "alpha", "retry", "delay_before_retry", "warmup", "connect_timeout",
                    "delay_loop", "smtp_alert", "virtualhost", "snmp_name", "nb_get_retry", *CHECKERS,
                    "SMTP_CHECK", "FILE_CHECK", "BFD_CHECK"},
    "HTTP_GET": {"virtualhost", "http_protocol", "url", "fast_recovery"},
    "SSL_GET": {"virtualhost", "http_protocol", "enable_sni", "sni_name", "fast_recovery", "tls_compliant", "url"},
    "url": {"path", "digest", "status_code", "virtualhost", "regex", "regex_no_match", "regex_options",
            "regex_min_offset", "regex_max_offset", "regex_stack", "tls_compliant"},
    "TCP_CHECK": set(), "PING_CHECK": set(), "DNS_CHECK": {"type", "name"},
    "UDP_CHECK": {"payload", "require_reply", "min_reply_length", "max_reply_length"},
    "MISC_CHECK": {"misc_path", "misc_timeout", "misc_dynamic", "user"},
    "SMTP_CHECK": {"helo_name", "host"},
}
for _block in ("HTTP_GET", "SSL_GET", "TCP_CHECK", "PING_CHECK", "DNS_CHECK", "UDP_CHECK", "MISC_CHECK", "SMTP_CHECK"):
    _KNOWN[_block] |= _COMMON_CHECK_KEYWORDS
# When a real server has several checkers (keepalived needs all of them up), lbadmin keeps
# the one that tells most about the service: an application answer over a bare connect.
_CHECK_STRENGTH = {"http": 4, "https": 4, "dns": 4, "program": 3, "send_expect": 2, "udp": 1, "tcp": 1, "icmp": 0}
# A virtual_server_group range gives one lbadmin virtual server per address: more is refused.
MAX_GROUP_SERVICES = 256
_FNAT = ("FNAT (full NAT) comes from the DPVS fork of keepalived; Linux IPVS and lbadmin "
         "forward by NAT, DR or TUN only: lbadmin cannot represent this service")


@dataclass
class _Head:
    """What a virtual_server line (or one entry of its group) names."""

    address: str
    port: int
    fwmark: int | None = None
    family: int | None = None  # a group's `fwmark N inet6`


class _Reader:
    def __init__(self, findings: list[tuple[int, str]], program_dir: str | None = None):
        self.findings = findings
        self.program_dir = program_dir

    def fail(self, node: Node, message: str):
        raise KeepalivedError(node.path, node.line, message)

    def note(self, node: Node, message: str) -> None:
        self.findings.append((node.order, f"{node.path}:{node.line}: {message}"))

    def skip(self, node: Node, why: str = "", block: str = "") -> None:
        if block and node.keyword not in _KNOWN.get(block, {node.keyword}):
            self.note(node, f"{node.keyword}: not a keepalived keyword in {block}; ignored")
            return
        suffix = f" ({why})" if why else ""
        self.note(node, f"{node.keyword} not imported{suffix}")

    def where(self, node: Node, other: Node) -> str:
        return f"line {other.line}" if other.path == node.path else f"{other.path}:{other.line}"

    def once(self, node: Node, seen: dict[str, Node]) -> None:
        """Note a setting given twice in one block: keepalived takes the later, so does lbadmin."""
        if node.keyword in _REPEATABLE or node.children is not None:
            return
        key = _SAME_KEY.get(node.keyword, node.keyword)
        first = seen.get(key)
        if first is not None:
            self.note(node, f"{node.keyword} given again (first on {self.where(node, first)}, "
                            f"{first.describe()!r}): the later, {node.describe()!r}, is used")
        seen[key] = node

    # -- values
    def arg(self, node: Node, index: int = 0) -> str:
        if len(node.args) <= index:
            self.fail(node, f"{node.keyword}: missing value")
        return node.args[index]

    def value(self, node: Node, check, index: int = 0):
        try:
            return check(self.arg(node, index))
        except ValueError as exc:
            self.fail(node, f"{node.keyword}: {exc}")

    def address(self, node: Node, index: int = 0) -> str:
        text = self.arg(node, index)
        try:
            return v.validate_ip(text)
        except ValueError:
            problem = v.ipv4_mapped_problem(text)
            if problem:  # a valid address lbadmin refuses: say why, not "not valid"
                self.fail(node, f"{node.keyword}: {problem}")
            if re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\.?", text) and re.search(r"[A-Za-z]", text):
                self.fail(node, f"{node.keyword}: {text!r} is a host name; keepalived (and lbadmin) need an "
                                "IP address here: write the address it resolves to")
            self.fail(node, f"{node.keyword}: {text!r} is not a valid IP address")

    def timer(self, node: Node) -> float:
        text = self.arg(node)
        if not re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
            self.fail(node, f"{node.keyword}: {text!r} is not a number of seconds")
        return float(text)

    def seconds(self, node: Node, value: float, minimum: int = 1) -> int:
        whole = max(minimum, math.ceil(value))
        if whole != value:
            self.note(node, f"{node.keyword} {value:g} rounded to {whole} s")
        return whole

    def needs_block(self, node: Node) -> list[Node]:
        if node.children is None:
            self.fail(node, f"{node.keyword} needs a block {{ ... }}")
        return node.children

    # -- top level
    def read(self, tree: list[Node]) -> Config:
        config = Config()
        keys: dict[tuple, Node] = {}
        names: set[str] = set()
        groups = self.groups(tree)
        used: set[str] = set()
        for node in tree:
            if node.keyword == "virtual_server":
                for vs in self.virtual_servers(node, groups, used):
                    key = (vs.fwmark, vs.address if vs.fwmark is None else "", vs.port if vs.fwmark is None else 0, vs.protocol)
                    if key in keys:
                        first = keys[key]
                        self.fail(node, f"duplicate virtual_server {vs.name} (first on {self.where(node, first)})")
                    keys[key] = node
                    vs.name = self.unique(vs.name, names)
                    config.virtual_servers.append(vs)
            elif node.keyword != "virtual_server_group":
                self.skip(node)
        for name, group in groups.items():
            if name not in used:
                self.note(group, f"virtual_server_group {name} is used by no virtual_server; not imported")
        return config

    def groups(self, tree: list[Node]) -> dict[str, Node]:
        groups: dict[str, Node] = {}
        for node in tree:
            if node.keyword == "virtual_server_group":
                self.needs_block(node)
                name = self.arg(node)
                if name in groups:
                    self.note(node, f"virtual_server_group {name} given again (first on "
                                    f"{self.where(node, groups[name])}): the later is used")
                groups[name] = node
        return groups

    @staticmethod
    def unique(name: str, names: set[str]) -> str:
        candidate, n = name, 2
        while candidate in names:
            candidate = f"{name}-{n}"
            n += 1
        names.add(candidate)
        return candidate

    def virtual_servers(self, node: Node, groups: dict[str, Node], used: set[str]) -> list[VirtualServerConfig]:
        self.needs_block(node)
        args = node.args
        if not args:
            self.fail(node, "virtual_server: missing address")
        if args[0] != "group":
            head = self.head(node)
            return [] if head is None else [self.virtual_server(node, head)]
        name = self.arg(node, 1)
        group = groups.get(name)
        if group is None:
            self.fail(node, f"virtual_server group {name}: no virtual_server_group {name} in this file")
        used.add(name)
        heads = [head for entry in group.children for head in self.group_entry(entry)]
        if not heads:
            self.note(node, f"virtual_server group {name}: the group names no service lbadmin can import")
            return []
        servers = [self.virtual_server(node, head) for head in heads]
        names = ", ".join(vs.name for vs in servers)
        self.note(node, f"virtual_server group {name} expanded into {len(servers)} virtual servers ({names}), "
                        "each with its own copy of the real servers and check: lbadmin has no groups")
        return servers

    def head(self, node: Node) -> _Head | None:
        args = node.args
        if args[0] == "fwmark":
            fwmark = self.value(node, v.validate_fwmark, 1)
            if len(args) > 2:
                self.fail(node, f"virtual_server fwmark: unexpected {' '.join(args[2:])!r}")
            return _Head("", 80, fwmark)
        address = self.address(node, 0)
        if len(args) < 2 or args[1].strip("0") == "":
            self.skip(node, "a virtual_server without a port (all ports) has no equivalent")
            return None
        if len(args) > 2:
            self.fail(node, f"virtual_server: unexpected {' '.join(args[2:])!r}")
        return _Head(address, self.value(node, v.validate_port, 1))

    def group_entry(self, entry: Node) -> list[_Head]:
        """One line of a virtual_server_group: ADDRESS[-END] PORT, or fwmark N [inet|inet6]."""
        if entry.children is not None:
            self.skip(entry, "a block inside virtual_server_group")
            return []
        if entry.keyword == "fwmark":
            fwmark = self.value(entry, v.validate_fwmark, 0)
            family = {"inet": 4, "inet6": 6}.get(entry.args[1]) if len(entry.args) > 1 else None
            return [_Head("", 80, fwmark, family)]
        if not entry.args or entry.args[0].strip("0") == "":
            self.note(entry, f"{entry.keyword}: a group entry without a port (all ports) has no equivalent; not imported")
            return []
        port = self.value(entry, v.validate_port, 0)
        return [_Head(address, port) for address in self.address_range(entry)]

    def address_range(self, entry: Node) -> list[str]:
        text = entry.keyword
        if "/" in text:
            self.note(entry, f"{text}: an address with a mask in a group is not imported; list the addresses")
            return []
        start_text, _, end_text = text.partition("-")
        probe = Node("virtual_server_group", [start_text], entry.line, path=entry.path, order=entry.order)
        start = ipaddress.ip_address(self.address(probe))
        if not end_text:
            return [str(start)]
        try:
            if "." in end_text or ":" in end_text:
                end = ipaddress.ip_address(end_text)
            else:
                # keepalived: the last byte of an IPv4 address (decimal), the last group of an IPv6 one (hex)
                last, top = (int(end_text, 10), 0xFF) if start.version == 4 else (int(end_text, 16), 0xFFFF)
                if not 0 <= last <= top:
                    raise ValueError(text)
                end = ipaddress.ip_address((int(start) & ~top) | last)
        except ValueError:
            self.fail(entry, f"{text}: not an address range such as 192.0.2.10-20")
        if end.version != start.version or int(end) < int(start):
            self.fail(entry, f"{text}: the range ends before it starts")
        count = int(end) - int(start) + 1
        if count > MAX_GROUP_SERVICES:
            self.fail(entry, f"{text}: {count} addresses; lbadmin makes one virtual server per address "
                             f"and imports at most {MAX_GROUP_SERVICES} from one range")
        return [str(ipaddress.ip_address(int(start) + i)) for i in range(count)]

    def virtual_server(self, node: Node, head: _Head) -> VirtualServerConfig:
        children = node.children
        vs = VirtualServerConfig(name="", address=head.address, port=head.port, fwmark=head.fwmark)
        settings = _CheckerSettings()
        real_nodes: list[Node] = []
        ip_family_node = None
        flag_nodes: list[Node] = []
        seen: dict[str, Node] = {}
        for child in children:
            kw = child.keyword
            self.once(child, seen)
            if kw in _SCHED_FLAG_KEYWORDS:
                flag_nodes.append(child)
                continue
            if kw == "real_server":
                real_nodes.append(child)
                continue
            if kw in CHECKERS or child.children is not None:
                self.skip(child, block="virtual_server")
                continue
            if kw in ("lb_algo", "lvs_sched"):
                vs.scheduler = self.value(child, v.validate_scheduler)
            elif kw in ("lb_kind", "lvs_method"):
                vs.forwarding = self.lb_kind(child)
                if vs.forwarding == "nat":
                    vs.forwarding = ""  # the parsed cluster network is nat
            elif kw == "persistence_timeout":
                vs.persistent = self.value(child, v.validate_persistence) if child.args else KA_PERSISTENCE_TIMEOUT
            elif kw == "persistence_granularity":
                vs.pmask = self.arg(child)
            elif kw == "protocol":
                vs.protocol = self.value(child, lambda x: v.validate_protocol(x.lower()))
            elif kw == "sorry_server":
                vs.sorry_server = self.address(child, 0)
                vs.sorry_port = self.value(child, v.validate_port, 1) if len(child.args) > 1 else None
            elif kw == "inhibit_on_failure":
                vs.quiesce_server = True
            elif kw == "ip_family":
                ip_family_node = child
            elif kw in ("quorum", "hysteresis", "quorum_up", "quorum_down"):
                self.note(child, f"{child.describe()} not imported (lbadmin has no quorum: the sorry server "
                                 "takes over when every real server is down)")
            elif self.common_setting(child, settings):
                pass
            else:
                self.skip(child, block="virtual_server")
        vs.sched_flags = self.sched_flags(flag_nodes, vs.scheduler)
        if vs.pmask and not vs.persistent:
            self.note(node, "persistence_granularity without persistence_timeout not imported")
            vs.pmask = ""
        if vs.fwmark is not None:
            vs.address = self.fwmark_address(node, head, real_nodes, ip_family_node)
            vs.name = f"fwmark-{vs.fwmark}"
        else:
            vs.name = _safe_name(f"{vs.address}-{vs.port}") + ("" if vs.protocol == "tcp" else f"-{vs.protocol}")
        if vs.sorry_port is not None and vs.sorry_port == vs.port:
            vs.sorry_port = None
        checks: list[tuple[Node, _ParsedCheck | None]] = []
        seen_rs: dict[tuple, int] = {}
        quiesce_by_rs: list[bool] = []
        for rs_node in real_nodes:
            rs, check, rs_quiesce = self.real_server(rs_node, vs, settings)
            key = (rs.address, rs.port)
            if key in seen_rs:
                self.fail(rs_node, f"duplicate real_server {' '.join(rs_node.args)} (first on line {seen_rs[key]})")
            seen_rs[key] = rs_node.line
            quiesce_by_rs.append(rs_quiesce)
            vs.real_servers.append(rs)
            checks.append((rs_node, check))
        if any(quiesce_by_rs) and not vs.quiesce_server:
            vs.quiesce_server = True
            if not all(quiesce_by_rs):
                self.note(node, "inhibit_on_failure is set on some real servers only; imported for all")
        vs.health_check = self.pick_check(checks)
        self.check_virtual(node, vs)
        return vs

    def sched_flags(self, nodes: list[Node], scheduler: str) -> str:
        """sh-port, mh-fallback... (ipvsadm's names, which keepalived takes too) and keepalived's
        flag-1 / flag-2 (the scheduler's first and second flag); a flag the scheduler does not
        read is left out with a warning, as keepalived itself refuses it."""
        flags = []
        for child in nodes:
            kw = child.keyword
            flag = {"flag-1": f"{scheduler}-fallback", "flag-2": f"{scheduler}-port"}.get(kw, kw)
            if flag in SCHED_FLAGS_OF.get(scheduler, ()):
                flags.append(flag)
            else:
                self.note(child, f"{kw} not imported: the {scheduler} scheduler reads no such flag "
                                 "(only sh and mh take flags)")
        return v.validate_sched_flags(",".join(flags), scheduler) if flags else ""

    def fwmark_address(self, node: Node, head: _Head, real_nodes: list[Node], ip_family_node: Node | None) -> str:
        family = head.family or 4
        if ip_family_node is not None:
            family = 6 if self.arg(ip_family_node) == "inet6" else 4
        elif head.family is None and real_nodes and real_nodes[0].args:
            try:
                family = v.ip_family(real_nodes[0].args[0])
            except ValueError:
                pass
        address = "0.0.0.0" if family == 4 else "::"
        self.note(node, f"virtual_server fwmark {head.fwmark} has no address; set to {address}, set the VIP after import")
        return address

    def lb_kind(self, node: Node) -> str:
        kind = self.arg(node).upper()
        if kind == "FNAT":
            self.fail(node, f"{node.keyword} FNAT: {_FNAT}")
        if kind not in LB_KINDS:
            self.fail(node, f"{node.keyword}: unknown forwarding method {node.args[0]!r} (NAT, DR or TUN)")
        if len(node.args) > 1:
            self.note(node, f"{node.keyword} options {' '.join(node.args[1:])!r} not imported")
        return LB_KINDS[kind]

    def common_setting(self, node: Node, settings: _CheckerSettings) -> bool:
        """The checker defaults that may appear at any level. True when handled."""
        kw = node.keyword
        if kw == "delay_loop":
            settings.delay_loop = self.timer(node)
        elif kw == "connect_timeout":
            settings.connect_timeout = self.timer(node)
        elif kw in ("retry", "nb_get_retry"):
            settings.retry = self.value(node, v.validate_non_negative)
        elif kw == "delay_before_retry":
            settings.delay_before_retry = self.timer(node)
        elif kw == "alpha":
            settings.alpha = not node.args or node.args[0].lower() not in ("false", "no", "off", "0")
        elif kw == "virtualhost":
            settings.virtualhost = self.arg(node) if node.args else ""
        else:
            return False
        return True

    def real_server(self, node: Node, vs: VirtualServerConfig, inherited: _CheckerSettings):
        children = self.needs_block(node)
        address = self.address(node, 0)
        port = self.value(node, v.validate_port, 1) if len(node.args) > 1 else None
        if len(node.args) > 2:
            self.fail(node, f"real_server: unexpected {' '.join(node.args[2:])!r}")
        if port == vs.port:
            port = None
        name = _safe_name(address) + (f"-{port}" if port is not None else "")
        rs = RealServerConfig(name=name, address=address, port=port)
        settings = _CheckerSettings()
        quiesce = False
        checker_nodes = []
        seen: dict[str, Node] = {}
        for child in children:
            kw = child.keyword
            self.once(child, seen)
            if kw in CHECKERS or kw == "SMTP_CHECK":
                checker_nodes.append(child)
            elif child.children is not None:
                self.skip(child, block="real_server")
            elif kw == "weight":
                rs.weight = self.value(child, v.validate_weight)
            elif kw == "inhibit_on_failure":
                quiesce = not child.args or child.args[0].lower() not in ("false", "no", "off", "0")
            elif kw == "lvs_method":
                rs.forwarding = self.lb_kind(child)
            elif self.common_setting(child, settings):
                pass
            else:
                self.skip(child, block="real_server")
        if rs.forwarding and rs.forwarding == (vs.forwarding or "nat"):
            rs.forwarding = ""
        check = None
        if checker_nodes:
            parsed = [self.checker(c, vs, rs, inherited.merged(settings)) for c in checker_nodes]
            check = max(parsed, key=lambda p: _CHECK_STRENGTH[p.check.check_type])  # the first of the strongest
            rs.check_address, rs.check_port = check.connect_ip, check.connect_port
            for where, message in check.notes:
                self.note(where, message)
            if len(parsed) > 1:
                others = ", ".join(f"{p.keyword} (line {p.line})" for p in parsed if p is not check)
                self.note(node, f"{len(parsed)} checkers on this real server (keepalived needs all of them up); "
                                f"lbadmin has one check per virtual server: {check.keyword} (line {check.line}) "
                                f"imported, not {others}")
        return rs, check, quiesce

    def checker(self, node: Node, vs: VirtualServerConfig, rs: RealServerConfig, inherited: _CheckerSettings) -> _ParsedCheck:
        kind = node.keyword
        children = self.needs_block(node)
        settings = _CheckerSettings()
        hc = HealthCheckConfig(check_type=CHECKERS.get(kind, "send_expect"), rise=1)
        parsed = _ParsedCheck(node.line, hc, keyword=kind)
        urls: list[Node] = []
        misc_timeout = None
        misc_node = None
        sni_enabled = False
        rs_port = rs.port or vs.port
        seen: dict[str, Node] = {}
        for child in children:
            kw = child.keyword
            self.once(child, seen)
            if self.common_setting(child, settings):
                continue
            if kw == "url" and kind in ("HTTP_GET", "SSL_GET"):
                urls.append(child)
            elif kw == "connect_port" and kind != "MISC_CHECK":
                port = self.value(child, v.validate_port)
                # The real server's own port is what lbadmin checks anyway: no override.
                parsed.connect_port = None if port == rs_port else port
            elif kw == "connect_ip" and kind != "MISC_CHECK":
                parsed.connect_ip = self.address(child)
            elif kw == "misc_path" and kind == "MISC_CHECK":
                hc.send_program = self.unsubstitute(self.arg(child), rs.address, rs_port)
                misc_node = child
            elif kw == "misc_timeout" and kind == "MISC_CHECK":
                misc_timeout = self.value(child, v.validate_check_seconds)
            elif kw == "enable_sni" and kind == "SSL_GET":
                sni_enabled = True
            elif kw == "sni_name" and kind == "SSL_GET":
                hc.sni = self.arg(child) if child.args else ""
            elif kw == "type" and kind == "DNS_CHECK":
                hc.dns_type = self.value(child, lambda x: v.validate_dns_type(x.upper()))
            elif kw == "name" and kind == "DNS_CHECK":
                hc.dns_name = self.value(child, v.validate_dns_name)
            elif kw == "payload" and kind == "UDP_CHECK":
                hc.send = self.hex_text(child)
            elif kw == "require_reply" and kind == "UDP_CHECK":
                hc.expect = self.hex_text(child) if child.args else ""
            elif kw == "host" and kind == "SMTP_CHECK":
                self.note(child, "host not imported (lbadmin checks the real server itself, once)")
            else:
                self.skip(child, block=kind)
        s = inherited.merged(settings)
        hc.interval = self.seconds(node, s.delay_loop) if s.delay_loop is not None else KA_DELAY_LOOP
        if kind == "MISC_CHECK":
            hc.timeout = misc_timeout or hc.interval
        else:
            hc.timeout = self.seconds(node, s.connect_timeout) if s.connect_timeout is not None else KA_CONNECT_TIMEOUT
        retry = s.retry if s.retry is not None else KA_RETRY.get(kind, 1)
        hc.fall = retry + 1  # keepalived gives up after the first failure plus `retry` more
        if s.delay_before_retry is not None and s.delay_before_retry != hc.interval:
            self.note(node, f"delay_before_retry {s.delay_before_retry:g} not imported (lbadmin retries at the check interval)")
        if s.alpha:
            hc.initial_state = "down"
        if kind in ("HTTP_GET", "SSL_GET"):
            hc.http_host = s.virtualhost or ""
            hc.http_status = KA_HTTP_STATUS
            hc.verify_tls = kind != "SSL_GET"  # SSL_GET does not verify the certificate
            if not urls:
                self.note(node, f"{kind} without a url block: checking /")
            for extra in urls[1:]:
                self.note(extra, "url not imported (one URL per check; the first is used)")
            if urls:
                self.url(urls[0], hc)
            if sni_enabled and not hc.sni:
                hc.sni = hc.http_host
        if kind == "DNS_CHECK":
            hc.dns_type = hc.dns_type if any(c.keyword == "type" for c in children) else KA_DNS_TYPE
            hc.dns_name = hc.dns_name or KA_DNS_NAME
        if kind == "SMTP_CHECK":
            hc.expect = "220"
            parsed.notes.append((node, "SMTP_CHECK imported as a send/expect check that waits for the server's "
                                       "220 greeting (lbadmin sends no HELO)"))
        if kind == "MISC_CHECK":
            self.misc_program(misc_node or node, vs, parsed)
        return parsed

    def misc_program(self, node: Node, vs: VirtualServerConfig, parsed: _ParsedCheck) -> None:
        """A program outside the operator's check program directory is never run: the check
        becomes a connect check to the real server's port, so the service stays checked."""
        hc = parsed.check
        if self.program_dir is None or not hc.send_program.strip():
            return
        try:
            v.validate_program_location(hc.send_program, self.program_dir)
        except ValueError:
            program = hc.send_program.split()[0]
            instead = "a UDP check (no payload)" if vs.protocol == "udp" else "a TCP connect check"
            parsed.notes.append((node, f"MISC_CHECK program {program} is outside lbadmin's check program "
                                       f"directory {self.program_dir}: imported as {instead} to each real server's "
                                       "port instead; to check as keepalived did, copy the program there and "
                                       "choose it on the virtual server's health check"))
            hc.check_type = "udp" if vs.protocol == "udp" else "tcp"
            hc.send_program = ""

    def url(self, node: Node, hc: HealthCheckConfig) -> None:
        seen: dict[str, Node] = {}
        for child in self.needs_block(node):
            kw = child.keyword
            self.once(child, seen)
            if kw == "path":
                path = self.arg(child)
                hc.http_path = "/" if path == "" else self.value(child, v.validate_http_path)
                if path == "":
                    self.note(child, "path is empty: checking /")
            elif kw == "status_code":
                hc.http_status = self.status_codes(child)
            elif kw == "virtualhost":
                hc.http_host = self.arg(child) if child.args else ""
            elif kw == "regex":
                pattern = self.arg(child)
                literal = _unescape_literal(pattern)
                if literal is not None:
                    hc.http_body, hc.use_regex = literal, False
                else:
                    hc.http_body, hc.use_regex = pattern, True
            elif kw == "digest":
                self.note(child, "digest not imported (lbadmin does not compare an MD5 of the page: it checks "
                                 "the status code, and a regex when there is one)")
            else:
                self.skip(child, block="url")

    def status_codes(self, node: Node) -> str:
        if not node.args:
            self.fail(node, "status_code: missing value")
        try:
            return v.validate_http_status(",".join(node.args))
        except ValueError as exc:
            self.fail(node, f"status_code: {exc}")

    def hex_text(self, node: Node) -> str:
        digits = "".join(node.args)
        if not re.fullmatch(r"([0-9A-Fa-f]{2})*", digits):
            self.note(node, f"{node.keyword} {' '.join(node.args)!r} not imported (only plain hex bytes are)")
            return ""
        return bytes.fromhex(digits).decode("latin-1")

    @staticmethod
    def unsubstitute(command: str, address: str, port: int) -> str:
        """Turn the per-server misc_path back into a template with %h and %p.

        Best effort: the address where it stands alone, the port alone or after ':' or
        '='. An IPv6 address written right before ':port' is ambiguous; "[%h]:%p" is not.
        """
        # The address must stand alone: not part of a longer address or name.
        edge = "0-9A-Fa-f:." if ":" in address else "0-9A-Za-z."
        command = re.sub(rf"(?<![{edge}]){re.escape(address)}(?![{edge}])", "%h", command)
        return re.sub(rf"(?:(?<=^)|(?<=[\s:=])){port}(?![0-9])", "%p", command)

    def pick_check(self, checks: list[tuple[Node, _ParsedCheck | None]]) -> HealthCheckConfig:
        with_check = [(n, c) for n, c in checks if c is not None]
        if not with_check:
            # No checker: keepalived keeps the real servers in the table, like check type none.
            return HealthCheckConfig(check_type="none")
        first = with_check[0][1].check
        for rs_node, parsed in checks[1:]:
            if parsed is None or parsed.check != first:
                self.note(rs_node, "this real server's checker differs from the first one's; the first is used for all")
        return first

    def check_virtual(self, node: Node, vs: VirtualServerConfig) -> None:
        problems = config_problems(Config(virtual_servers=[vs]))
        if problems:
            problem = problems[0]
            self.fail(node, f"{format_path(problem.path[2:])}: {problem.message}")


def _unescape_literal(pattern: str) -> str | None:
    """The plain text a regex matches, if it is just (escaped) literal text."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern) and not pattern[i + 1].isalnum():
            out.append(pattern[i + 1])
            i += 2
            continue
        if c in ".^$*+?()[]{}|\\":
            return None
        out.append(c)
        i += 1
    return "".join(out)


def parse_keepalived(text: str, path: str = "keepalived.conf", *, loader: Loader | None = None,
                     program_dir: str | None = None) -> tuple[Config, list[str]]:
    """Read the virtual servers of a keepalived.conf: (config, warnings), or KeepalivedError.

    Each warning is "PATH:LINE: what lbadmin did" (ignored, kept, took the later value), in
    the order of the text, included files where their include stands. `loader` reads
    included files (see Loader); without one an include is a warning, or an error when the
    file holds no virtual server of its own. `program_dir`: the only directory a MISC_CHECK
    program may come from (validate.validate_program_location); a program elsewhere becomes
    a connect check, with a warning. None: programs are kept as written.
    """
    findings: list[tuple[int, str]] = []
    lexer = _Lexer(loader, findings)
    tree = parse_tree(text, path, findings, lexer=lexer)
    config = _Reader(findings, program_dir).read(tree)
    if lexer.unread and not config.virtual_servers:
        # What was imported would be nothing, silently: the services are in the missing files.
        first, why = lexer.unread[0]
        raise KeepalivedError(first.path, first.line, f"no virtual_server to import, and {why}")
    unique = dict.fromkeys(text for _, text in sorted(findings, key=lambda item: item[0]))
    return config, list(unique)


# --- rendering -------------------------------------------------------------------------


# keepalived's parser has no escape inside a quoted string: a double quote or a control
# character in a value would end the string early or start a new line, that is, write
# directives of the value's choosing. Such a check is left out of the file, with a note.
_UNCARRIABLE = re.compile(r'["\x00-\x1f\x7f]')


def uncarriable(*values: str) -> bool:
    return any(_UNCARRIABLE.search(value or "") for value in values)


def _ka_string(value: str) -> str:
    if uncarriable(value):
        raise ValueError(f"{value!r} cannot be written into keepalived.conf")
    return value if value and re.fullmatch(r"[^\s\"#!{}]+", value) else f'"{value}"'


def _status_codes(value: str) -> str:
    return " ".join(item.strip() for item in value.split(","))


def substitute(template: str, address: str, port: int) -> str:
    """A check program for one real server: %h its address, %p its port."""
    return template.replace("%h", address).replace("%p", str(port))


def _check_uncarriable(hc: HealthCheckConfig) -> bool:
    strings = {"program": [hc.send_program], "http": [hc.http_host, hc.http_body, hc.http_path],
               "https": [hc.http_host, hc.sni, hc.http_body, hc.http_path], "dns": [hc.dns_name]}
    return uncarriable(*strings.get(hc.check_type, []))


def keepalived_report(config: Config) -> list[str]:
    """What render_keepalived() leaves out or approximates, one line each."""
    notes = []
    for vs in config.virtual_servers:
        who = f"virtual server {vs.name!r}"
        hc = vs.health_check
        if vs.active and hc.check_type != "none" and _check_uncarriable(hc):
            notes.append(f"{who}: {hc.check_type} check left out: a value holds a quote or a control character, "
                         "which keepalived.conf cannot carry")
        if not vs.active:
            notes.append(f"{who}: inactive, not written")
            continue
        if vs.fwmark is not None:
            notes.append(f"{who}: address {vs.address} and port {vs.port} not written (keepalived knows a firewall-mark service by its mark)")
        if vs.device or vs.vip_nmask:
            notes.append(f"{who}: device and vip_nmask belong to the VRRP configuration, not written here")
        if vs.pmask and not vs.persistent:
            notes.append(f"{who}: pmask without persistence not written")
        if vs.load_monitor != "none":
            notes.append(f"{who}: load_monitor {vs.load_monitor!r} not written")
        if hc.check_type == "send_expect":
            notes.append(f"{who}: send/expect check written as TCP_CHECK (keepalived has no send/expect checker)")
        if hc.check_type == "program" and hc.expect:
            notes.append(f"{who}: MISC_CHECK uses the program's exit code; expect {hc.expect!r} not written")
        if hc.check_type in ("http", "https") and hc.http_method != "GET":
            notes.append(f"{who}: keepalived checks with GET only, not {hc.http_method}")
        if hc.check_type == "https" and hc.verify_tls:
            notes.append(f"{who}: SSL_GET does not verify the certificate")
        if hc.check_type == "dns" and hc.dns_expect:
            notes.append(f"{who}: dns_expect not written (DNS_CHECK only checks that an answer comes)")
        if hc.check_type != "none" and not any(rs.admin_state != "disabled" for rs in vs.real_servers):
            notes.append(f"{who}: no real server to carry the {hc.check_type} check (keepalived checks per real server)")
        if hc.check_type != "none" and hc.rise != 1:
            notes.append(f"{who}: rise {hc.rise} not written (keepalived brings a server up on its first success)")
        if hc.slow_start:
            notes.append(f"{who}: slow_start {hc.slow_start} s not written (keepalived has no slow start: a recovered server gets its full weight at once)")
        if vs.directors:
            notes.append(f"{who}: directors {', '.join(vs.directors)} not written (keepalived.conf names no directors: install it on those only)")
        for rs in vs.real_servers:
            moved_check = bool(rs.check_address) or rs.check_port is not None
            if rs.admin_state == "disabled":
                notes.append(f"{who}: real server {rs.name!r} is disabled, not written")
                continue
            if rs.admin_state == "draining":
                notes.append(f"{who}: real server {rs.name!r} is draining, written with weight 0")
            if moved_check and hc.check_type == "program":
                notes.append(f"{who}: real server {rs.name!r}: check address/port written into misc_path for %h/%p "
                             "(MISC_CHECK has no connect_ip/connect_port); an import reads them back as part of the program")
            elif moved_check and hc.check_type == "none":
                notes.append(f"{who}: real server {rs.name!r}: check address/port not written (no checker)")
    return notes


def render_keepalived(config: Config) -> str:
    """keepalived.conf virtual_server blocks for the active virtual servers."""
    out = ["# Generated by lbadmin: the IPVS part only (VRRP is configured separately)."]
    for vs in config.virtual_servers:
        if vs.active:
            out.append("")
            out.extend(_render_virtual(config, vs))
    return "\n".join(out) + "\n"


def _render_virtual(config: Config, vs: VirtualServerConfig) -> list[str]:
    hc = vs.health_check
    head = f"fwmark {vs.fwmark}" if vs.fwmark is not None else f"{vs.address} {vs.port}"
    out = [f"# {vs.name}", f"virtual_server {head} {{"]
    ind = "    "
    ind2 = ind * 2

    def put(text: str, level: int = 1) -> None:
        out.append(ind * level + text)

    forwarding = effective_forwarding(config, vs)
    put(f"delay_loop {hc.interval}")
    put(f"lb_algo {vs.scheduler}")
    for flag in v.split_sched_flags(vs.sched_flags):
        put(flag)  # keepalived's keyword is ipvsadm's name; it must follow lb_algo, which it checks
    put(f"lb_kind {LB_KIND_OF[forwarding]}")
    if vs.persistent:
        put(f"persistence_timeout {vs.persistent}")
        if vs.pmask:
            put(f"persistence_granularity {vs.pmask}")
    put(f"protocol {vs.protocol.upper()}")
    if vs.fwmark is not None and v.ip_family(vs.address) == 6:
        put("ip_family inet6")
    if hc.initial_state == "down" and hc.check_type != "none":
        put("alpha")
    if vs.sorry_server:
        sorry_port = vs.sorry_port or (vs.port if vs.fwmark is None else None)
        put(f"sorry_server {vs.sorry_server}" + (f" {sorry_port}" if sorry_port else ""))
    # Per real server only what differs between them; the check's own lines once.
    checker = _checker(hc, ind2)
    for rs in vs.real_servers:
        if rs.admin_state == "disabled":
            continue
        port = rs.port or vs.port
        out.append(f"{ind}real_server {rs.address} {port} {{")
        out.append(f"{ind2}weight {0 if rs.admin_state == 'draining' else rs.weight}")
        if vs.quiesce_server:
            out.append(f"{ind2}inhibit_on_failure")
        if rs.forwarding and rs.forwarding != forwarding:
            out.append(f"{ind2}lvs_method {LB_KIND_OF[rs.forwarding]}")
        if checker:
            out.append(checker(rs, port))
        out.append(f"{ind}}}")
    out.append("}")
    return out


def _checker(hc: HealthCheckConfig, ind: str) -> Callable[[RealServerConfig, int], str] | None:
    """What writes a real server's checker: (the real server, its effective port) -> its
    lines, as one text; None for no checker. The lines that do not depend on the real
    server are written once, for all."""
    if hc.check_type == "none":
        return None
    kind = CHECKER_OF[hc.check_type]
    if _check_uncarriable(hc):
        left_out = f"{ind}# lbadmin: {kind} left out: a value holds a quote or a control character"
        return lambda rs, port: left_out
    inner = ind + "    "
    tail = "\n".join(_checker_tail(hc, kind, ind, inner))

    def lines(rs: RealServerConfig, port: int) -> str:
        check_address, check_port = rs.check_address or rs.address, rs.check_port or port
        if kind == "MISC_CHECK":
            return (f'{ind}{kind} {{\n{inner}misc_path "{substitute(hc.send_program, check_address, check_port)}"\n'
                    f"{inner}misc_timeout {hc.timeout}\n{tail}")
        connect_ip = f"{inner}connect_ip {rs.check_address}\n" if rs.check_address else ""
        return f"{ind}{kind} {{\n{connect_ip}{inner}connect_port {check_port}\n{inner}connect_timeout {hc.timeout}\n{tail}"

    return lines


def _checker_tail(hc: HealthCheckConfig, kind: str, ind: str, inner: str) -> list[str]:
    """A checker's lines after its target: the same for every real server."""
    out: list[str] = []
    if kind in ("HTTP_GET", "SSL_GET"):
        if hc.http_host:
            out.append(f"{inner}virtualhost {_ka_string(hc.http_host)}")
        if kind == "SSL_GET" and hc.sni:
            out.append(f"{inner}enable_sni")
            out.append(f"{inner}sni_name {_ka_string(hc.sni)}")
        out.append(f"{inner}url {{")
        out.append(f"{inner}    path {hc.http_path}")
        out.append(f"{inner}    status_code {_status_codes(hc.http_status)}")
        if hc.http_body:
            body = hc.http_body if hc.use_regex else re.escape(hc.http_body)
            out.append(f"{inner}    regex {_ka_string(body)}")
        out.append(f"{inner}}}")
    if kind == "DNS_CHECK":
        out.append(f"{inner}type {hc.dns_type}")
        out.append(f"{inner}name {_ka_string(hc.dns_name)}")
    if kind == "UDP_CHECK":
        if hc.send:
            out.append(f"{inner}payload {hc.send.encode('latin-1', 'replace').hex()}")
        if hc.expect:
            out.append(f"{inner}require_reply {hc.expect.encode('latin-1', 'replace').hex()}")
    out.append(f"{inner}retry {hc.fall - 1}")
    out.append(f"{inner}delay_before_retry {hc.interval}")
    out.append(f"{ind}}}")
    return out
