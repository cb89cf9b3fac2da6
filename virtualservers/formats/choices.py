"""Every choice list of the configuration, written once: (value, label) pairs.

The Django models build their choices and their CheckConstraints from these pairs
(lbadmin.validators.text_choices), the importers and the backup loader check values
against them (validate.py), and the forms get them through the models. The engines
keep their own copy where they must not import this package (ipvs.model.SCHEDULERS,
monitoring.checks.spec.CHECK_TYPES); tests/test_rules_single_source.py proves those
copies equal.

Runtime states (a real server's health, an apply's result) are not configuration and
stay on their models.
"""

from __future__ import annotations

Choices = tuple[tuple[str, str], ...]


def values(choices: Choices) -> tuple[str, ...]:
    return tuple(value for value, _ in choices)


PROTOCOL_CHOICES: Choices = (("tcp", "TCP"), ("udp", "UDP"), ("sctp", "SCTP"))

# The schedulers a stock kernel ships (ip_vs_*.ko); the kernel loads them by name.
SCHEDULER_CHOICES: Choices = (
    ("rr", "Round robin (rr)"),
    ("wrr", "Weighted round robin (wrr)"),
    ("lc", "Least connections (lc)"),
    ("wlc", "Weighted least connections (wlc)"),
    ("lblc", "Locality-based least connections (lblc)"),
    ("lblcr", "Locality-based least connections with replication (lblcr)"),
    ("dh", "Destination hashing (dh)"),
    ("sh", "Source hashing (sh)"),
    ("sed", "Shortest expected delay (sed)"),
    ("nq", "Never queue (nq)"),
    ("mh", "Maglev hashing (mh)"),
    ("fo", "Weighted failover (fo)"),
    ("ovf", "Weighted overflow (ovf)"),
    ("twos", "Weighted random twos choice (twos)"),
)

# The kernel's scheduler flags (ipvsadm -b, keepalived's keywords of the same names), each
# read only by the scheduler it is named after; the engine's copy is ipvs.model.SCHED_FLAGS.
SCHED_FLAG_CHOICES: Choices = (
    ("sh-fallback", "sh-fallback: a client whose server is unavailable goes to another one"),
    ("sh-port", "sh-port: hash the source port too, not only the address"),
    ("mh-fallback", "mh-fallback: a client whose server is unavailable goes to another one"),
    ("mh-port", "mh-port: hash the source port too, not only the address"),
)
SCHED_FLAGS_OF: dict[str, tuple[str, ...]] = {"sh": ("sh-fallback", "sh-port"), "mh": ("mh-fallback", "mh-port")}

# The cluster-wide network type (lvs.cf `network`).
NETWORK_CHOICES: Choices = (("nat", "NAT"), ("direct", "Direct routing"), ("tunnel", "Tunneling"))

# A virtual or real server's forwarding: blank inherits, otherwise one network type.
_FORWARDING_LABELS = {"nat": "NAT (masquerading)", "direct": "Direct routing", "tunnel": "Tunneling"}
FORWARDING_CHOICES: Choices = (("", "Inherit"),) + tuple(
    (value, _FORWARDING_LABELS[value]) for value in values(NETWORK_CHOICES)
)

SERVICE_CHOICES: Choices = (("lvs", "LVS"), ("fos", "FOS"))
RSH_COMMAND_CHOICES: Choices = (("ssh", "ssh"), ("rsh", "rsh"))
LOAD_MONITOR_CHOICES: Choices = (("none", "none"), ("rup", "rup"), ("ruptime", "ruptime"), ("uptime", "uptime"))
ADMIN_STATE_CHOICES: Choices = (("enabled", "Enabled"), ("disabled", "Disabled"), ("draining", "Draining"))

CHECK_TYPE_CHOICES: Choices = (
    ("tcp", "TCP connect"),
    ("send_expect", "Send / expect over TCP"),
    ("udp", "Send / expect over UDP"),
    ("http", "HTTP"),
    ("https", "HTTPS"),
    ("program", "External program"),
    ("dns", "DNS query"),
    ("icmp", "ICMP echo (ping)"),
    ("none", "None (always up)"),
)
INITIAL_STATE_CHOICES: Choices = (("up", "Up"), ("down", "Down"))
# The methods the check form has always offered. PUT, DELETE and PATCH are left out: they
# change things on the server, and a check runs every few seconds.
HTTP_METHOD_CHOICES: Choices = (("GET", "GET"), ("HEAD", "HEAD"), ("POST", "POST"), ("OPTIONS", "OPTIONS"))
DNS_TYPE_CHOICES: Choices = tuple(
    (t, t) for t in ("A", "AAAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT")
)

# Which HealthCheck fields each check type reads besides the timing ones, which every
# type has. The one table behind the check form (it shows these, keeps the others as
# saved) and the rules across fields (validate.health_check_problems looks only at these).
CHECK_TIMING_FIELDS: tuple[str, ...] = ("interval", "timeout", "rise", "fall", "initial_state", "slow_start")
_HTTP_FIELDS = ("http_method", "http_path", "http_host", "http_status", "http_body", "use_regex")
CHECK_TYPE_FIELDS: dict[str, tuple[str, ...]] = {
    "tcp": (),
    "send_expect": ("send", "expect", "use_regex"),
    "udp": ("send", "expect", "use_regex"),
    "http": _HTTP_FIELDS,
    "https": _HTTP_FIELDS + ("verify_tls", "sni"),
    "program": ("send_program", "expect", "use_regex"),
    "dns": ("dns_name", "dns_type", "dns_expect", "use_regex"),
    "icmp": (),
    "none": (),
}


def check_type_fields(check_type: str) -> tuple[str, ...]:
    """The fields a check of this type reads besides the timing ones (none for an unknown type)."""
    return CHECK_TYPE_FIELDS.get(check_type, ())
