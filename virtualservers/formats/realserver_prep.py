"""What to run on a real server so it answers for a VIP: per forwarding method and platform,
the exact commands, and how to make them survive a reboot.

Direct routing and tunnelling deliver packets still addressed to the VIP, so each real
server holds the VIP on a device that never answers ARP for it (only the director, through
keepalived, may); NAT rewrites the destination and needs only the director as gateway.

Pure: no Django. Every address is parsed before it is written, so a value can only ever be
an address (the page autoescapes on top).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .choices import NETWORK_CHOICES

DIRECT, TUNNEL, NAT = "direct", "tunnel", "nat"
SYSCTL_FILE = "/etc/sysctl.d/90-lbadmin-realserver.conf"
NETWORKD_FILE = "/etc/systemd/network/50-lbadmin-vip.network"

# Why each setting, said once and shown beside the commands.
ARP_WHY = ("arp_ignore=1: answer ARP only for addresses on the interface the request came in on, so the VIP "
           "on lo is never announced; arp_announce=2: never use the VIP as the source of this host's own ARP "
           "requests. The kernel uses the higher of 'all' and the interface's value, so 'all' is the one that "
           "counts; 'default' covers interfaces created later. Set these before the VIP is raised, or the real "
           "server may answer ARP for it in between and steal the traffic from the director.")
RP_FILTER_WHY = ("rp_filter drops a packet whose source would not be routed back out of the interface it came "
                 "in on. With the VIP on lo, requests arrive on the LAN interface and replies leave by it, so "
                 "strict mode (1) usually passes; with several interfaces or policy routing it drops clients "
                 "silently. Loose mode (2) only asks that the source be routable at all. The kernel uses the "
                 "higher of 'all' and the interface, so set both on the interface that receives the VIP traffic.")
TUNNEL_RP_WHY = ("Packets for the VIP come out of tunl0 but the route back to the client leaves by the LAN "
                 "interface, so reverse-path filtering must be off on tunl0 (0) and at most loose (2) on 'all' "
                 "(the kernel uses the higher of the two).")
IPV6_ND_WHY = ("IPv6 has no ARP: Linux answers neighbour solicitations only for addresses on the interface that "
               "received them, so the VIP on lo as /128 is never advertised and needs no sysctl.")


@dataclass(frozen=True)
class Section:
    """One block of the page: a title, why, and the commands to copy (one string)."""
    title: str
    why: str
    commands: str
    file: str = ""  # where the commands go when they are a file's content


@dataclass(frozen=True)
class Prep:
    method: str  # direct, tunnel or nat
    vip: str
    family: int
    sections: tuple[Section, ...]

    @property
    def label(self) -> str:
        return dict(NETWORK_CHOICES)[self.method]


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(value.strip())


def _lines(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def _arp_sysctls() -> list[str]:
    return [f"net.ipv4.conf.{dev}.{key} = {value}" for dev in ("all", "default", "lo")
            for key, value in (("arp_ignore", 1), ("arp_announce", 2))]


def _direct(vip, family: int) -> tuple[Section, ...]:
    host = f"{vip}/{32 if family == 4 else 128}"
    if family == 6:
        linux_now = _lines(f"ip -6 addr add {host} dev lo")
        sysctl = ()
    else:
        settings = _arp_sysctls() + ["net.ipv4.conf.all.rp_filter = 2", "net.ipv4.conf.default.rp_filter = 2"]
        sysctl = (
            Section("Linux: kernel settings, kept across reboots", ARP_WHY + " " + RP_FILTER_WHY,
                    _lines("# Replace eth0 below with the interface that receives the VIP traffic.", *settings,
                           "net.ipv4.conf.eth0.rp_filter = 2"), file=SYSCTL_FILE),
            Section("Linux: load them now", "Reads every file under /etc/sysctl.d, the one above included.",
                    _lines("sysctl --system")),
        )
        linux_now = _lines(f"ip addr add {host} dev lo")
    return (
        *sysctl,
        Section("Linux: raise the VIP on lo now", IPV6_ND_WHY if family == 6 else
                "A host route (/32) on lo: the real server accepts packets for the VIP without routing the "
                "VIP's subnet to lo.", linux_now),
        Section("Debian and Ubuntu: keep the VIP on lo with systemd-networkd",
                "networkd only touches the links a .network file matches; Ubuntu (netplan) runs it already, on "
                "Debian enable it with `systemctl enable --now systemd-networkd`. The loopback addresses are "
                "listed so networkd keeps them.",
                _lines("[Match]", "Name=lo", "", "[Network]", "Address=127.0.0.1/8", "Address=::1/128",
                       f"Address={host}"), file=NETWORKD_FILE),
        Section("RHEL, Rocky and Alma 9: keep the VIP with NetworkManager",
                "NetworkManager does not manage lo on these releases; a dummy interface behaves like lo here (it "
                "never answers ARP on the LAN with the settings above).",
                _lines("nmcli connection add type dummy ifname lbvip0 con-name lbadmin-vip "
                       + (f"ipv4.method manual ipv4.addresses {host} ipv6.method disabled" if family == 4 else
                          f"ipv6.method manual ipv6.addresses {host} ipv4.method disabled"),
                       "nmcli connection up lbadmin-vip")),
        _windows(vip, family),
    )


def _windows(vip, family: int) -> Section:
    ip = "ipv4" if family == 4 else "ipv6"
    address = (f'netsh interface ipv4 set address name="loopback" static {vip} 255.255.255.255' if family == 4 else
               f'netsh interface ipv6 add address "loopback" {vip}/128')
    return Section(
        "Windows Server: Microsoft Loopback Adapter (as in the Exchange 2010 CAS article)",
        "Install the Microsoft Loopback Adapter (Device Manager, Add legacy hardware, Network adapters, "
        "Microsoft, Loopback Adapter; 'KM-TEST Loopback Adapter' on 2012 and later). Rename it 'loopback' and "
        "the LAN adapter 'net' (the netsh names must match). Unbind everything from the loopback adapter except "
        f"IP{'v4' if family == 4 else 'v6'}, give it the VIP with no default gateway, set its metric to 254 "
        "(no automatic metric) so it does not answer ARP, and do not register it in DNS. Weak host receive and "
        "send let Windows accept packets for the VIP on 'net' and answer from it. netsh settings persist.",
        _lines(address,
               f'netsh interface {ip} set interface "loopback" metric=254',
               f'netsh interface {ip} set dnsservers name="loopback" source=static address=none register=none',
               f'netsh interface {ip} set interface "net" weakhostreceive=enabled',
               f'netsh interface {ip} set interface "loopback" weakhostreceive=enabled',
               f'netsh interface {ip} set interface "loopback" weakhostsend=enabled'))


def _tunnel(vip, family: int) -> tuple[Section, ...]:
    if family == 6:
        module, device, host = "ip6_tunnel", "ip6tnl0", f"{vip}/128"
        sysctl = ()
        now = _lines(f"modprobe {module}", f"ip link set {device} up", f"ip -6 addr add {host} dev {device}")
    else:
        module, device, host = "ipip", "tunl0", f"{vip}/32"
        settings = _arp_sysctls() + ["net.ipv4.conf.all.rp_filter = 2", "net.ipv4.conf.tunl0.rp_filter = 0"]
        sysctl = (Section("Linux: kernel settings, kept across reboots", TUNNEL_RP_WHY + " " + ARP_WHY,
                          _lines(*settings), file=SYSCTL_FILE),)
        now = _lines(f"modprobe {module}", "sysctl --system", f"ip link set {device} up",
                     f"ip addr add {host} dev {device}")
    return (
        Section("Linux: load the tunnel module at boot",
                f"The director wraps each packet in {'IPv6-in-IPv6' if family == 6 else 'IP-in-IP'}; the "
                f"{module} module unwraps it on {device}.",
                _lines(module), file=f"/etc/modules-load.d/lbadmin-{module}.conf"),
        *sysctl,
        Section(f"Linux: raise the VIP on {device} now", "The settings file must be in place first.", now),
        Section(f"Debian and Ubuntu: keep the VIP on {device} with systemd-networkd",
                "networkd only touches the links a .network file matches; on Debian enable it with "
                "`systemctl enable --now systemd-networkd`.",
                _lines("[Match]", f"Name={device}", "", "[Network]", f"Address={host}"), file=NETWORKD_FILE),
        Section(f"RHEL, Rocky and Alma 9: keep the VIP on {device} with a systemd unit",
                f"NetworkManager does not manage the {device} fallback device; a oneshot unit raises the VIP "
                "at boot. Enable it with `systemctl enable lbadmin-vip`.",
                _lines("[Unit]", "Description=lbadmin VIP on the tunnel device", "After=network-online.target",
                       "Wants=network-online.target", "", "[Service]", "Type=oneshot", "RemainAfterExit=yes",
                       f"ExecStart=/sbin/modprobe {module}", f"ExecStart=/sbin/ip link set {device} up",
                       f"ExecStart=/sbin/ip addr replace {host} dev {device}", "", "[Install]",
                       "WantedBy=multi-user.target"), file="/etc/systemd/system/lbadmin-vip.service"),
        Section("Windows", "Windows does not unwrap IP-in-IP: use direct routing or NAT for Windows real servers.",
                ""),
    )


def _nat(vip, family: int, nat_router: str) -> tuple[Section, ...]:
    if not nat_router:
        return (Section("Set the NAT router address first",
                        "In NAT the real servers' default gateway is the director's NAT router address (GLOBAL "
                        "SETTINGS, NAT router IP), which keepalived moves with the VIPs. It is not set yet.", ""),)
    router = _address(nat_router)
    ip = "ip" if router.version == 4 else "ip -6"
    return (
        Section("All platforms: the director is the default gateway",
                f"The director rewrites the destination from the VIP {vip} to the real server, so replies must "
                f"go back through it to be rewritten again: the real server's default gateway is the NAT router "
                f"address {router}, which the active director holds. No VIP and no ARP setting on the real "
                "server.", ""),
        Section("Linux: now", "", _lines(f"{ip} route replace default via {router}")),
        Section("Debian and Ubuntu: systemd-networkd",
                "In the .network file of the interface facing the director ([Network] section).",
                _lines(f"Gateway={router}")),
        Section("RHEL, Rocky and Alma 9: NetworkManager",
                "Replace <connection> with the connection of the interface facing the director.",
                _lines(f"nmcli connection modify <connection> ipv{router.version}.gateway {router}",
                       "nmcli connection up <connection>")),
        Section("Windows Server", "Persistent route; or set the adapter's default gateway to the same address.",
                _lines(f"route -p add 0.0.0.0 mask 0.0.0.0 {router}" if router.version == 4 else
                       f'netsh interface ipv6 add route ::/0 "net" {router}')),
    )


def prepare(vip: str, method: str, nat_router: str = "") -> Prep:
    """The sections for one VIP and forwarding method. Raises ValueError for anything that
    is not an address or a known method."""
    address = _address(vip)
    family = address.version
    if method == DIRECT:
        sections = _direct(address, family)
    elif method == TUNNEL:
        sections = _tunnel(address, family)
    elif method == NAT:
        sections = _nat(address, family, nat_router)
    else:
        raise ValueError(f"unknown forwarding method {method!r}")
    return Prep(method, str(address), family, sections)
