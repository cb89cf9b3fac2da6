"""Ready-made sets of virtual servers for common services, and how a set is applied
to the virtual servers that exist already.

Each template returns new VirtualServerConfig objects (not saved anywhere); the caller
shows them to the operator, who may edit them before they are created. Inputs are
validated here so a template never produces a configuration that would be refused later.

What a template offers is written once, in SERVICES: each service's name suffix (the
virtual server is named PREFIX-SUFFIX) and the health checks the operator may choose
for it, the first being the one the template recommends. The form, its help text and
the builders all read it.

merge() applies a template to an existing set: what is missing is added (virtual servers,
and real servers missing from a service that exists), what differs is reported, and a
service is overwritten only when the operator names it in `replace`.
"""

from __future__ import annotations

import copy
import dataclasses
import ipaddress
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from . import validate as v
from .changes import virtual_changes
from .config import (
    Config,
    HealthCheckConfig,
    RealServerConfig,
    VirtualServerConfig,
    validate_config,
)

# --- what each template offers ------------------------------------------------------

CHECK_LABELS = {
    "owa": "GET /owa over HTTPS, page contains \u201cutlook\u201d (the article's lvs_check_owa)",
    "http": "HTTP GET of the path",
    "https": "HTTPS GET of the path",
    "tcp": "TCP connect",
    "dns": "DNS query",
    "none": "none (always up)",
}


@dataclass(frozen=True)
class Service:
    suffix: str  # the virtual server is named PREFIX-SUFFIX
    checks: tuple[str, ...]  # keys of CHECK_LABELS; the first is the template's choice


SERVICES: dict[str, tuple[Service, ...]] = {
    "exchange": (
        Service("443", ("owa", "tcp", "none")),
        Service("80", ("tcp", "http", "none")),
        Service("135", ("tcp", "none")),
        Service("7575", ("tcp", "none")),
        Service("7576", ("tcp", "none")),
    ),
    "web": (Service("http", ("http", "tcp", "none")), Service("https", ("https", "tcp", "none"))),
    "dns": (Service("dns-udp", ("dns", "none")), Service("dns-tcp", ("dns", "tcp", "none"))),
}

# The names given to real servers entered as bare addresses: CAS1, CAS2...
REAL_SERVER_PREFIX = {"exchange": "CAS", "web": "web", "dns": "dns"}


def service_names(template: str, prefix: str) -> list[str]:
    """The names of the virtual servers the template makes, in its order."""
    return [f"{prefix}-{service.suffix}" for service in SERVICES[template]]


def _check(kind: str, *, http_path: str = "/", http_host: str = "", dns_name: str = ".",
           dns_type: str = "SOA") -> HealthCheckConfig:
    if kind == "owa":
        return HealthCheckConfig(check_type="https", http_method="GET", http_path="/owa", http_body="utlook",
                                 verify_tls=False, interval=30, timeout=10)
    if kind in ("http", "https"):
        return HealthCheckConfig(check_type=kind, http_path=v.validate_http_path(http_path), http_host=http_host,
                                 sni=http_host if kind == "https" else "")
    if kind == "dns":
        return HealthCheckConfig(check_type="dns", dns_name=v.validate_dns_name(dns_name),
                                 dns_type=v.validate_dns_type(dns_type), interval=5, timeout=2)
    return HealthCheckConfig(check_type=kind)


def _chosen_checks(template: str, checks: Mapping[str, str] | None, **params) -> dict[str, HealthCheckConfig]:
    """suffix -> the check chosen for that service (the template's own where none is)."""
    out = {}
    for service in SERVICES[template]:
        kind = (checks or {}).get(service.suffix) or service.checks[0]
        if kind not in service.checks:
            raise ValueError(f"the {service.suffix} service cannot be checked by {kind!r}; "
                             f"choose one of {', '.join(service.checks)}")
        out[service.suffix] = _check(kind, **params)
    return out


# --- real servers, entered once for every service --------------------------------------

_LOOKS_LIKE_ADDRESS = re.compile(r"[0-9.]+|.*:.*")


def parse_real_servers(text: str) -> list[tuple[str, str]]:
    """'CAS1 192.0.2.21, CAS2 192.0.2.22' or bare addresses (one per line, or separated
    by commas or spaces) as (name or '', address) pairs; a name goes before its address."""
    entries: list[tuple[str, str]] = []
    name = ""
    for token in (t for t in re.split(r"[\s,;]+", text or "") if t):
        if _LOOKS_LIKE_ADDRESS.fullmatch(token):
            entries.append((name, token))
            name = ""
        elif name:
            raise ValueError(f"real server {name!r} has no address (write the name, then its address)")
        else:
            name = token
    if name:
        raise ValueError(f"real server {name!r} has no address (write the name, then its address)")
    return entries


def _real_servers(prefix: str, addresses: list, vip: str) -> list[RealServerConfig]:
    if not addresses:
        raise ValueError("at least one real server address is needed")
    servers = []
    for index, entry in enumerate(addresses, start=1):
        name, address = entry if isinstance(entry, tuple) else ("", entry)
        address = v.validate_ip(address)
        v.validate_same_family(vip, address)
        servers.append(RealServerConfig(name=v.validate_name(name or f"{prefix}{index}"), address=address))
    names, addresses = set(), set()
    for rs in servers:
        if rs.name in names or rs.address in addresses:
            raise ValueError(f"real server {rs.name} ({rs.address}) is given twice")
        names.add(rs.name)
        addresses.add(rs.address)
    return servers


def _checked(servers: list[VirtualServerConfig]) -> list[VirtualServerConfig]:
    validate_config(Config(virtual_servers=servers))
    return servers


# --- the templates -----------------------------------------------------------------------

def exchange_2010_cas(
    name_prefix: str,
    vip: str,
    device: str,
    cas_addresses: list,
    vip_nmask: str = "255.255.255.255",
    checks: Mapping[str, str] | None = None,
) -> list[VirtualServerConfig]:
    """Exchange 2010 Client Access array, as in the Piranha seed article.

    Direct routing, round robin, persistence per client address: 4 hours on 443 so OWA
    sessions on private computers survive, 300 s on the RPC ports (135, the static RPC
    Client Access port 7575 and Address Book port 7576) and on 80 (the redirect to https).
    443 is checked the way the article's lvs_check_owa script did: GET /owa over https
    and look for "utlook" in the page; CAS certificates rarely match the real server
    address, so the certificate is not verified.
    """
    vip = v.validate_ip(vip)
    v.validate_device(device)
    family = v.ip_family(vip)
    vip_nmask = v.validate_netmask(vip_nmask, family)
    host_mask = "255.255.255.255" if family == 4 else "128"
    chosen = _chosen_checks("exchange", checks)
    real = _real_servers(REAL_SERVER_PREFIX["exchange"], cas_addresses, vip)

    def service(port: int, persistent: int) -> VirtualServerConfig:
        return VirtualServerConfig(
            name=v.validate_name(f"{name_prefix}-{port}"),
            address=vip,
            vip_nmask=vip_nmask,
            device=device,
            port=port,
            protocol="tcp",
            scheduler="rr",
            persistent=persistent,
            pmask=host_mask,
            forwarding="direct",
            real_servers=copy.deepcopy(real),
            health_check=chosen[str(port)],
        )

    return _checked([service(443, 14400)] + [service(port, 300) for port in (80, 135, 7575, 7576)])


def web_farm(
    name_prefix: str,
    vip: str,
    device: str,
    web_addresses: list,
    vip_nmask: str = "",
    http_path: str = "/",
    http_host: str = "",
    persistent: int = 0,
    forwarding: str = "",
    checks: Mapping[str, str] | None = None,
) -> list[VirtualServerConfig]:
    """HTTP on 80 and HTTPS on 443, each checked by a GET of http_path."""
    vip = v.validate_ip(vip)
    v.validate_device(device)
    vip_nmask = v.validate_netmask(vip_nmask, v.ip_family(vip))
    chosen = _chosen_checks("web", checks, http_path=http_path, http_host=http_host)
    real = _real_servers(REAL_SERVER_PREFIX["web"], web_addresses, vip)

    def service(port: int) -> VirtualServerConfig:
        suffix = "https" if port == 443 else "http"
        return VirtualServerConfig(
            name=v.validate_name(f"{name_prefix}-{suffix}"),
            address=vip,
            vip_nmask=vip_nmask,
            device=device,
            port=port,
            protocol="tcp",
            scheduler="wlc",
            persistent=v.validate_persistence(persistent),
            forwarding=v.validate_forwarding(forwarding),
            real_servers=copy.deepcopy(real),
            health_check=chosen[suffix],
        )

    return _checked([service(80), service(443)])


def dns_udp(
    name_prefix: str,
    vip: str,
    device: str,
    dns_addresses: list,
    vip_nmask: str = "",
    dns_name: str = ".",
    dns_type: str = "SOA",
    forwarding: str = "",
    checks: Mapping[str, str] | None = None,
) -> list[VirtualServerConfig]:
    """DNS on UDP 53 and TCP 53, both checked by a query for dns_name (the root SOA by default)."""
    vip = v.validate_ip(vip)
    v.validate_device(device)
    vip_nmask = v.validate_netmask(vip_nmask, v.ip_family(vip))
    chosen = _chosen_checks("dns", checks, dns_name=dns_name, dns_type=dns_type)
    real = _real_servers(REAL_SERVER_PREFIX["dns"], dns_addresses, vip)

    def service(protocol: str) -> VirtualServerConfig:
        return VirtualServerConfig(
            name=v.validate_name(f"{name_prefix}-dns-{protocol}"),
            address=vip,
            vip_nmask=vip_nmask,
            device=device,
            port=53,
            protocol=protocol,
            # Short UDP exchanges: round robin spreads them better than connection counts.
            scheduler="rr",
            forwarding=v.validate_forwarding(forwarding),
            real_servers=copy.deepcopy(real),
            health_check=chosen[f"dns-{protocol}"],
        )

    return _checked([service("udp"), service("tcp")])


# --- applying a template to what exists ------------------------------------------------------

@dataclass
class Merge:
    """A template applied to the existing virtual servers."""

    servers: list[VirtualServerConfig]  # every virtual server once the template is applied
    # Existing virtual servers the template would change further, with the changes in words;
    # kept as they are (plus any missing real server) unless named in `replace`.
    differing: dict[str, list[str]]
    # Template name -> the existing virtual server that already serves its endpoint.
    matched: dict[str, str]


def _key(vs: VirtualServerConfig) -> tuple:
    if vs.fwmark is not None:
        return ("fwmark", vs.fwmark)
    return (vs.protocol, ipaddress.ip_address(vs.address), vs.port)


def _rs_key(rs: RealServerConfig) -> tuple:
    return (ipaddress.ip_address(rs.address), rs.port)


def _with_missing_real_servers(existing: VirtualServerConfig, wanted: VirtualServerConfig) -> VirtualServerConfig:
    """`existing` plus the template's real servers whose address and port it lacks; a
    name that is taken gets a number (CAS2-2)."""
    kept = copy.deepcopy(existing)
    held = {_rs_key(rs) for rs in kept.real_servers}
    names = {rs.name for rs in kept.real_servers}
    for rs in wanted.real_servers:
        if _rs_key(rs) in held:
            continue
        name, n = rs.name, 2
        while name in names:
            name, n = f"{rs.name}-{n}", n + 1
        kept.real_servers.append(dataclasses.replace(rs, name=name))
        names.add(name)
    return kept


def merge(current: list[VirtualServerConfig], template: list[VirtualServerConfig],
          replace: Collection[str] = ()) -> Merge:
    """Apply `template` to `current`. A template service matches the existing virtual
    server on its endpoint (protocol, VIP, port), else the one of its name; a match keeps
    its name and its directors. Replaced, it becomes the template's service; otherwise it
    only gains the real servers it lacks, and what else differs is reported."""
    result = {vs.name: copy.deepcopy(vs) for vs in current}
    by_key = {_key(vs): vs for vs in current}
    by_name = {vs.name: vs for vs in current}
    differing: dict[str, list[str]] = {}
    matched: dict[str, str] = {}
    taken: set[str] = set()
    for item in template:
        existing = by_key.get(_key(item)) or by_name.get(item.name)
        if existing is None or existing.name in taken:
            result[item.name] = copy.deepcopy(item)
            continue
        taken.add(existing.name)
        matched[item.name] = existing.name
        wanted = dataclasses.replace(copy.deepcopy(item), name=existing.name, directors=list(existing.directors))
        if existing.name in replace:
            result[existing.name] = wanted
            continue
        kept = _with_missing_real_servers(existing, wanted)
        result[existing.name] = kept
        details = virtual_changes(kept, wanted)
        if details:
            differing[existing.name] = details
    return Merge(sorted(result.values(), key=lambda vs: vs.name), differing, matched)
