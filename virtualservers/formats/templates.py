"""Ready-made sets of virtual servers for common services.

Each template returns new VirtualServerConfig objects (not saved anywhere); the caller
shows them to the operator, who may edit them before they are created. Inputs are
validated here so a template never produces a configuration that would be refused later.
"""

from __future__ import annotations

from . import validate as v
from .config import (
    Config,
    HealthCheckConfig,
    RealServerConfig,
    VirtualServerConfig,
    validate_config,
)


def _real_servers(prefix: str, addresses: list[str], vip: str) -> list[RealServerConfig]:
    if not addresses:
        raise ValueError("at least one real server address is needed")
    servers = []
    for index, address in enumerate(addresses, start=1):
        address = v.validate_ip(address)
        v.validate_same_family(vip, address)
        servers.append(RealServerConfig(name=f"{prefix}{index}", address=address))
    return servers


def _checked(servers: list[VirtualServerConfig]) -> list[VirtualServerConfig]:
    validate_config(Config(virtual_servers=servers))
    return servers


def exchange_2010_cas(
    name_prefix: str,
    vip: str,
    device: str,
    cas_addresses: list[str],
    vip_nmask: str = "255.255.255.255",
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

    def service(port: int, persistent: int, check: HealthCheckConfig) -> VirtualServerConfig:
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
            real_servers=_real_servers("CAS", cas_addresses, vip),
            health_check=check,
        )

    owa = HealthCheckConfig(
        check_type="https",
        http_method="GET",
        http_path="/owa",
        http_body="utlook",
        verify_tls=False,
        interval=30,
        timeout=10,
    )
    servers = [service(443, 14400, owa)]
    servers += [service(port, 300, HealthCheckConfig(check_type="tcp")) for port in (80, 135, 7575, 7576)]
    return _checked(servers)


def web_farm(
    name_prefix: str,
    vip: str,
    device: str,
    web_addresses: list[str],
    vip_nmask: str = "",
    http_path: str = "/",
    http_host: str = "",
    persistent: int = 0,
    forwarding: str = "",
) -> list[VirtualServerConfig]:
    """HTTP on 80 and HTTPS on 443, each checked by a GET of http_path."""
    vip = v.validate_ip(vip)
    v.validate_device(device)
    vip_nmask = v.validate_netmask(vip_nmask, v.ip_family(vip))

    def service(port: int, check_type: str) -> VirtualServerConfig:
        return VirtualServerConfig(
            name=v.validate_name(f"{name_prefix}-{'https' if port == 443 else 'http'}"),
            address=vip,
            vip_nmask=vip_nmask,
            device=device,
            port=port,
            protocol="tcp",
            scheduler="wlc",
            persistent=v.validate_persistence(persistent),
            forwarding=v.validate_forwarding(forwarding),
            real_servers=_real_servers("web", web_addresses, vip),
            health_check=HealthCheckConfig(
                check_type=check_type,
                http_path=v.validate_http_path(http_path),
                http_host=http_host,
                sni=http_host if check_type == "https" else "",
            ),
        )

    return _checked([service(80, "http"), service(443, "https")])


def dns_udp(
    name_prefix: str,
    vip: str,
    device: str,
    dns_addresses: list[str],
    vip_nmask: str = "",
    dns_name: str = ".",
    dns_type: str = "SOA",
    forwarding: str = "",
) -> list[VirtualServerConfig]:
    """DNS on UDP 53 and TCP 53, both checked by a query for dns_name (the root SOA by default)."""
    vip = v.validate_ip(vip)
    v.validate_device(device)
    vip_nmask = v.validate_netmask(vip_nmask, v.ip_family(vip))

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
            real_servers=_real_servers("dns", dns_addresses, vip),
            health_check=HealthCheckConfig(
                check_type="dns",
                dns_name=v.validate_dns_name(dns_name),
                dns_type=v.validate_dns_type(dns_type),
                interval=5,
                timeout=2,
            ),
        )

    return _checked([service("udp"), service("tcp")])
