"""keepalived.conf: the virtual_server part, both ways.

render_keepalived() writes one virtual_server block per active virtual server, with
a real_server block and checker per enabled real server. parse_keepalived() reads the
same subset back. Everything else in a keepalived.conf (global_defs, vrrp_*, include,
checkers we have no equivalent for, options such as quorum) is reported line by line
in the returned report: never silently dropped, never fatal. Broken syntax and bad
values are fatal: KeepalivedError("PATH:LINE: ...").

A real server's check_address / check_port are its checker's connect_ip / connect_port
(a connect_port equal to the server's own port reads back as no override). MISC_CHECK
has neither keyword: there the check target is substituted for %h and %p, as lbadmin's
own program check does. A health check's slow_start and a virtual server's directors
have no keepalived equivalent: keepalived_report() lists them.

Keyword spelling follows keepalived's own parser (keepalived/check/check_parser.c and
the checkers' install_keyword calls) and keepalived.conf(5).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from . import validate as v
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


@dataclass
class Node:
    keyword: str
    args: list[str]
    line: int
    children: list[Node] | None = None  # None: a plain statement, not a block

    def describe(self) -> str:
        return " ".join([self.keyword, *self.args])


@dataclass
class _Token:
    text: str
    line: int
    quoted: bool = False


def _tokens(text: str, path: str, report: list[str]) -> list[list[_Token]]:
    """Lines of tokens; '{' and '}' are tokens of their own. Comments start with # or !."""
    lines: list[list[_Token]] = []
    for lineno, raw in enumerate(text.split("\n"), start=1):
        stripped = raw.strip()
        if stripped.startswith(("@", "$")):
            what = "conditional line" if stripped.startswith("@") else "parameter definition"
            report.append(f"{path}:{lineno}: {what} not imported")
            continue
        tokens: list[_Token] = []
        i, n = 0, len(raw)
        while i < n:
            c = raw[i]
            if c.isspace():
                i += 1
            elif c in "#!":
                break
            elif c in "{}":
                tokens.append(_Token(c, lineno))
                i += 1
            elif c == '"':
                end = raw.find('"', i + 1)
                if end < 0:
                    raise KeepalivedError(path, lineno, "unclosed quote")
                tokens.append(_Token(raw[i + 1:end], lineno, quoted=True))
                i = end + 1
            else:
                start = i
                while i < n and not raw[i].isspace() and raw[i] not in '{}"':
                    i += 1
                tokens.append(_Token(raw[start:i], lineno))
        if tokens:
            lines.append(tokens)
    return lines


def parse_tree(text: str, path: str, report: list[str]) -> list[Node]:
    root: list[Node] = []
    stack: list[tuple[list[Node], Node | None]] = [(root, None)]
    for tokens in _tokens(text, path, report):
        current: list[_Token] = []

        def flush() -> Node | None:
            if not current:
                return None
            first = current[0]
            node = Node(first.text, [t.text for t in current[1:]], first.line)
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
                        raise KeepalivedError(path, token.line, "unexpected '{'")
                node.children = []
                stack.append((node.children, node))
            elif token.text == "}" and not token.quoted:
                flush()
                if len(stack) == 1:
                    raise KeepalivedError(path, token.line, "unexpected '}' (no block is open)")
                stack.pop()
            else:
                current.append(token)
        flush()
    if len(stack) > 1:
        opener = stack[-1][1]
        raise KeepalivedError(path, opener.line, f"block '{opener.describe()}' is never closed (missing '}}')")
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
    notes: list[str] = field(default_factory=list)


class _Reader:
    def __init__(self, path: str):
        self.path = path
        self.report: list[str] = []

    def fail(self, node: Node, message: str):
        raise KeepalivedError(self.path, node.line, message)

    def skip(self, node: Node, why: str = "") -> None:
        suffix = f" ({why})" if why else ""
        self.report.append(f"{self.path}:{node.line}: {node.keyword} not imported{suffix}")

    def note(self, node: Node, message: str) -> None:
        self.report.append(f"{self.path}:{node.line}: {message}")

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

    def no_block(self, node: Node) -> None:
        if node.children is not None:
            self.fail(node, f"{node.keyword} does not take a block")

    def needs_block(self, node: Node) -> list[Node]:
        if node.children is None:
            self.fail(node, f"{node.keyword} needs a block {{ ... }}")
        return node.children

    # -- top level
    def read(self, tree: list[Node]) -> Config:
        config = Config()
        keys: dict[tuple, int] = {}
        names: set[str] = set()
        for node in tree:
            if node.keyword == "virtual_server":
                vs = self.virtual_server(node)
                if vs is None:
                    continue
                key = (vs.fwmark, vs.address if vs.fwmark is None else "", vs.port if vs.fwmark is None else 0, vs.protocol)
                if key in keys:
                    self.fail(node, f"duplicate virtual_server {' '.join(node.args)} (first on line {keys[key]})")
                keys[key] = node.line
                vs.name = self.unique(vs.name, names)
                config.virtual_servers.append(vs)
            elif node.keyword == "include":
                self.note(node, f"include {' '.join(node.args)} not imported (included files are not read)")
            else:
                self.skip(node)
        return config

    @staticmethod
    def unique(name: str, names: set[str]) -> str:
        candidate, n = name, 2
        while candidate in names:
            candidate = f"{name}-{n}"
            n += 1
        names.add(candidate)
        return candidate

    def virtual_server(self, node: Node) -> VirtualServerConfig | None:
        children = self.needs_block(node)
        args = node.args
        if not args:
            self.fail(node, "virtual_server: missing address")
        if args[0] == "group":
            self.skip(node, "virtual_server group")
            return None
        fwmark = None
        if args[0] == "fwmark":
            fwmark = self.value(node, v.validate_fwmark, 1)
            if len(args) > 2:
                self.fail(node, f"virtual_server fwmark: unexpected {' '.join(args[2:])!r}")
            address, port = "", 80
        else:
            address = self.value(node, v.validate_ip, 0)
            if len(args) < 2:
                self.skip(node, "a virtual_server without a port (all ports) has no equivalent")
                return None
            if len(args) > 2:
                self.fail(node, f"virtual_server: unexpected {' '.join(args[2:])!r}")
            port = self.value(node, v.validate_port, 1)
        vs = VirtualServerConfig(name="", address=address, port=port, fwmark=fwmark)
        settings = _CheckerSettings()
        real_nodes: list[Node] = []
        ip_family_node = None
        for child in children:
            kw = child.keyword
            if kw == "real_server":
                real_nodes.append(child)
                continue
            if kw in ("HTTP_GET", "SSL_GET", "TCP_CHECK", "MISC_CHECK") or child.children is not None:
                self.skip(child)
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
                vs.sorry_server = self.value(child, v.validate_ip, 0)
                if len(child.args) > 1:
                    vs.sorry_port = self.value(child, v.validate_port, 1)
            elif kw == "inhibit_on_failure":
                vs.quiesce_server = True
            elif kw == "ip_family":
                ip_family_node = child
            elif self.common_setting(child, settings):
                pass
            else:
                self.skip(child)
        if vs.pmask and not vs.persistent:
            self.note(node, "persistence_granularity without persistence_timeout not imported")
            vs.pmask = ""
        if fwmark is not None:
            vs.address = self.fwmark_address(node, real_nodes, ip_family_node)
            vs.name = f"fwmark-{fwmark}"
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

    def fwmark_address(self, node: Node, real_nodes: list[Node], ip_family_node: Node | None) -> str:
        family = 4
        if ip_family_node is not None:
            family = 6 if self.arg(ip_family_node) == "inet6" else 4
        elif real_nodes and real_nodes[0].args:
            try:
                family = v.ip_family(real_nodes[0].args[0])
            except ValueError:
                pass
        address = "0.0.0.0" if family == 4 else "::"
        self.note(node, f"virtual_server {' '.join(node.args)} has no address; set to {address}, set the VIP after import")
        return address

    def lb_kind(self, node: Node) -> str:
        kind = self.arg(node).upper()
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
            settings.virtualhost = self.arg(node)
        else:
            return False
        return True

    def real_server(self, node: Node, vs: VirtualServerConfig, inherited: _CheckerSettings):
        children = self.needs_block(node)
        address = self.value(node, v.validate_ip, 0)
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
        for child in children:
            kw = child.keyword
            if kw in CHECKERS:
                checker_nodes.append(child)
            elif child.children is not None:
                self.skip(child)
            elif kw == "weight":
                rs.weight = self.value(child, v.validate_weight)
            elif kw == "inhibit_on_failure":
                quiesce = not child.args or child.args[0].lower() not in ("false", "no", "off", "0")
            elif kw == "lvs_method":
                rs.forwarding = self.lb_kind(child)
            elif self.common_setting(child, settings):
                pass
            else:
                self.skip(child)
        if rs.forwarding and rs.forwarding == (vs.forwarding or "nat"):
            rs.forwarding = ""
        check = None
        if checker_nodes:
            check = self.checker(checker_nodes[0], vs, rs, inherited.merged(settings))
            rs.check_address, rs.check_port = check.connect_ip, check.connect_port
            for extra in checker_nodes[1:]:
                self.note(extra, f"{extra.keyword} not imported (only one check per virtual server; the first is used)")
        return rs, check, quiesce

    def checker(self, node: Node, vs: VirtualServerConfig, rs: RealServerConfig, inherited: _CheckerSettings) -> _ParsedCheck:
        kind = node.keyword
        children = self.needs_block(node)
        settings = _CheckerSettings()
        hc = HealthCheckConfig(check_type=CHECKERS[kind], rise=1)
        parsed = _ParsedCheck(node.line, hc)
        urls: list[Node] = []
        misc_timeout = None
        sni_enabled = False
        rs_port = rs.port or vs.port
        for child in children:
            kw = child.keyword
            if self.common_setting(child, settings):
                continue
            if kw == "url" and kind in ("HTTP_GET", "SSL_GET"):
                urls.append(child)
            elif kw == "connect_port" and kind != "MISC_CHECK":
                port = self.value(child, v.validate_port)
                # The real server's own port is what lbadmin checks anyway: no override.
                parsed.connect_port = None if port == rs_port else port
            elif kw == "connect_ip" and kind != "MISC_CHECK":
                parsed.connect_ip = self.value(child, v.validate_ip)
            elif kw == "misc_path" and kind == "MISC_CHECK":
                hc.send_program = self.unsubstitute(self.arg(child), rs.address, rs_port)
            elif kw == "misc_timeout" and kind == "MISC_CHECK":
                misc_timeout = self.value(child, v.validate_check_seconds)
            elif kw == "enable_sni" and kind == "SSL_GET":
                sni_enabled = True
            elif kw == "sni_name" and kind == "SSL_GET":
                hc.sni = self.arg(child)
            elif kw == "type" and kind == "DNS_CHECK":
                hc.dns_type = self.value(child, lambda x: v.validate_dns_type(x.upper()))
            elif kw == "name" and kind == "DNS_CHECK":
                hc.dns_name = self.value(child, v.validate_dns_name)
            elif kw == "payload" and kind == "UDP_CHECK":
                hc.send = self.hex_text(child)
            elif kw == "require_reply" and kind == "UDP_CHECK":
                hc.expect = self.hex_text(child) if child.args else ""
            else:
                self.skip(child)
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
        return parsed

    def url(self, node: Node, hc: HealthCheckConfig) -> None:
        for child in self.needs_block(node):
            kw = child.keyword
            if kw == "path":
                hc.http_path = self.value(child, v.validate_http_path)
            elif kw == "status_code":
                hc.http_status = self.status_codes(child)
            elif kw == "virtualhost":
                hc.http_host = self.arg(child)
            elif kw == "regex":
                pattern = self.arg(child)
                literal = _unescape_literal(pattern)
                if literal is not None:
                    hc.http_body, hc.use_regex = literal, False
                else:
                    hc.http_body, hc.use_regex = pattern, True
            else:
                self.skip(child)

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


def parse_keepalived(text: str, path: str = "keepalived.conf") -> tuple[Config, list[str]]:
    """Read the virtual servers of a keepalived.conf: (config, report of what was not imported)."""
    reader = _Reader(path)
    tree = parse_tree(text, path, reader.report)
    config = reader.read(tree)
    return config, sorted(reader.report, key=_report_line)


def _report_line(entry: str) -> int:
    match = re.match(r".*?:(\d+):", entry)
    return int(match.group(1)) if match else 0


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

    def put(text: str, level: int = 1) -> None:
        out.append(ind * level + text)

    put(f"delay_loop {hc.interval}")
    put(f"lb_algo {vs.scheduler}")
    for flag in v.split_sched_flags(vs.sched_flags):
        put(flag)  # keepalived's keyword is ipvsadm's name; it must follow lb_algo, which it checks
    put(f"lb_kind {LB_KIND_OF[effective_forwarding(config, vs)]}")
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
    for rs in vs.real_servers:
        if rs.admin_state == "disabled":
            continue
        port = rs.port or vs.port
        put(f"real_server {rs.address} {port} {{")
        put(f"weight {0 if rs.admin_state == 'draining' else rs.weight}", 2)
        if vs.quiesce_server:
            put("inhibit_on_failure", 2)
        if rs.forwarding and rs.forwarding != effective_forwarding(config, vs):
            put(f"lvs_method {LB_KIND_OF[rs.forwarding]}", 2)
        out.extend(_render_checker(hc, rs, port, ind * 2))
        put("}")
    out.append("}")
    return out


def _render_checker(hc: HealthCheckConfig, rs: RealServerConfig, port: int, ind: str) -> list[str]:
    """One real server's checker; `port` is the server's effective port."""
    if hc.check_type == "none":
        return []
    kind = CHECKER_OF[hc.check_type]
    inner = ind + "    "
    check_address, check_port = rs.check_address or rs.address, rs.check_port or port
    if _check_uncarriable(hc):
        return [f"{ind}# lbadmin: {kind} left out: a value holds a quote or a control character"]
    out = [f"{ind}{kind} {{"]
    if kind == "MISC_CHECK":
        out.append(f'{inner}misc_path "{substitute(hc.send_program, check_address, check_port)}"')
        out.append(f"{inner}misc_timeout {hc.timeout}")
    else:
        if rs.check_address:
            out.append(f"{inner}connect_ip {rs.check_address}")
        out.append(f"{inner}connect_port {check_port}")
        out.append(f"{inner}connect_timeout {hc.timeout}")
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
