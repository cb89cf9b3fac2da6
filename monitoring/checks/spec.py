"""What a health check is asked to do (CheckSpec) and what it found (CheckResult).

CheckSpec mirrors the HealthCheck model's fields (see notes/models.md) plus the target's
host and port, so the Django side can build one without this package knowing Django.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

# The check types of virtualservers/formats/choices.py CHECK_TYPE_CHOICES, which this
# package must not import; tests/test_rules_single_source.py proves the two equal.
CHECK_TYPES = ("tcp", "send_expect", "udp", "http", "https", "program", "dns", "icmp", "none")

# Where program checks may live, and whom they run as when the checker runs as root: the
# operator's choice (settings LBADMIN_CHECK_PROGRAM_DIR / _USER), never the admin's.
DEFAULT_PROGRAM_DIR = "/usr/local/lib/lbadmin/checks"
DEFAULT_PROGRAM_USER = "nobody"
# The operator's fields: spec_from_fields takes them only from its overrides, never from
# the admin's configuration object.
POLICY_FIELDS = ("program_dir", "program_user")


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    latency_ms: float
    reason: str  # one line, for people: "HTTP 503", "connection refused", ...

    @property
    def state(self) -> str:
        return "up" if self.ok else "down"


@dataclass(frozen=True, slots=True)
class CheckSpec:
    check_type: str
    host: str = ""
    port: int = 0
    send_program: str = ""  # '%h' host, '%p' port, substituted inside each argument
    send: str = ""  # \r \n \t \\ escapes
    expect: str = ""  # prefix (escapes) or regex; '*' = any reply
    use_regex: bool = False  # applies to expect, http_body and dns_expect
    timeout: float = 6.0  # seconds, for the whole check
    http_method: str = "GET"
    http_path: str = "/"
    http_host: str = ""  # Host header; blank = host[:port]
    http_status: str = "200-399"  # "200", "200-399", "200,301-302"
    http_body: str = ""  # substring (or regex) the body must contain
    verify_tls: bool = True
    sni: str = ""  # blank = http_host's name when set
    dns_name: str = ""
    dns_type: str = "A"
    dns_expect: str = ""  # one answer's rdata text must equal it (or match, with use_regex)
    # Not in the model (yet): a CA bundle for verify_tls, for internal CAs and for tests.
    # Blank = the system's trust store.
    ca_file: str = ""
    # None for both: no directory rule, run as the caller. Only the probe command line,
    # run by hand by someone who could run the program directly anyway, asks for that.
    program_dir: str | None = DEFAULT_PROGRAM_DIR
    program_user: str | None = DEFAULT_PROGRAM_USER


_SPEC_FIELDS = tuple(f.name for f in fields(CheckSpec))


def spec_from_fields(config: object, *, host: str, port: int, **overrides: object) -> CheckSpec:
    """Build a CheckSpec from any object with HealthCheck-named attributes (a model row,
    a form's cleaned data wrapped in SimpleNamespace, ...). Missing attributes keep the
    CheckSpec default; `overrides` win over both. The program policy (POLICY_FIELDS) comes
    only from `overrides`, so configuration can never widen it."""
    values: dict[str, object] = {}
    for name in _SPEC_FIELDS:
        if name in ("host", "port") or name in POLICY_FIELDS:
            continue
        if hasattr(config, name):
            value = getattr(config, name)
            if value is not None:
                values[name] = value
    values.update(host=host, port=port)
    values.update(overrides)
    if "timeout" in values:
        values["timeout"] = float(values["timeout"])  # type: ignore[arg-type]
    return CheckSpec(**values)  # type: ignore[arg-type]


# What each check function returns; run_check adds the latency.
Outcome = tuple[bool, str]
