"""The load balancer configuration as plain dataclasses.

Field names are exactly those of the Django models (notes/models.md), so the Django
side can build a model with ``VirtualServer(**column_fields(vs))`` and the formats
(lvs.cf, keepalived.conf, JSON backup) never need Django.

VirtualServerConfig.directors is the one link: the names of the directors the virtual
server is deployed to (sorted; empty = every enabled director). It is a many-to-many
relation in the database, so column_fields() leaves it out; the Django side resolves
the names.

Runtime state (RealServer.health and friends) is not configuration and is absent.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Iterator

from . import validate as v


@dataclass
class ClusterConfig:
    serial_no: int = 0
    service: str = "lvs"
    primary: str = ""
    primary_private: str = ""
    network: str = "nat"
    nat_router_ip: str = ""
    nat_router_device: str = ""
    nat_nmask: str = ""
    tcp_timeout: int = 0
    tcpfin_timeout: int = 0
    udp_timeout: int = 0
    debug_level: str = "NONE"
    rsh_command: str = "ssh"
    hard_shutdown: bool = False
    active_cmd: str = ""
    inactive_cmd: str = ""
    ipvsadm_path: str = "/sbin/ipvsadm"
    expire_quiescent_template: bool = True
    expire_nodest_conn: bool = True


@dataclass
class RedundancyConfig:
    backup_active: bool = False
    backup: str = ""
    backup_private: str = ""
    heartbeat: bool = True
    heartbeat_port: int = 539
    keepalive: int = 6
    deadtime: int = 18
    monitor_links: bool = False
    syncdaemon: bool = False
    syncd_iface: str = ""
    syncd_id: int = 0


@dataclass
class HealthCheckConfig:
    check_type: str = "tcp"
    send_program: str = ""
    send: str = ""
    expect: str = ""
    use_regex: bool = False
    interval: int = 6
    timeout: int = 6
    rise: int = 2
    fall: int = 3
    initial_state: str = "up"
    slow_start: int = 0  # seconds to ramp a recovered server back to full weight
    http_method: str = "GET"
    http_path: str = "/"
    http_host: str = ""
    http_status: str = "200-399"
    http_body: str = ""
    verify_tls: bool = True
    sni: str = ""
    dns_name: str = ""
    dns_type: str = "A"
    dns_expect: str = ""


@dataclass
class RealServerConfig:
    name: str
    address: str
    port: int | None = None
    weight: int = 1
    admin_state: str = "enabled"
    forwarding: str = ""
    # keepalived's connect_ip / connect_port: where the check goes when not to the
    # real server's own address and port. Blank / None: the real server's.
    check_address: str = ""
    check_port: int | None = None


@dataclass
class VirtualServerConfig:
    name: str
    address: str
    active: bool = True
    vip_nmask: str = ""
    device: str = ""
    port: int = 80
    protocol: str = "tcp"
    fwmark: int | None = None
    scheduler: str = "wlc"
    sched_flags: str = ""   # "mh-fallback,mh-port": only the scheduler's own flags
    persistent: int = 0
    pmask: str = ""
    forwarding: str = ""
    sorry_server: str = ""
    sorry_port: int | None = None
    quiesce_server: bool = False
    load_monitor: str = "none"
    drain_timeout: int = 300
    directors: list[str] = field(default_factory=list)
    real_servers: list[RealServerConfig] = field(default_factory=list)
    health_check: HealthCheckConfig = field(default_factory=HealthCheckConfig)


@dataclass
class Config:
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    redundancy: RedundancyConfig = field(default_factory=RedundancyConfig)
    virtual_servers: list[VirtualServerConfig] = field(default_factory=list)


NESTED_FIELDS = frozenset({"real_servers", "health_check", "virtual_servers", "cluster", "redundancy"})
# Fields that are relations in the database, not columns: set after the row exists.
LINK_FIELDS = frozenset({"directors"})


def scalar_fields(obj) -> dict:
    """The fields of one object, without its nested parts (links included: a backup carries them)."""
    return {
        f.name: getattr(obj, f.name)
        for f in dataclasses.fields(obj)
        if f.name not in NESTED_FIELDS
    }


def column_fields(obj) -> dict:
    """The model columns of one object, without nested parts and links: ready for Model(**fields)."""
    return {name: value for name, value in scalar_fields(obj).items() if name not in LINK_FIELDS}


def effective_forwarding(config: Config, vs: VirtualServerConfig, rs: RealServerConfig | None = None) -> str:
    """The real server's override, else the virtual server's, else the cluster network."""
    if rs is not None and rs.forwarding:
        return rs.forwarding
    return vs.forwarding or config.cluster.network


# --- whole-configuration validation -------------------------------------------------

Path = tuple  # ("virtual_servers", 0, "real_servers", 1, "address")


@dataclass(frozen=True)
class Problem:
    path: Path
    message: str

    def __str__(self) -> str:
        return f"{format_path(self.path)}: {self.message}"


class ConfigError(ValueError):
    """The first problem found; all of them are in .problems."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(str(problems[0]))


def format_path(path: Path) -> str:
    """("virtual_servers", 0, "address") -> "virtual_servers[0].address"."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


_OPTIONAL_INT = "int | None"
_NAMES = "list[str]"


def _type_problem(value, annotation: str) -> str | None:
    """Strict types: a bool is not an int, a str is not an int."""
    if annotation == "bool":
        return None if isinstance(value, bool) else f"{value!r} is not true or false"
    if annotation in ("int", _OPTIONAL_INT):
        if value is None and annotation == _OPTIONAL_INT:
            return None
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else f"{value!r} is not a whole number"
    if annotation == "str":
        return None if isinstance(value, str) else f"{value!r} is not text"
    if annotation == _NAMES:
        ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
        return None if ok else f"{value!r} is not a list of names"
    return None


Checker = Callable[[object], object]

CLUSTER_CHECKS: dict[str, Checker] = {
    "serial_no": v.validate_serial_no,
    "service": lambda x: v.validate_choice(x, v.SERVICES, "service"),
    "primary": v.validate_optional_ip,
    "primary_private": v.validate_optional_ip,
    "network": v.validate_network,
    "nat_router_ip": v.validate_optional_ip,
    "nat_router_device": v.validate_device,
    # nat_nmask: checked with the router's address family in _check_cluster.
    "tcp_timeout": v.validate_ipvs_timeout,
    "tcpfin_timeout": v.validate_ipvs_timeout,
    "udp_timeout": v.validate_ipvs_timeout,
    "debug_level": v.validate_debug_level,
    "rsh_command": lambda x: v.validate_choice(x, v.RSH_COMMANDS, "remote shell"),
    "active_cmd": v.validate_single_line,
    "inactive_cmd": v.validate_single_line,
    "ipvsadm_path": v.validate_path,
}

REDUNDANCY_CHECKS: dict[str, Checker] = {
    "backup": v.validate_optional_ip,
    "backup_private": v.validate_optional_ip,
    "heartbeat_port": v.validate_port,
    "keepalive": v.validate_heartbeat_seconds,
    "deadtime": v.validate_heartbeat_seconds,
    "syncd_iface": v.validate_device,
    "syncd_id": v.validate_syncd_id,
}

VIRTUAL_CHECKS: dict[str, Checker] = {
    "name": v.validate_name,
    "address": v.validate_ip,
    "device": v.validate_device,
    "port": v.validate_port,
    "protocol": v.validate_protocol,
    "fwmark": v.validate_fwmark,
    "scheduler": v.validate_scheduler,
    "sched_flags": v.validate_sched_flags,  # which scheduler: virtual_server_problems
    "persistent": v.validate_persistence,
    "forwarding": v.validate_forwarding,
    "sorry_server": v.validate_optional_ip,
    "sorry_port": v.validate_optional_port,
    "load_monitor": lambda x: v.validate_choice(x, v.LOAD_MONITORS, "load monitor"),
    "drain_timeout": v.validate_drain_timeout,
    "directors": v.validate_director_names,
}

REAL_CHECKS: dict[str, Checker] = {
    "name": v.validate_name,
    "address": v.validate_ip,
    "port": v.validate_optional_port,
    "weight": v.validate_weight,
    "admin_state": lambda x: v.validate_choice(x, v.ADMIN_STATES, "admin state"),
    "forwarding": v.validate_forwarding,
    "check_address": v.validate_optional_ip,
    "check_port": v.validate_optional_port,
}

CHECK_CHECKS: dict[str, Checker] = {
    "check_type": lambda x: v.validate_choice(x, v.CHECK_TYPES, "check type"),
    "send_program": v.validate_send_program,
    "send": v.validate_text,
    "expect": v.validate_text,
    "interval": v.validate_check_seconds,
    "timeout": v.validate_check_seconds,
    "rise": v.validate_check_count,
    "fall": v.validate_check_count,
    "initial_state": lambda x: v.validate_choice(x, v.INITIAL_STATES, "initial state"),
    "slow_start": v.validate_slow_start,
    "http_method": lambda x: v.validate_choice(x, v.HTTP_METHODS, "HTTP method"),
    "http_path": v.validate_http_path,
    "http_host": v.validate_single_line,
    "http_status": v.validate_http_status,
    "http_body": v.validate_text,
    "sni": v.validate_single_line,
    "dns_name": lambda x: x if x == "" else v.validate_dns_name(x),
    "dns_type": v.validate_dns_type,
    "dns_expect": v.validate_single_line,
}


def _check_fields(obj, checks: dict[str, Checker], path: Path) -> Iterator[Problem]:
    for f in dataclasses.fields(obj):
        if f.name in NESTED_FIELDS:
            continue
        value = getattr(obj, f.name)
        wrong_type = _type_problem(value, f.type)
        if wrong_type:
            yield Problem(path + (f.name,), wrong_type)
            continue
        check = checks.get(f.name)
        if check is None:
            continue
        try:
            check(value)
        except ValueError as exc:
            yield Problem(path + (f.name,), str(exc))


def _family(address) -> int | None:
    try:
        return v.ip_family(address)
    except ValueError:
        return None


def _check_health(hc: HealthCheckConfig, path: Path) -> Iterator[Problem]:
    problems = list(_check_fields(hc, CHECK_CHECKS, path))
    yield from problems
    if not problems:
        for name, message in v.health_check_problems(hc).items():
            yield Problem(path + (name,), message)


def _check_cluster(cluster: ClusterConfig, path: Path) -> Iterator[Problem]:
    problems = list(_check_fields(cluster, CLUSTER_CHECKS, path))
    yield from problems
    router = cluster.nat_router_ip if isinstance(cluster.nat_router_ip, str) else ""
    family = _family(router) if router else 4
    if family is not None and isinstance(cluster.nat_nmask, str):
        try:
            v.validate_netmask(cluster.nat_nmask, family)
        except ValueError as exc:
            yield Problem(path + ("nat_nmask",), str(exc))


def _check_virtual(vs: VirtualServerConfig, path: Path) -> Iterator[Problem]:
    problems = list(_check_fields(vs, VIRTUAL_CHECKS, path))
    family = _family(vs.address)
    if family is not None:
        for name in ("vip_nmask", "pmask"):
            try:
                v.validate_netmask(getattr(vs, name), family)
            except ValueError as exc:
                problems.append(Problem(path + (name,), str(exc)))
        if vs.sorry_server and _family(vs.sorry_server) not in (None, family):
            problems.append(Problem(path + ("sorry_server",), f"sorry server {vs.sorry_server} is not IPv{family} like the virtual server address"))
    yield from problems
    seen_paths = {problem.path for problem in problems}  # one problem per field
    for name, message in v.virtual_server_problems(vs).items():
        if path + (name,) not in seen_paths:
            yield Problem(path + (name,), message)
    if not isinstance(vs.real_servers, list):
        yield Problem(path + ("real_servers",), "must be a list")
        return
    seen: set[str] = set()
    for index, rs in enumerate(vs.real_servers):
        rs_path = path + ("real_servers", index)
        yield from _check_fields(rs, REAL_CHECKS, rs_path)
        if rs.name in seen:
            yield Problem(rs_path + ("name",), f"duplicate real server name {rs.name!r}")
        seen.add(rs.name)
        rs_family = _family(rs.address)
        if family is not None and rs_family is not None and rs_family != family:
            yield Problem(
                rs_path + ("address",),
                f"real server address {rs.address} is IPv{rs_family} but the virtual server address {vs.address} is IPv{family}",
            )
    yield from _check_health(vs.health_check, path + ("health_check",))


def config_problems(config: Config) -> list[Problem]:
    """Every problem in a configuration, each with the path of the field at fault."""
    problems = list(_check_cluster(config.cluster, ("cluster",)))
    problems += _check_fields(config.redundancy, REDUNDANCY_CHECKS, ("redundancy",))
    seen: set[str] = set()
    for index, vs in enumerate(config.virtual_servers):
        path = ("virtual_servers", index)
        problems += _check_virtual(vs, path)
        if vs.name in seen:
            problems.append(Problem(path + ("name",), f"duplicate virtual server name {vs.name!r}"))
        seen.add(vs.name)
    return problems


def validate_config(config: Config) -> Config:
    """Return the configuration unchanged, or raise ConfigError listing what is wrong."""
    problems = config_problems(config)
    if problems:
        raise ConfigError(problems)
    return config
